//! Requests and limits from a usage history: the method of krr and the VPA recommender, CPU at a
//! high percentile of its rate and memory at its peak plus headroom, with a confidence that says
//! how much of the window the data covers. Pure arithmetic: [`crate::prometheus`] fetches.

use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::prometheus::history::{History, THROTTLED, Usage};

const MI: u64 = 1024 * 1024;

/// How `recommend` sizes containers from history.
#[derive(Debug, Clone, Args)]
pub struct SizingArgs {
    /// Print requests and limits per container, from the Prometheus history (or one
    /// metrics.k8s.io sample without it), with savings, risks and confidence; --fix applies them
    #[arg(long)]
    pub resources: bool,

    /// How much history to read from Prometheus (e.g. 7d, 36h)
    #[arg(long = "history", value_name = "DURATION", env = "KUBECTL_AI_HISTORY", default_value = "7d", value_parser = parse_window)]
    pub window: Duration,

    /// Sizing preset: balanced (CPU p95, memory peak + 15%), conservative (p99, +30%), or
    /// saving (p90, +10%)
    #[arg(long, value_enum, value_name = "NAME", default_value_t = StrategyName::Balanced)]
    pub strategy: StrategyName,

    /// CPU percentile the request is set at, overriding the strategy's (1-100)
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u8).range(1..=100))]
    pub cpu_percentile: Option<u8>,

    /// Headroom over the memory peak in percent, overriding the strategy's
    #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(u16).range(0..=400))]
    pub memory_headroom: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyName {
    Balanced,
    Conservative,
    Saving,
}

/// The numbers a strategy stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Strategy {
    /// 0.95 for p95.
    pub(crate) cpu_quantile: f64,
    /// 0.15 for +15%.
    pub(crate) memory_headroom: f64,
}

impl SizingArgs {
    pub(crate) fn strategy(&self) -> Strategy {
        let (p, h) = match self.strategy {
            StrategyName::Balanced => (95, 15),
            StrategyName::Conservative => (99, 30),
            StrategyName::Saving => (90, 10),
        };
        Strategy {
            cpu_quantile: f64::from(self.cpu_percentile.unwrap_or(p)) / 100.0,
            memory_headroom: f64::from(self.memory_headroom.unwrap_or(h)) / 100.0,
        }
    }
}

/// `7d`, `36h`, `90m`: the durations kubectl takes, and days.
fn parse_window(s: &str) -> Result<Duration, String> {
    let d = match s.trim().strip_suffix('d') {
        Some(days) => days
            .parse::<u64>()
            .map(|n| Duration::from_secs(n * 86400))
            .map_err(|_| format!("{s:?} is not a duration (try 7d, 36h)"))?,
        None => crate::quantity::parse_duration(s)?,
    };
    if d < Duration::from_secs(600) {
        return Err(format!("{s:?} is too short for a history (at least 10m)"));
    }
    Ok(d)
}

/// A history, and the strategy that reads it.
#[derive(Debug, Clone)]
pub(crate) struct Sizing {
    pub(crate) history: History,
    pub(crate) strategy: Strategy,
}

/// How far the numbers can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Confidence {
    /// Under half the window, or under an hour: nothing is proposed.
    Low,
    Medium,
    High,
}

impl Confidence {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// Current and proposed values of one container, in millicores and bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Values {
    pub(crate) cpu_request: Option<u64>,
    pub(crate) cpu_limit: Option<u64>,
    pub(crate) memory_request: Option<u64>,
    pub(crate) memory_limit: Option<u64>,
}

/// What the history says about one container.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Proposal {
    pub(crate) current: Values,
    /// Equal to `current` where nothing should change (and everywhere at low confidence).
    pub(crate) proposed: Values,
    pub(crate) confidence: Confidence,
    /// Hours of data in the window.
    pub(crate) hours: f64,
    pub(crate) oom_kills: u64,
    /// Share of CFS periods throttled.
    pub(crate) throttled: Option<f64>,
    /// CPU at the percentile and memory peak, as observed.
    pub(crate) cpu_observed: Option<u64>,
    pub(crate) memory_peak: Option<u64>,
}

impl Sizing {
    pub(crate) fn propose(&self, u: &Usage, current: Values) -> Proposal {
        let coverage = self.history.coverage(u);
        let hours = coverage * self.history.window.as_secs_f64() / 3600.0;
        let confidence = if hours < 1.0 || coverage < 0.5 {
            Confidence::Low
        } else if coverage < 0.9 {
            Confidence::Medium
        } else {
            Confidence::High
        };
        // Rates carry float noise (0.1 cores is 100.00000000000001m): round it off first.
        let cpu_observed = u.cpu_quantile.map(|c| (c * 1000.0 - 1e-6).ceil() as u64);
        let memory_peak = u.memory_peak.map(|m| m.ceil() as u64);
        let mut proposal = Proposal {
            proposed: current.clone(),
            current,
            confidence,
            hours,
            oom_kills: u.oom_kills,
            throttled: u.throttled,
            cpu_observed,
            memory_peak,
        };
        if confidence > Confidence::Low {
            proposal.proposed = self.values(u, &proposal.current, cpu_observed, memory_peak);
        }
        proposal
    }

