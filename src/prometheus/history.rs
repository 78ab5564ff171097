//! What Prometheus remembers, per container: the answers of [`super::queries`], and how the pods
//! of one workload (today's and those a rollout replaced) add up.

use std::collections::BTreeMap;
use std::time::Duration;

/// One container of one pod, as cAdvisor and kube-state-metrics label it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) namespace: String,
    pub(crate) pod: String,
    pub(crate) container: String,
}

/// A container's usage over the window. CPU in cores (of the 5-minute rate), memory in bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Usage {
    pub(crate) cpu_quantile: Option<f64>,
    pub(crate) cpu_max: Option<f64>,
    /// The 5th and 95th percentiles of the hourly CPU rate: the day's quiet and busy hours.
    pub(crate) hourly_low: Option<f64>,
    pub(crate) hourly_high: Option<f64>,
    pub(crate) cpu_median: Option<f64>,
    pub(crate) memory_peak: Option<f64>,
    /// Unix seconds of the first sample in the window.
    pub(crate) first_seen: Option<f64>,
    pub(crate) oom_kills: u64,
    /// Share of CFS periods in which the container was throttled.
    pub(crate) throttled: Option<f64>,
    pub(crate) restarts: u64,
    /// Pods the numbers come from.
    pub(crate) pods: usize,
}

/// Throttled in a quarter of its periods: latency suffers long before the average shows it.
pub(crate) const THROTTLED: f64 = 0.25;

/// An HPA's replicas over the window (kube-state-metrics).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct HpaHistory {
    pub(crate) min_seen: Option<i64>,
    pub(crate) max_seen: Option<i64>,
    /// Share of the window spent at maxReplicas, and at minReplicas.
    pub(crate) at_max: Option<f64>,
    pub(crate) at_min: Option<f64>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct History {
    pub(crate) window: Duration,
    pub(crate) end: f64,
    /// Which Prometheus answered, for the report.
    pub(crate) source: String,
    pub(crate) containers: BTreeMap<Key, Usage>,
    /// By (namespace, HPA name).
    pub(crate) hpas: BTreeMap<(String, String), HpaHistory>,
}

impl History {
    /// One container across a workload's pods: those running now, and the ones a rollout
    /// replaced (recognized by the names their controller gives them).
    pub(crate) fn of_workload(
        &self,
        namespace: &str,
        kind: &str,
        name: &str,
        current: &[String],
        container: &str,
    ) -> Option<Usage> {
        self.containers
            .iter()
            .filter(|(k, _)| {
                k.namespace == namespace
                    && k.container == container
                    && (current.contains(&k.pod) || named_by(kind, name, &k.pod))
            })
            .map(|(_, u)| u)
            .fold(None, |acc: Option<Usage>, u| Some(merge(acc, u)))
    }

    /// How much of the window the data covers, 0..=1.
    pub(crate) fn coverage(&self, u: &Usage) -> f64 {
        let window = self.window.as_secs_f64();
        match u.first_seen {
            Some(first) if window > 0.0 => ((self.end - first) / window).clamp(0.0, 1.0),
            _ => 0.0,
        }
    }

    /// "7d", "36h", "90m": the window as people write it.
    pub(crate) fn window_text(&self) -> String {
        span(self.window.as_secs_f64())
    }
}

/// A duration in the largest unit that keeps it whole-ish.
pub(crate) fn span(secs: f64) -> String {
    if secs >= 2.0 * 86400.0 {
        format!("{:.0}d", secs / 86400.0)
    } else if secs >= 2.0 * 3600.0 {
        format!("{:.0}h", secs / 3600.0)
    } else {
        format!("{:.0}m", (secs / 60.0).max(1.0))
    }
}

