//! The PromQL asked, and how answers become a [`History`]. Every question covers the whole scope
//! at once (one namespace, or every namespace with -A) and comes back per (namespace, pod,
//! container): the number of requests does not grow with the number of pods.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};

use super::client::{PromError, Prometheus, Sample};
use super::history::{History, HpaHistory, Key, Usage};

/// What to ask about.
#[derive(Debug, Clone)]
pub(crate) struct Ask {
    /// `Some(ns)` for one namespace, `None` for all.
    pub(crate) namespace: Option<String>,
    pub(crate) window: Duration,
    /// Unix seconds the window ends at (now).
    pub(crate) end: f64,
    /// The CPU percentile requests come from (0.95).
    pub(crate) cpu_quantile: f64,
    /// Ask about HorizontalPodAutoscalers too (kube-state-metrics).
    pub(crate) hpas: bool,
    /// Only what explains a failure (restarts, OOM kills, throttling), not the sizing numbers.
    pub(crate) incidents_only: bool,
}

/// At most this many requests in flight against one Prometheus.
const PARALLEL: usize = 4;

/// The rate window: cAdvisor is scraped every 15-60s, so 5 minutes always holds two samples.
const RATE: &str = "5m";

#[derive(Debug, Clone, Copy)]
enum Field {
    CpuQuantile,
    CpuMax,
    HourlyLow,
    HourlyHigh,
    CpuMedian,
    MemoryPeak,
    FirstSeen,
    OomEvents,
    OomReason,
    Throttled,
    Restarts,
}

impl Ask {
    /// The subquery step: about 2000 points over the window, at least a minute.
    fn step(&self) -> u64 {
        (self.window.as_secs() / 2000).max(60)
    }

    fn selector(&self, extra: &str) -> String {
        let ns = match &self.namespace {
            Some(ns) => format!("namespace=\"{}\"", escape(ns)),
            None => "namespace!=\"\"".into(),
        };
        format!("{{{ns}{extra}}}")
    }

    fn promql(&self, field: Field) -> String {
        let w = format!("{}s", self.window.as_secs());
        let s = format!("{}s", self.step());
        let c = self.selector(",container!=\"\",container!=\"POD\"");
        let by = "by (namespace, pod, container)";
        let rate = format!("sum {by} (rate(container_cpu_usage_seconds_total{c}[{RATE}]))");
        match field {
            Field::CpuQuantile => {
                format!(
                    "quantile_over_time({}, ({rate})[{w}:{s}])",
                    self.cpu_quantile
                )
            }
            Field::CpuMax => format!("max_over_time(({rate})[{w}:{s}])"),
            // Load over the day, not bursts: the hourly rate's quiet and busy ends.
            Field::HourlyLow | Field::HourlyHigh => {
                let q = if matches!(field, Field::HourlyLow) {
                    0.05
                } else {
                    0.95
                };
                let hourly = format!("sum {by} (rate(container_cpu_usage_seconds_total{c}[1h]))");
                format!("quantile_over_time({q}, ({hourly})[{w}:{s}])")
            }
            Field::CpuMedian => format!("quantile_over_time(0.5, ({rate})[{w}:{s}])"),
            Field::MemoryPeak => {
                format!("max {by} (max_over_time(container_memory_working_set_bytes{c}[{w}]))")
            }
            Field::FirstSeen => format!(
                "min {by} (min_over_time(timestamp(container_memory_working_set_bytes{c})[{w}:{s}]))"
            ),
            Field::OomEvents => {
                format!("sum {by} (increase(container_oom_events_total{c}[{w}]))")
            }
            Field::OomReason => format!(
                "max {by} (max_over_time(kube_pod_container_status_last_terminated_reason{}[{w}]))",
                self.selector(",reason=\"OOMKilled\"")
            ),
            Field::Throttled => format!(
                "sum {by} (increase(container_cpu_cfs_throttled_periods_total{c}[{w}])) / sum {by} (increase(container_cpu_cfs_periods_total{c}[{w}]))"
            ),
            Field::Restarts => format!(
                "sum {by} (increase(kube_pod_container_status_restarts_total{}[{w}]))",
                self.selector("")
            ),
        }
    }

    fn hpa_promql(&self) -> [String; 4] {
        let w = format!("{}s", self.window.as_secs());
        let s = format!("{}s", self.step());
        let cur = format!(
            "kube_horizontalpodautoscaler_status_current_replicas{}",
            self.selector("")
        );
        let spec = |f: &str| {
            format!(
                "kube_horizontalpodautoscaler_spec_{f}_replicas{}",
                self.selector("")
            )
        };
        let on = "on (namespace, horizontalpodautoscaler)";
        [
            format!("min_over_time({cur}[{w}])"),
            format!("max_over_time({cur}[{w}])"),
            format!(
                "avg_over_time(({cur} >= bool {on} {})[{w}:{s}])",
                spec("max")
            ),
            format!(
                "avg_over_time(({cur} <= bool {on} {})[{w}:{s}])",
                spec("min")
            ),
        ]
    }
}

