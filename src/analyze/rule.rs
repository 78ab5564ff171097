//! The analyzers' rule ids: one variant per rule, its kebab-case id said once.
//!
//! Findings, consequences and every output carry a [`Rule`]; it prints, serializes and parses as
//! its id (`crash-loop`), so text, JSON, YAML, prompts and MCP answers read exactly as the id,
//! and a misspelt rule is a compile error rather than a comparison that never matches.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! rules {
    ($( $(#[$doc:meta])* $variant:ident = $id:literal, )*) => {
        /// Which rule found a problem.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Rule {
            $( $(#[$doc])* $variant, )*
        }

        impl Rule {
            /// Every rule, in the order of this table.
            #[cfg(test)]
            pub(crate) const ALL: &[Rule] = &[$(Rule::$variant),*];

            /// The stable id users, scripts and models see.
            pub(crate) fn id(self) -> &'static str {
                match self {
                    $( Rule::$variant => $id, )*
                }
            }
        }

        impl FromStr for Rule {
            type Err = UnknownRule;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $id => Ok(Rule::$variant), )*
                    _ => Err(UnknownRule(s.to_string())),
                }
            }
        }
    };
}

rules! {
    // Container states (pods.rs).
    CrashLoop = "crash-loop",
    OomKilled = "oom-killed",
    ImagePull = "image-pull",
    ContainerConfig = "container-config",
    ContainerStart = "container-start",
    InitContainer = "init-container",
    LivenessRestarts = "liveness-restarts",
    VolumeMount = "volume-mount",
    // Missing references (config_refs.rs).
    ConfigMissing = "config-missing",
    ConfigKeyMissing = "config-key-missing",
    // Probes (probes.rs).
    ProbePort = "probe-port",
    ReadinessFailing = "readiness-failing",
    // Scheduling (scheduling.rs).
    Unschedulable = "unschedulable",
    Evicted = "evicted",
    // Storage (storage.rs).
    PvcUnbound = "pvc-unbound",
    // Nodes (nodes.rs).
    NodeNotReady = "node-not-ready",
    NodePressure = "node-pressure",
    // Traffic (services.rs).
    ServiceNoEndpoints = "service-no-endpoints",
    /// Pods are selected but none is ready: the cause is theirs, so this is a symptom.
    ServiceNoReadyEndpoints = "service-no-ready-endpoints",
    IngressBackend = "ingress-backend",
    IngressClass = "ingress-class",
    // Autoscaling (autoscaling.rs).
    HpaMetrics = "hpa-metrics",
    // Controllers (workloads.rs).
    WorkloadUnavailable = "workload-unavailable",
    RolloutStuck = "rollout-stuck",
    JobFailed = "job-failed",
    ReplicaFailure = "replica-failure",
    // Application logs (app_logs.rs).
    LogErrors = "log-errors",
}

/// A rule id that names no rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no analyzer rule is named {0:?}")]
pub struct UnknownRule(pub String);

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// Ordered by id, as the ids were when they were strings: ranking ties and grouping keys keep
/// the order every report already has.
impl Ord for Rule {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.id().cmp(other.id())
    }
}

impl PartialOrd for Rule {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        id.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_parses_back_to_its_rule() {
        for rule in Rule::ALL {
            assert_eq!(rule.id().parse::<Rule>(), Ok(*rule), "{rule}");
            assert_eq!(rule.to_string(), rule.id());
        }
    }

    #[test]
    fn ids_are_unique_kebab_case() {
        let mut ids: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
        assert!(ids.len() > 20, "{ids:?}");
        for id in &ids {
            assert!(
                id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{id}"
            );
        }
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "a rule id is said twice");
    }

    #[test]
    fn an_unknown_id_is_an_error_naming_it() {
        let err = "crash-looping".parse::<Rule>().unwrap_err();
        assert_eq!(err, UnknownRule("crash-looping".into()));
        assert!(err.to_string().contains("\"crash-looping\""), "{err}");
    }

    #[test]
    fn serializes_as_its_id_and_orders_by_it() {
        assert_eq!(
            serde_json::to_string(&Rule::ServiceNoEndpoints).unwrap(),
            "\"service-no-endpoints\""
        );
        let back: Rule = serde_json::from_str("\"oom-killed\"").unwrap();
        assert_eq!(back, Rule::OomKilled);
        assert!(serde_json::from_str::<Rule>("\"nope\"").is_err());
        let mut rules = vec![Rule::CrashLoop, Rule::ConfigMissing, Rule::Evicted];
        rules.sort();
        assert_eq!(
            rules,
            [Rule::ConfigMissing, Rule::CrashLoop, Rule::Evicted],
            "by id, not by the table's order"
        );
    }
}
