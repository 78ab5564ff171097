//! The resource kinds kubectl-ai reads, in one table.
//!
//! The snapshot reader, the live collector, target resolution, the LLM's tools, plans and the test
//! suite's fake API server all work from this table, so "which kinds exist, what kubectl calls
//! them, where they live and in which order they are applied" is said once. File names follow
//! `kubectl cluster-info dump --output-directory`.

/// One readable kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// Resource name in URLs and RBAC ("pods").
    pub plural: &'static str,
    pub kind: &'static str,
    /// API group; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub namespaced: bool,
    /// File name inside a snapshot directory (in `NAMESPACE/` when namespaced).
    pub file: &'static str,
    /// kubectl's short names ("po", "deploy").
    pub short: &'static [&'static str],
    /// When a plan applies it: what others depend on first (0), [`UNRANKED`] for the rest.
    pub rank: u8,
}

/// The apply rank of kinds nothing depends on.
pub const UNRANKED: u8 = 7;

impl Kind {
    const fn aka(mut self, short: &'static [&'static str]) -> Kind {
        self.short = short;
        self
    }

    const fn applied(mut self, rank: u8) -> Kind {
        self.rank = rank;
        self
    }

    /// Whether kubectl would take `word` for this kind: its name, singular or plural, or a short
    /// name, in any case.
    pub fn is_called(&self, word: &str) -> bool {
        word.eq_ignore_ascii_case(self.kind)
            || word.eq_ignore_ascii_case(self.plural)
            || self.short.iter().any(|s| word.eq_ignore_ascii_case(s))
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The name used in notes and RBAC messages; aggregated APIs are qualified by group so
    /// `pods.metrics.k8s.io` is not confused with `pods`.
    pub fn resource(&self) -> String {
        if self.group == "metrics.k8s.io" {
            format!("{}.{}", self.plural, self.group)
        } else {
            self.plural.to_string()
        }
    }

    /// The collection path, e.g. `/apis/apps/v1/namespaces/x/deployments`.
    pub fn path(&self, namespace: Option<&str>) -> String {
        let root = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{root}/namespaces/{ns}/{}", self.plural),
            _ => format!("{root}/{}", self.plural),
        }
    }
}

const fn kind(
    plural: &'static str,
    kind: &'static str,
    group: &'static str,
    version: &'static str,
    namespaced: bool,
    file: &'static str,
) -> Kind {
    Kind {
        plural,
        kind,
        group,
        version,
        namespaced,
        file,
        short: &[],
        rank: UNRANKED,
    }
}

pub const PODS: Kind = kind("pods", "Pod", "", "v1", true, "pods.json").aka(&["po"]);
pub const EVENTS: Kind = kind("events", "Event", "", "v1", true, "events.json").aka(&["ev"]);
pub const SERVICES: Kind = kind("services", "Service", "", "v1", true, "services.json")
    .aka(&["svc"])
    .applied(4);
pub const ENDPOINTS: Kind = kind("endpoints", "Endpoints", "", "v1", true, "endpoints.json")
    .aka(&["ep"])
    .applied(4);
pub const CONFIG_MAPS: Kind = kind("configmaps", "ConfigMap", "", "v1", true, "configmaps.json")
    .aka(&["cm"])
    .applied(1);
pub const SECRETS: Kind = kind("secrets", "Secret", "", "v1", true, "secrets.json").applied(1);
pub const PVCS: Kind = kind(
    "persistentvolumeclaims",
    "PersistentVolumeClaim",
    "",
    "v1",
    true,
    "persistentvolumeclaims.json",
)
.aka(&["pvc"])
.applied(2);
/// kubectl writes this one with a dash; see [`REPLICATION_CONTROLLERS_ALT_FILE`].
pub const REPLICATION_CONTROLLERS: Kind = kind(
    "replicationcontrollers",
    "ReplicationController",
    "",
    "v1",
    true,
    "replication-controllers.json",
)
.aka(&["rc"]);
pub const REPLICATION_CONTROLLERS_ALT_FILE: &str = "replicationcontrollers.json";
pub const DEPLOYMENTS: Kind = kind(
    "deployments",
    "Deployment",
    "apps",
    "v1",
    true,
    "deployments.json",
)
.aka(&["deploy"])
.applied(3);
pub const REPLICA_SETS: Kind = kind(
    "replicasets",
    "ReplicaSet",
    "apps",
    "v1",
    true,
    "replicasets.json",
)
.aka(&["rs"])
.applied(3);
pub const STATEFUL_SETS: Kind = kind(
    "statefulsets",
    "StatefulSet",
    "apps",
    "v1",
    true,
    "statefulsets.json",
)
.aka(&["sts"])
.applied(3);
pub const DAEMON_SETS: Kind = kind(
    "daemonsets",
    "DaemonSet",
    "apps",
    "v1",
    true,
    "daemonsets.json",
)
.aka(&["ds"])
.applied(3);
pub const JOBS: Kind = kind("jobs", "Job", "batch", "v1", true, "jobs.json").applied(3);
pub const CRON_JOBS: Kind = kind("cronjobs", "CronJob", "batch", "v1", true, "cronjobs.json")
    .aka(&["cj"])
    .applied(3);
