//! The recommendation rules: one table of what each checks, and one file per family.
//!
//! Rule ids are a public interface (suppression annotations, config files, SARIF rule ids and
//! pipelines all name them), so they only ever gain members; a rule's severity is fixed by the
//! table so a threshold means the same thing in every run.

mod networking;
mod reliability;
mod resources;
mod scaling;
mod security;

use serde::Serialize;
use serde_json::Value;

use super::inventory::{Inventory, Object, Workload};
use crate::analyze::Severity;
use crate::context::ObjectRef;

/// Which concern a rule serves; SARIF tags and text grouping use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Validity,
    Reliability,
    Resources,
    Scaling,
    Security,
    Networking,
}

impl Category {
    pub fn name(self) -> &'static str {
        match self {
            Category::Validity => "validity",
            Category::Reliability => "reliability",
            Category::Resources => "resources",
            Category::Scaling => "scaling",
            Category::Security => "security",
            Category::Networking => "networking",
        }
    }
}

/// What one rule checks.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub category: Category,
    /// One line: what is wrong when it fires.
    pub title: &'static str,
    /// Why it matters and what to do, for `--help`-level docs and SARIF.
    pub help: &'static str,
}

const fn rule(
    id: &'static str,
    severity: Severity,
    category: Category,
    title: &'static str,
    help: &'static str,
) -> Rule {
    Rule {
        id,
        severity,
        category,
        title,
        help,
    }
}

use Category::*;
use Severity::{Error as E, Info as I, Warning as W};