fn merge(acc: Option<Usage>, u: &Usage) -> Usage {
    let Some(a) = acc else {
        return Usage {
            pods: 1,
            ..u.clone()
        };
    };
    let max = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    let min = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    Usage {
        cpu_quantile: max(a.cpu_quantile, u.cpu_quantile),
        cpu_max: max(a.cpu_max, u.cpu_max),
        // The workload's quiet and busy ends, not one pod's: after a rollout the old pod saw the
        // night and today's pods only the busy hours (or the other way round), so the ends come
        // from whichever pod saw them.
        hourly_low: min(a.hourly_low, u.hourly_low),
        hourly_high: max(a.hourly_high, u.hourly_high),
        cpu_median: max(a.cpu_median, u.cpu_median),
        memory_peak: max(a.memory_peak, u.memory_peak),
        first_seen: min(a.first_seen, u.first_seen),
        oom_kills: a.oom_kills + u.oom_kills,
        throttled: max(a.throttled, u.throttled),
        restarts: a.restarts + u.restarts,
        pods: a.pods + 1,
    }
}

/// Whether `pod` has the name a controller of `kind` named `name` gives its pods:
/// `web-7d4b9c8f5-x2x9q` (Deployment), `db-0` (StatefulSet), `agent-x2x9q` (DaemonSet, Job).
pub(crate) fn named_by(kind: &str, name: &str, pod: &str) -> bool {
    let Some(rest) = pod.strip_prefix(name).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let generated = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    let parts: Vec<&str> = rest.split('-').collect();
    match kind {
        "Deployment" => parts.len() == 2 && parts.iter().all(|p| generated(p)),
        "StatefulSet" => parts.len() == 1 && parts[0].chars().all(|c| c.is_ascii_digit()),
        "DaemonSet" | "ReplicaSet" | "Job" => {
            parts.len() == 1 && parts[0].len() == 5 && generated(parts[0])
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_a_controller_named_are_recognized() {
        assert!(named_by("Deployment", "web", "web-7d4b9c8f5-x2x9q"));
        assert!(!named_by("Deployment", "web", "web-api-7d4b9c8f5-x2x9q"));
        assert!(named_by("StatefulSet", "db", "db-12"));
        assert!(!named_by("StatefulSet", "db", "db-backup-1"));
        assert!(named_by("DaemonSet", "agent", "agent-x2x9q"));
    }

    #[test]
    fn a_workload_adds_its_pods_up() {
        let mut h = History {
            window: Duration::from_secs(3600),
            end: 10_000.0,
            ..Default::default()
        };
        let key = |pod: &str| Key {
            namespace: "ns".into(),
            pod: pod.into(),
            container: "app".into(),
        };
        let usage = |cpu: f64, first: f64, oom: u64| Usage {
            cpu_quantile: Some(cpu),
            first_seen: Some(first),
            oom_kills: oom,
            ..Default::default()
        };
        h.containers
            .insert(key("web-6b9f8c7d5-aaaaa"), usage(0.2, 6400.0, 1));
        h.containers
            .insert(key("web-7d4b9c8f5-bbbbb"), usage(0.5, 9000.0, 2));
        h.containers
            .insert(key("webhook-7d4b9c8f5-ccccc"), usage(9.0, 0.0, 9));
        let u = h
            .of_workload("ns", "Deployment", "web", &[], "app")
            .unwrap();
        assert_eq!((u.cpu_quantile, u.oom_kills, u.pods), (Some(0.5), 3, 2));
        assert_eq!(h.coverage(&u), 1.0);
        assert_eq!(span(7.0 * 86400.0), "7d");
    }

    /// A rollout at 08:00: the replaced pod saw the quiet night, today's pods only busy hours.
    /// The workload swings, whichever of its pods saw which end.
    #[test]
    fn a_workloads_quiet_and_busy_hours_come_from_the_pods_that_saw_them() {
        let mut h = History::default();
        let hours = |low: f64, high: f64| Usage {
            hourly_low: Some(low),
            hourly_high: Some(high),
            ..Default::default()
        };
        for (pod, usage) in [
            ("api-5f7c9d8b4-wq8zr", hours(0.02, 0.8)),
            ("api-7c9d8b4f5-x2x9q", hours(0.8, 0.8)),
            ("api-7c9d8b4f5-b7k4m", hours(0.7, 0.9)),
        ] {
            let key = Key {
                namespace: "ns".into(),
                pod: pod.into(),
                container: "app".into(),
            };
            h.containers.insert(key, usage);
        }
        let u = h
            .of_workload("ns", "Deployment", "api", &[], "app")
            .unwrap();
        assert_eq!((u.hourly_low, u.hourly_high), (Some(0.02), Some(0.9)));
    }
}