pub const INGRESSES: Kind = kind(
    "ingresses",
    "Ingress",
    "networking.k8s.io",
    "v1",
    true,
    "ingresses.json",
)
.aka(&["ing"])
.applied(5);
pub const NETWORK_POLICIES: Kind = kind(
    "networkpolicies",
    "NetworkPolicy",
    "networking.k8s.io",
    "v1",
    true,
    "networkpolicies.json",
)
.aka(&["netpol"])
.applied(5);
pub const HPAS: Kind = kind(
    "horizontalpodautoscalers",
    "HorizontalPodAutoscaler",
    "autoscaling",
    "v2",
    true,
    "horizontalpodautoscalers.json",
)
.aka(&["hpa"])
.applied(6);
pub const PDBS: Kind = kind(
    "poddisruptionbudgets",
    "PodDisruptionBudget",
    "policy",
    "v1",
    true,
    "poddisruptionbudgets.json",
)
.aka(&["pdb"])
.applied(6);
pub const SERVICE_ACCOUNTS: Kind = kind(
    "serviceaccounts",
    "ServiceAccount",
    "",
    "v1",
    true,
    "serviceaccounts.json",
)
.applied(1);
pub const RESOURCE_QUOTAS: Kind = kind(
    "resourcequotas",
    "ResourceQuota",
    "",
    "v1",
    true,
    "resourcequotas.json",
)
.applied(1);
pub const LIMIT_RANGES: Kind = kind(
    "limitranges",
    "LimitRange",
    "",
    "v1",
    true,
    "limitranges.json",
)
.applied(1);
/// RBAC: read only when a log shows a ServiceAccount refused (see `cluster::rbac`).
pub const ROLES: Kind = kind(
    "roles",
    "Role",
    "rbac.authorization.k8s.io",
    "v1",
    true,
    "roles.json",
)
.applied(1);
pub const ROLE_BINDINGS: Kind = kind(
    "rolebindings",
    "RoleBinding",
    "rbac.authorization.k8s.io",
    "v1",
    true,
    "rolebindings.json",
)
.applied(1);
pub const CLUSTER_ROLES: Kind = kind(
    "clusterroles",
    "ClusterRole",
    "rbac.authorization.k8s.io",
    "v1",
    false,
    "clusterroles.json",
)
.applied(1);
pub const CLUSTER_ROLE_BINDINGS: Kind = kind(
    "clusterrolebindings",
    "ClusterRoleBinding",
    "rbac.authorization.k8s.io",
    "v1",
    false,
    "clusterrolebindings.json",
)
.applied(1);
pub const NODES: Kind = kind("nodes", "Node", "", "v1", false, "nodes.json").aka(&["no"]);
pub const NAMESPACES: Kind = kind(
    "namespaces",
    "Namespace",
    "",
    "v1",
    false,
    "namespaces.json",
)
.aka(&["ns"])
.applied(0);
pub const PVS: Kind = kind(
    "persistentvolumes",
    "PersistentVolume",
    "",
    "v1",
    false,
    "persistentvolumes.json",
)
.aka(&["pv"])
.applied(2);
pub const STORAGE_CLASSES: Kind = kind(
    "storageclasses",
    "StorageClass",
    "storage.k8s.io",
    "v1",
    false,
    "storageclasses.json",
)
.aka(&["sc"])
.applied(2);
pub const INGRESS_CLASSES: Kind = kind(
    "ingressclasses",
    "IngressClass",
    "networking.k8s.io",
    "v1",
    false,
    "ingressclasses.json",
);
pub const POD_METRICS: Kind = kind(
    "pods",
    "PodMetrics",
    "metrics.k8s.io",
    "v1beta1",
    true,
    "metrics-pods.json",
);
pub const NODE_METRICS: Kind = kind(
    "nodes",
    "NodeMetrics",
    "metrics.k8s.io",
    "v1beta1",
    false,
    "metrics-nodes.json",
);

/// Every kind, in the order a reader would want them listed.
pub const ALL: &[Kind] = &[
    NAMESPACES,
    NODES,
    PODS,
    EVENTS,
    SERVICES,
    ENDPOINTS,
    CONFIG_MAPS,
    SECRETS,
    PVCS,
    REPLICATION_CONTROLLERS,
    DEPLOYMENTS,
    REPLICA_SETS,
    STATEFUL_SETS,
    DAEMON_SETS,
    JOBS,
    CRON_JOBS,
    INGRESSES,
    NETWORK_POLICIES,
    HPAS,
    PDBS,
    SERVICE_ACCOUNTS,
    RESOURCE_QUOTAS,
    LIMIT_RANGES,
    ROLES,
    ROLE_BINDINGS,
    PVS,
    STORAGE_CLASSES,
    INGRESS_CLASSES,
    CLUSTER_ROLES,
    CLUSTER_ROLE_BINDINGS,
    POD_METRICS,
    NODE_METRICS,
];