const FIELDS: [Field; 11] = [
    Field::CpuQuantile,
    Field::CpuMax,
    Field::HourlyLow,
    Field::HourlyHigh,
    Field::CpuMedian,
    Field::MemoryPeak,
    Field::FirstSeen,
    Field::OomEvents,
    Field::OomReason,
    Field::Throttled,
    Field::Restarts,
];

const INCIDENTS: [Field; 4] = [
    Field::OomEvents,
    Field::OomReason,
    Field::Throttled,
    Field::Restarts,
];

/// Asks every question, a few at a time; the first failure ends the fetch (one note says why).
pub(crate) async fn fetch(prom: &Prometheus, ask: &Ask) -> Result<History, PromError> {
    let fields: &[Field] = if ask.incidents_only {
        &INCIDENTS
    } else {
        &FIELDS
    };
    let mut questions: Vec<String> = fields.iter().map(|f| ask.promql(*f)).collect();
    if ask.hpas {
        questions.extend(ask.hpa_promql());
    }
    let answers: Vec<Vec<Sample>> = futures::stream::iter(questions.iter())
        .map(|q| prom.query(q, ask.end))
        .buffered(PARALLEL)
        .try_collect()
        .await?;
    let mut h = History {
        window: ask.window,
        end: ask.end,
        source: prom.describe.clone(),
        ..Default::default()
    };
    for (field, samples) in fields.iter().zip(&answers) {
        for s in samples {
            let Some(key) = key(s) else { continue };
            let u = h.containers.entry(key).or_default();
            set(u, *field, s.value);
        }
    }
    if ask.hpas {
        hpas(&mut h, &answers[fields.len()..]);
    }
    Ok(h)
}

fn set(u: &mut Usage, field: Field, v: f64) {
    match field {
        Field::CpuQuantile => u.cpu_quantile = Some(v),
        Field::CpuMax => u.cpu_max = Some(v),
        Field::HourlyLow => u.hourly_low = Some(v),
        Field::HourlyHigh => u.hourly_high = Some(v),
        Field::CpuMedian => u.cpu_median = Some(v),
        Field::MemoryPeak => u.memory_peak = Some(v),
        Field::FirstSeen => u.first_seen = Some(v),
        Field::OomEvents => u.oom_kills = u.oom_kills.max(v.round() as u64),
        // kube-state-metrics only says the last termination was an OOM kill: at least one.
        Field::OomReason if v >= 1.0 => u.oom_kills = u.oom_kills.max(1),
        Field::OomReason => {}
        Field::Throttled => u.throttled = Some(v),
        Field::Restarts => u.restarts = v.round() as u64,
    }
}

fn hpas(h: &mut History, answers: &[Vec<Sample>]) {
    for (i, samples) in answers.iter().enumerate() {
        for s in samples {
            let (Some(ns), Some(name)) = (
                s.labels.get("namespace"),
                s.labels.get("horizontalpodautoscaler"),
            ) else {
                continue;
            };
            let e: &mut HpaHistory = h.hpas.entry((ns.clone(), name.clone())).or_default();
            match i {
                0 => e.min_seen = Some(s.value.round() as i64),
                1 => e.max_seen = Some(s.value.round() as i64),
                2 => e.at_max = Some(s.value),
                _ => e.at_min = Some(s.value),
            }
        }
    }
}

fn key(s: &Sample) -> Option<Key> {
    Some(Key {
        namespace: s.labels.get("namespace")?.clone(),
        pod: s.labels.get("pod")?.clone(),
        container: s.labels.get("container")?.clone(),
    })
}

/// Memory of the named pods over the last `window`, every `step` seconds: the growth before an
/// OOM kill. One range query for all of them.
pub(crate) async fn memory_range(
    prom: &Prometheus,
    namespace: &str,
    pods: &[String],
    window: Duration,
    end: f64,
    step: u64,
) -> Result<Vec<super::client::Series>, PromError> {
    let pods: Vec<String> = pods.iter().map(|p| regex_quote(p)).collect();
    let q = format!(
        "max by (namespace, pod, container) (container_memory_working_set_bytes{{namespace=\"{}\",pod=~\"{}\",container!=\"\",container!=\"POD\"}})",
        escape(namespace),
        pods.join("|")
    );
    prom.query_range(&q, end - window.as_secs_f64(), end, step)
        .await
}

/// A PromQL string literal's content.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A pod name as a literal inside a PromQL regex (names are DNS labels; dots are the only
/// metacharacter they can hold).
fn regex_quote(s: &str) -> String {
    escape(&s.replace('.', "\\\\."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_namespace_or_all_and_a_bounded_step() {
        let ask = Ask {
            namespace: Some("shop".into()),
            window: Duration::from_secs(7 * 86400),
            end: 0.0,
            cpu_quantile: 0.95,
            hpas: false,
            incidents_only: false,
        };
        assert_eq!(ask.step(), 302);
        assert_eq!(
            ask.promql(Field::CpuQuantile),
            "quantile_over_time(0.95, (sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{namespace=\"shop\",container!=\"\",container!=\"POD\"}[5m])))[604800s:302s])"
        );
        let all = Ask {
            namespace: None,
            ..ask
        };
        assert!(all.promql(Field::Restarts).contains("{namespace!=\"\"}"));
    }
}