/// Every rule, in the order reports list them.
pub const RULES: &[Rule] = &[
    rule(
        "schema-invalid",
        E,
        Validity,
        "A manifest does not match the Kubernetes API schema",
        "The API server rejects an object with an unknown field, a value of the wrong type or a missing required field, so the manifest cannot be applied as written. Fix the field at the reported path (the schemas are those of --kubernetes-version, or the cluster's own with --validate cluster).",
    ),
    rule(
        "liveness-probe-missing",
        W,
        Reliability,
        "A long-running container has no livenessProbe",
        "Without a liveness probe a hung process keeps its pod forever. Add an httpGet/tcpSocket/exec livenessProbe that fails only when a restart helps.",
    ),
    rule(
        "readiness-probe-missing",
        W,
        Reliability,
        "A served container has no readinessProbe",
        "Without a readiness probe a Service sends traffic to pods that are still starting or overloaded. Add a readinessProbe on the port the Service targets.",
    ),
    rule(
        "probes-identical",
        W,
        Reliability,
        "livenessProbe and readinessProbe are identical",
        "When both probes are the same, a brief overload restarts the container instead of only taking it out of rotation. Give liveness a cheaper check or a higher failureThreshold.",
    ),
    rule(
        "probe-port-undeclared",
        E,
        Reliability,
        "A probe targets a port the container does not declare",
        "A probe aimed at an undeclared port fails forever: the container is restarted (liveness) or never ready (readiness). Point it at a containerPort.",
    ),
    rule(
        "single-replica",
        W,
        Reliability,
        "A workload behind a Service runs a single replica",
        "One replica means downtime on every node drain, rollout hiccup or crash. Run at least 2 (or an HPA with minReplicas >= 2); suppress for singletons such as a database primary.",
    ),
    rule(
        "pdb-missing",
        W,
        Reliability,
        "A replicated workload has no PodDisruptionBudget",
        "Without a PodDisruptionBudget a node drain may evict every replica at once. Add one with maxUnavailable: 1.",
    ),
    rule(
        "spread-missing",
        I,
        Reliability,
        "Replicas may all land on one node",
        "With neither podAntiAffinity nor topologySpreadConstraints the scheduler may place every replica on the same node. Add a topologySpreadConstraint on kubernetes.io/hostname.",
    ),
    rule(
        "rolling-update-risky",
        W,
        Reliability,
        "The update strategy can take every pod down at once",
        "Recreate, or a RollingUpdate whose maxUnavailable covers every replica, stops all pods before new ones are ready. Use RollingUpdate with maxUnavailable: 0 and maxSurge: 1.",
    ),
    rule(
        "requests-missing",
        W,
        Resources,
        "A container has no CPU or memory request",
        "Without requests the scheduler packs pods blindly and the pod is first to be evicted under pressure. Set cpu and memory requests near observed usage.",
    ),
    rule(
        "memory-limit-missing",
        W,
        Resources,
        "A container has no memory limit",
        "Without a memory limit one leaking container can exhaust its node. Set a memory limit above the container's peak usage.",
    ),
    rule(
        "limit-below-usage",
        W,
        Resources,
        "A container runs at or above its limit",
        "Usage at 90% of the memory limit is one spike from an OOM kill; CPU at its limit is throttled. Raise the limit.",
    ),
    rule(
        "memory-limit-oom",
        E,
        Resources,
        "A container was OOM-killed at its memory limit",
        "The kernel killed the container for exceeding its memory limit. Raise the limit (the fix keeps 50% headroom over the larger of the limit and observed usage).",
    ),
    rule(
        "hpa-missing",
        I,
        Scaling,
        "A replicated workload behind a Service has no HorizontalPodAutoscaler",
        "A fixed replica count cannot follow load. Add an HPA on CPU utilization (the workload needs CPU requests).",
    ),
    rule(
        "hpa-target-no-requests",
        E,
        Scaling,
        "An HPA scales on utilization of a resource its target does not request",
        "Utilization is measured against requests; without them the HPA cannot compute it and never scales. Set the request on every container of the target.",
    ),
    rule(
        "hpa-min-equals-max",
        W,
        Scaling,
        "An HPA has minReplicas equal to maxReplicas",
        "With min equal to max the autoscaler can never scale. Raise maxReplicas, or drop the HPA and set replicas.",
    ),
    rule(
        "hpa-target-missing",
        E,
        Scaling,
        "An HPA targets a workload that does not exist",
        "The HPA's scaleTargetRef names no workload among the inputs; it does nothing. Fix the name or kind.",
    ),
    rule(
        "rightsizing",
        I,
        Scaling,
        "Requests are far from observed usage",
        "Requests far above usage waste capacity; below usage they overcommit the node. The suggestion is from one metrics.k8s.io sample, weaker than a history: check it against your monitoring.",
    ),
    rule(
        "run-as-non-root-missing",
        W,
        Security,
        "A container may run as root",
        "Set securityContext.runAsNonRoot: true (and a non-zero runAsUser) so a compromised process is not root in the container.",
    ),
    rule(
        "privileged",
        E,
        Security,
        "A container is privileged",
        "A privileged container has every capability and the host's devices: a breakout is a node compromise. Remove privileged: true and add only the capabilities needed.",
    ),
    rule(
        "privilege-escalation",
        W,
        Security,
        "A container allows privilege escalation",
        "allowPrivilegeEscalation defaults to true: setuid binaries can gain privileges. Set securityContext.allowPrivilegeEscalation: false.",
    ),
    rule(
        "root-filesystem-writable",
        W,
        Security,
        "A container's root filesystem is writable",
        "Set securityContext.readOnlyRootFilesystem: true and mount emptyDir volumes where the app must write (/tmp, caches).",
    ),
    rule(
        "capabilities-added",
        W,
        Security,
        "A container adds Linux capabilities",
        "Added capabilities widen what a compromised process can do. Drop ALL and add back only what is proven necessary.",
    ),
    rule(
        "host-path",
        E,
        Security,
        "A pod mounts a hostPath volume",
        "hostPath exposes the node's filesystem to the pod. Use a PersistentVolumeClaim, ConfigMap or emptyDir instead.",
    ),
    rule(
        "host-network",
        E,
        Security,
        "A pod uses the host's network namespace",
        "hostNetwork: true bypasses NetworkPolicies and exposes node ports. Remove it and expose the pod through a Service.",
    ),
    rule(
        "host-pid",
        E,
        Security,
        "A pod shares the host's process namespace",
        "hostPID: true lets the pod see and signal every process on the node. Remove it.",
    ),
    rule(
        "image-latest",
        W,
        Security,
        "An image uses the latest tag or no tag",
        "A moving tag makes deploys unrepeatable and rollbacks impossible. Pin a version tag or a digest.",
    ),
    rule(
        "default-service-account",
        W,
        Security,
        "A pod runs as the default ServiceAccount with its token mounted",
        "Every pod in the namespace shares the default ServiceAccount; its mounted token is a credential nobody needs. Set automountServiceAccountToken: false, or a dedicated ServiceAccount.",
    ),
    rule(
        "secret-literal-env",
        E,
        Security,
        "A credential is written literally in an env var",
        "A literal credential is readable by anyone who can read the manifest or the pod spec. Move it into a Secret and use valueFrom.secretKeyRef.",
    ),
    rule(
        "network-policy-missing",
        W,
        Networking,
        "No NetworkPolicy covers a workload's pods",
        "Pods no NetworkPolicy selects accept traffic from anywhere in the cluster. Add a default-deny policy and allow only the callers.",
    ),
    rule(
        "service-selects-nothing",
        E,
        Networking,
        "A Service's selector matches no pods",
        "A Service that selects nothing has no endpoints: every request to it fails. Make its selector match the workload's pod labels.",
    ),
    rule(
        "ingress-backend-missing",
        E,
        Networking,
        "An Ingress routes to a Service or port that does not exist",
        "Requests routed to a missing Service or port fail with 503. Point the backend at an existing Service and one of its ports.",
    ),
];