    fn values(&self, u: &Usage, cur: &Values, cpu: Option<u64>, peak: Option<u64>) -> Values {
        let mut v = cur.clone();
        if let Some(cpu) = cpu {
            v.cpu_request = Some(changed(cur.cpu_request, round_cpu(cpu), 25));
        }
        if let Some(peak) = peak {
            let mut want = round_mem((peak as f64 * (1.0 + self.strategy.memory_headroom)) as u64);
            // Killed at the limit, the peak is the limit: the need is unknown but higher.
            if u.oom_kills > 0 {
                let limit = cur.memory_limit.unwrap_or(0).max(peak);
                want = want.max(crate::sizing::memory_limit_after_oom(limit, Some(peak)));
            }
            v.memory_request = Some(changed(cur.memory_request, want, 32 * MI));
            if cur.memory_limit.is_some() || u.oom_kills > 0 {
                v.memory_limit = Some(changed(cur.memory_limit, want, 32 * MI));
            }
        }
        if let (Some(limit), Some(t)) = (cur.cpu_limit, u.throttled)
            && t >= THROTTLED
        {
            let max = u.cpu_max.map_or(0, |c| (c * 1200.0).ceil() as u64);
            v.cpu_limit = Some(round_cpu((limit * 2).max(max)));
        }
        if let (Some(l), Some(r)) = (v.cpu_limit, v.cpu_request)
            && l < r
        {
            v.cpu_limit = Some(r);
        }
        v
    }
}

/// Reads one of the four fields.
type Getter = fn(&Values) -> Option<u64>;

/// The four fields: (list, resource, how to read it).
const FIELDS: [(&str, &str, Getter); 4] = [
    ("requests", "cpu", |v| v.cpu_request),
    ("limits", "cpu", |v| v.cpu_limit),
    ("requests", "memory", |v| v.memory_request),
    ("limits", "memory", |v| v.memory_limit),
];

impl Proposal {
    pub(crate) fn changes_anything(&self) -> bool {
        self.proposed != self.current
    }

    /// "cpu request 500m -> 100m", one per field that changes.
    pub(crate) fn changes(&self) -> Vec<String> {
        FIELDS
            .iter()
            .filter(|(_, _, get)| get(&self.proposed) != get(&self.current))
            .map(|(list, res, get)| {
                let show = |v: Option<u64>| v.map_or("none".into(), |v| quantity_text(res, v));
                format!(
                    "{res} {} {} -> {}",
                    list.trim_end_matches('s'),
                    show(get(&self.current)),
                    show(get(&self.proposed))
                )
            })
            .collect()
    }

    /// The container's `resources` as a server-side apply intent: only the fields that change.
    pub(crate) fn patch(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        for (list, res, get) in FIELDS {
            if let Some(v) =
                get(&self.proposed).filter(|_| get(&self.proposed) != get(&self.current))
            {
                let entry = out
                    .entry(list)
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                entry[res] = serde_json::Value::String(quantity_text(res, v));
            }
        }
        serde_json::Value::Object(out)
    }

    /// Requests freed per replica (negative: added), in millicores and bytes.
    pub(crate) fn freed(&self) -> (i64, i64) {
        let d = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => a as i64 - b as i64,
            _ => 0,
        };
        (
            d(self.current.cpu_request, self.proposed.cpu_request),
            d(self.current.memory_request, self.proposed.memory_request),
        )
    }

    /// "saves 400m CPU and 282Mi memory requested over 2 replicas" (or "adds").
    pub(crate) fn effect(&self, replicas: i32) -> Option<String> {
        let r = i64::from(replicas.max(1));
        let (cpu, mem) = self.freed();
        let text = effect_text(cpu * r, mem * r)?;
        Some(format!(
            "{text} requested over {r} replica{}",
            if r == 1 { "" } else { "s" }
        ))
    }

    /// "confidence high (168h of data)".
    pub(crate) fn confidence_text(&self) -> String {
        format!(
            "confidence {} ({} of data)",
            self.confidence.name(),
            crate::prometheus::history::span(self.hours * 3600.0)
        )
    }

    /// "3 OOM kills, throttled in 62% of CPU periods", or nothing.
    pub(crate) fn risks(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.oom_kills > 0 {
            out.push(format!(
                "{} OOM kill{}",
                self.oom_kills,
                if self.oom_kills == 1 { "" } else { "s" }
            ));
        }
        if let Some(t) = self.throttled.filter(|t| *t >= THROTTLED) {
            out.push(format!("throttled in {:.0}% of CPU periods", t * 100.0));
        }
        out
    }
}

