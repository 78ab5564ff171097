//! History as evidence for `diagnose` and `ask`: restarts, OOM kills and throttling over the last
//! hours for the containers in scope, and how memory grew before an OOM kill. Each becomes an
//! evidence line of the finding about that pod, or a prompt item of its own.

use std::time::Duration;

use super::client::Series;
use super::history::{History, Key, span};
use super::{Connection, queries};
use crate::analyze::Finding;
use crate::context::{Context, Scope};
use crate::session::Session;

/// How far back the evidence looks.
pub(crate) const WINDOW: Duration = Duration::from_secs(6 * 3600);

/// What Prometheus remembers about one container.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Note {
    pub(crate) namespace: String,
    pub(crate) pod: String,
    pub(crate) container: String,
    /// "history (Prometheus, last 6h): 4 restarts, 2 OOM kills; memory grew ..."
    pub(crate) text: String,
}

/// The notes for a live context; nothing (silently) without Prometheus, one stderr note when the
/// Prometheus found or given does not answer. Only a wrong setting (a bad URL, an unreadable
/// token file) is an error.
pub(crate) async fn recent(
    session: &Session,
    ctx: &Context,
) -> Result<Vec<Note>, crate::error::Error> {
    let prom = match super::connect_for(session, Some(ctx)).await? {
        Connection::Ready(p) => p,
        Connection::Failed(why) if session.prometheus.prometheus.is_some() => {
            eprintln!("note: {why}; the evidence has no history");
            return Ok(Vec::new());
        }
        _ => return Ok(Vec::new()),
    };
    let namespace = match &ctx.scope {
        Scope::Namespace(ns) => Some(ns.clone()),
        Scope::AllNamespaces => None,
    };
    let ask = queries::Ask {
        namespace,
        window: WINDOW,
        end: super::now(),
        cpu_quantile: 0.95,
        hpas: false,
        incidents_only: true,
    };
    let history = match queries::fetch(&prom, &ask).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("note: {e}; the evidence has no history");
            return Ok(Vec::new());
        }
    };
    let growth = growth(&prom, &history).await;
    Ok(notes(&history, &growth))
}

/// Memory of every OOM-killed container, one range query per namespace.
async fn growth(prom: &super::client::Prometheus, h: &History) -> Vec<Series> {
    let mut by_ns: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (k, _) in h.containers.iter().filter(|(_, u)| u.oom_kills > 0) {
        by_ns.entry(&k.namespace).or_default().push(k.pod.clone());
    }
    let mut out = Vec::new();
    for (ns, pods) in by_ns {
        match queries::memory_range(prom, ns, &pods, h.window, h.end, 600).await {
            Ok(series) => out.extend(series),
            Err(e) => tracing::info!(error = %e, "no memory history"),
        }
    }
    out
}

fn notes(h: &History, growth: &[Series]) -> Vec<Note> {
    let mut out = Vec::new();
    for (k, u) in &h.containers {
        let mut parts = Vec::new();
        if u.restarts > 0 {
            parts.push(plural(u.restarts, "restart"));
        }
        if u.oom_kills > 0 {
            parts.push(plural(u.oom_kills, "OOM kill"));
        }
        if let Some(t) = u.throttled.filter(|t| *t >= super::history::THROTTLED) {
            parts.push(format!("throttled in {:.0}% of CPU periods", t * 100.0));
        }
        if parts.is_empty() {
            continue;
        }
        let mut text = format!(
            "history (Prometheus, last {}): container {}: {}",
            h.window_text(),
            k.container,
            parts.join(", ")
        );
        if let Some(g) = growth.iter().find(|s| same(s, k)).and_then(rise) {
            text.push_str(&format!("; {g}"));
        }
        out.push(Note {
            namespace: k.namespace.clone(),
            pod: k.pod.clone(),
            container: k.container.clone(),
            text,
        });
    }
    out
}

fn same(s: &Series, k: &Key) -> bool {
    let l = |n: &str| s.labels.get(n).map(String::as_str);
    l("namespace") == Some(&k.namespace)
        && l("pod") == Some(&k.pod)
        && l("container") == Some(&k.container)
}

/// "memory grew from 96Mi to 250Mi in the 2h before its peak at 14:20 UTC".
fn rise(s: &Series) -> Option<String> {
    let (peak_at, peak) = s
        .points
        .iter()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    // The climb that ends at the peak: back from it for as long as memory was rising (the drop
    // before it is the previous restart).
    let at = s.points.iter().position(|p| p.0 == peak_at)?;
    let start = (0..at)
        .rev()
        .take_while(|i| s.points[*i].1 <= s.points[*i + 1].1)
        .last()
        .unwrap_or(at);
    let (low_at, low) = s.points[start];
    // Growth worth naming: a quarter more, over at least two steps.
    if peak < low * 1.25 || peak_at - low_at < 1200.0 {
        return None;
    }
    let b = |v: f64| crate::quantity::human_bytes(v as u64);
    let clock = {
        let secs = peak_at as i64 % 86400;
        format!("{:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
    };
    Some(format!(
        "memory grew from {} to {} in the {} before its peak at {clock}",
        b(low),
        b(peak),
        span(peak_at - low_at)
    ))
}

fn plural(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Adds each note to the findings about its pod; returns the notes no finding took.
pub(crate) fn attach(findings: &mut [Finding], notes: Vec<Note>) -> Vec<Note> {
    let mut rest = Vec::new();
    for n in notes {
        let mut taken = false;
        for f in findings.iter_mut().filter(|f| {
            f.object.namespace.as_deref() == Some(n.namespace.as_str()) && f.pods.contains(&n.pod)
        }) {
            f.evidence.push(format!("{} (pod {})", n.text, n.pod));
            taken = true;
        }
        if !taken {
            rest.push(n);
        }
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_before_the_peak_is_described() {
        let mi = 1024.0 * 1024.0;
        let s = Series {
            labels: Default::default(),
            points: vec![
                (36_000.0, 100.0 * mi),
                (37_800.0, 96.0 * mi),
                (41_400.0, 180.0 * mi),
                (45_000.0, 250.0 * mi),
                (45_600.0, 90.0 * mi),
            ],
        };
        assert_eq!(
            rise(&s).as_deref(),
            Some("memory grew from 96Mi to 250Mi in the 2h before its peak at 12:30 UTC")
        );
        let flat = Series {
            labels: Default::default(),
            points: vec![(0.0, 100.0 * mi), (3600.0, 110.0 * mi)],
        };
        assert_eq!(rise(&flat), None);
    }
}