/// The prometheus-operator's kinds the todo app's monitoring applies. They come from CRDs most
/// clusters do not have, so nothing collects them; only the plan applies (and undeploy deletes) them.
pub const SERVICE_MONITORS: Kind = kind(
    "servicemonitors",
    "ServiceMonitor",
    "monitoring.coreos.com",
    "v1",
    true,
    "servicemonitors.json",
);
pub const PROMETHEUS_RULES: Kind = kind(
    "prometheusrules",
    "PrometheusRule",
    "monitoring.coreos.com",
    "v1",
    true,
    "prometheusrules.json",
);

/// The operator's Prometheus servers: deploy reads which ServiceMonitors and rules they select.
pub const PROMETHEUSES: Kind = kind(
    "prometheuses",
    "Prometheus",
    "monitoring.coreos.com",
    "v1",
    true,
    "prometheuses.json",
);

/// Custom kinds kubectl-ai knows beside [`ALL`]: the plan may apply them, deploy reads them.
pub const CUSTOM: &[Kind] = &[SERVICE_MONITORS, PROMETHEUS_RULES, PROMETHEUSES];

/// Cluster-scoped kinds this table does not hold but manifests often do.
const OTHER_CLUSTER_SCOPED: &[&str] = &[
    "CustomResourceDefinition",
    "PriorityClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
];

/// Whether objects of `kind` live in a namespace: from the table, else namespaced unless it is a
/// well-known cluster-scoped kind (how a manifest without `metadata.namespace` is placed).
pub fn is_namespaced(kind: &str) -> bool {
    match named(kind) {
        Some(k) => k.namespaced,
        None => !OTHER_CLUSTER_SCOPED.contains(&kind),
    }
}

/// The table's kind named `kind` ("Deployment"); the metrics API's `pods` and `nodes` are not
/// objects anyone applies or names.
pub fn named(kind: &str) -> Option<&'static Kind> {
    ALL.iter()
        .chain(CUSTOM)
        .find(|k| k.kind == kind && k.group != "metrics.k8s.io")
}

/// The kind among `kinds` that kubectl would take `word` for ("deploy", "svc",
/// "deployments.apps"): the group suffix is ignored, as kubectl resolves it.
pub fn resolve(kinds: &[Kind], word: &str) -> Option<&'static str> {
    let word = word.split('.').next().unwrap_or(word);
    kinds.iter().find(|k| k.is_called(word)).map(|k| k.kind)
}

/// The order in which kinds are applied: what others depend on first.
pub fn apply_rank(kind: &str) -> u8 {
    named(kind).map_or(UNRANKED, |k| k.rank)
}

/// The kinds `kubectl cluster-info dump` writes itself; the others are our documented extension.
pub const DUMPED_BY_KUBECTL: &[Kind] = &[
    NODES,
    EVENTS,
    PODS,
    SERVICES,
    DEPLOYMENTS,
    REPLICA_SETS,
    DAEMON_SETS,
    REPLICATION_CONTROLLERS,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespacing_comes_from_the_table_then_the_well_known_list() {
        assert!(is_namespaced("Deployment"));
        assert!(!is_namespaced("StorageClass"));
        assert!(!is_namespaced("ClusterRole"));
        assert!(is_namespaced("Rollout"));
    }

    #[test]
    fn kubectl_names_resolve_and_ranks_order_dependencies() {
        let some = [PODS, DEPLOYMENTS, SERVICES, PVCS];
        for (word, kind) in [
            ("po", "Pod"),
            ("Pods", "Pod"),
            ("deploy", "Deployment"),
            ("deployments.apps", "Deployment"),
            ("SVC", "Service"),
            ("persistentvolumeclaim", "PersistentVolumeClaim"),
        ] {
            assert_eq!(resolve(&some, word), Some(kind), "{word}");
        }
        assert_eq!(resolve(&some, "sts"), None);
        assert!(apply_rank("Namespace") < apply_rank("ConfigMap"));
        assert!(apply_rank("PersistentVolumeClaim") < apply_rank("Deployment"));
        assert!(apply_rank("Deployment") < apply_rank("Service"));
        assert!(apply_rank("Ingress") < apply_rank("HorizontalPodAutoscaler"));
        assert_eq!(apply_rank("Pod"), UNRANKED);
        assert_eq!(apply_rank("Rollout"), UNRANKED);
    }
}