/// "saves 400m CPU and 282Mi memory", "adds 600m CPU and saves 166Mi memory": millicores and
/// bytes freed (negative: added); `None` when nothing changes.
pub(crate) fn effect_text(cpu: i64, memory: i64) -> Option<String> {
    let verb = |v: i64| if v > 0 { "saves" } else { "adds" };
    let cpu_text = |v: i64| format!("{} CPU", quantity_text("cpu", v.unsigned_abs()));
    let mem_text = |v: i64| format!("{} memory", quantity_text("memory", v.unsigned_abs()));
    match (cpu, memory) {
        (0, 0) => None,
        (c, 0) => Some(format!("{} {}", verb(c), cpu_text(c))),
        (0, m) => Some(format!("{} {}", verb(m), mem_text(m))),
        (c, m) if (c > 0) == (m > 0) => {
            Some(format!("{} {} and {}", verb(c), cpu_text(c), mem_text(m)))
        }
        (c, m) => Some(format!(
            "{} {} and {} {}",
            verb(c),
            cpu_text(c),
            verb(m),
            mem_text(m)
        )),
    }
}

/// A quantity as a manifest writes it: "250m", "2" for CPU; "230Mi", "1Gi" for memory.
pub(crate) fn quantity_text(resource: &str, v: u64) -> String {
    if resource == "cpu" {
        if v.is_multiple_of(1000) {
            (v / 1000).to_string()
        } else {
            format!("{v}m")
        }
    } else {
        crate::quantity::human_bytes(v)
    }
}

/// The proposal unless it is within `min_delta` or 20% of the current value: history moves a
/// little every day, and a request that churns on every run is noise.
fn changed(current: Option<u64>, want: u64, min_delta: u64) -> u64 {
    match current {
        Some(c) if c.abs_diff(want) < min_delta.max(c / 5) => c,
        _ => want,
    }
}

/// Up to a multiple of 5m, at least 10m.
fn round_cpu(m: u64) -> u64 {
    (m.div_ceil(5) * 5).max(10)
}

/// Up to a whole Mi, at least 32Mi.
fn round_mem(b: u64) -> u64 {
    (b.div_ceil(MI) * MI).max(32 * MI)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizing(window_h: u64) -> Sizing {
        Sizing {
            history: History {
                window: Duration::from_secs(window_h * 3600),
                end: 100_000.0,
                ..Default::default()
            },
            strategy: Strategy {
                cpu_quantile: 0.95,
                memory_headroom: 0.15,
            },
        }
    }

    fn usage(cpu: f64, mem_mi: f64, hours: f64) -> Usage {
        Usage {
            cpu_quantile: Some(cpu),
            cpu_max: Some(cpu),
            memory_peak: Some(mem_mi * MI as f64),
            first_seen: Some(100_000.0 - hours * 3600.0),
            ..Default::default()
        }
    }

    fn current(cpu: u64, mem_mi: u64) -> Values {
        Values {
            cpu_request: Some(cpu),
            memory_request: Some(mem_mi * MI),
            memory_limit: Some(mem_mi * MI),
            ..Default::default()
        }
    }

    #[test]
    fn cpu_from_the_percentile_and_memory_from_the_peak() {
        let p = sizing(24).propose(&usage(0.1, 200.0, 24.0), current(500, 512));
        assert_eq!(p.confidence, Confidence::High);
        assert_eq!(p.proposed.cpu_request, Some(100));
        assert_eq!(p.proposed.memory_request, Some(230 * MI));
        assert_eq!(p.proposed.memory_limit, Some(230 * MI));
    }

    #[test]
    fn little_data_proposes_nothing_and_small_drifts_are_kept() {
        let p = sizing(24).propose(&usage(0.1, 200.0, 2.0), current(500, 512));
        assert_eq!(p.confidence, Confidence::Low);
        assert_eq!(p.proposed, p.current);
        let p = sizing(24).propose(&usage(0.11, 440.0, 20.0), current(120, 512));
        assert_eq!(p.confidence, Confidence::Medium);
        assert_eq!(p.proposed, p.current);
    }

    #[test]
    fn oom_kills_raise_memory_and_throttling_raises_the_cpu_limit() {
        let mut u = usage(0.5, 256.0, 24.0);
        u.oom_kills = 3;
        u.throttled = Some(0.6);
        u.cpu_max = Some(0.5);
        let mut cur = current(200, 256);
        cur.cpu_limit = Some(500);
        let p = sizing(24).propose(&u, cur);
        assert_eq!(p.proposed.memory_limit, Some(384 * MI));
        assert_eq!(p.proposed.cpu_limit, Some(1000));
        assert_eq!(p.proposed.cpu_request, Some(500));
    }

    #[test]
    fn windows_read_days() {
        assert_eq!(parse_window("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_window("36h"), Ok(Duration::from_secs(36 * 3600)));
        assert!(parse_window("1m").is_err());
    }
}