pub fn by_id(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

/// A fix as a partial object: a server-side apply intent (only the named fields change; lists of
/// containers merge by name). It also rewrites manifest files by the same merge.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fix {
    /// What it changes, in a few words.
    pub summary: String,
    /// True when it creates an object that does not exist yet (a PodDisruptionBudget).
    pub creates: bool,
    /// The apply patch.
    pub patch: Value,
}

/// One recommendation about one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    pub rule: &'static str,
    pub severity: Severity,
    pub category: Category,
    pub object: ObjectRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
}

/// Where in a manifest file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
}

/// Collects recommendations for one rule family.
pub(super) struct Sink<'a> {
    out: &'a mut Vec<Recommendation>,
}

impl Sink<'_> {
    fn add(
        &mut self,
        id: &'static str,
        object: &Object,
        container: Option<&str>,
        message: String,
        fix: Option<Fix>,
    ) {
        let rule = by_id(id).expect("every rule id used is in RULES");
        self.out.push(Recommendation {
            rule: rule.id,
            severity: rule.severity,
            category: rule.category,
            object: object.oref.clone(),
            container: container.map(str::to_string),
            message,
            location: object.file_line().map(|(file, line)| Location {
                file: file.to_string(),
                line,
            }),
            fix,
        });
    }
}

fn fix(summary: impl Into<String>, patch: Value) -> Option<Fix> {
    Some(Fix {
        summary: summary.into(),
        creates: false,
        patch,
    })
}

/// Every container of a pod template that runs to serve (init containers excluded).
fn containers<'a>(
    w: &'a Workload<'_>,
) -> impl Iterator<Item = &'a k8s_openapi::api::core::v1::Container> {
    w.spec.containers.iter()
}

/// Runs every rule over the inventory; output in rule-table order, then by object.
pub fn check(inv: &Inventory) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let workloads = inv.workloads();
    {
        let mut sink = Sink { out: &mut out };
        reliability::check(inv, &workloads, &mut sink);
        resources::check(inv, &workloads, &mut sink);
        scaling::check(inv, &workloads, &mut sink);
        security::check(inv, &workloads, &mut sink);
        networking::check(inv, &workloads, &mut sink);
    }
    let order = |id: &str| RULES.iter().position(|r| r.id == id).unwrap_or(usize::MAX);
    out.sort_by(|a, b| {
        (order(a.rule), &a.object, &a.container).cmp(&(order(b.rule), &b.object, &b.container))
    });
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_are_unique_and_kebab_case() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        assert!(
            ids.iter()
                .all(|id| id.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        );
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
    }
}
