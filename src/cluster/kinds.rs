//! The resource kinds kubectl-ai reads, in one table.
//!
//! The snapshot reader, the live collector and the test suite's fake API server all work from this
//! table, so "which kinds exist and where they live" is said once. File names follow
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
}

impl Kind {
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
    }
}

pub const PODS: Kind = kind("pods", "Pod", "", "v1", true, "pods.json");
pub const EVENTS: Kind = kind("events", "Event", "", "v1", true, "events.json");
pub const SERVICES: Kind = kind("services", "Service", "", "v1", true, "services.json");
pub const ENDPOINTS: Kind = kind("endpoints", "Endpoints", "", "v1", true, "endpoints.json");
pub const CONFIG_MAPS: Kind = kind("configmaps", "ConfigMap", "", "v1", true, "configmaps.json");
pub const SECRETS: Kind = kind("secrets", "Secret", "", "v1", true, "secrets.json");
pub const PVCS: Kind = kind(
    "persistentvolumeclaims",
    "PersistentVolumeClaim",
    "",
    "v1",
    true,
    "persistentvolumeclaims.json",
);
/// kubectl writes this one with a dash; see [`REPLICATION_CONTROLLERS_ALT_FILE`].
pub const REPLICATION_CONTROLLERS: Kind = kind(
    "replicationcontrollers",
    "ReplicationController",
    "",
    "v1",
    true,
    "replication-controllers.json",
);
pub const REPLICATION_CONTROLLERS_ALT_FILE: &str = "replicationcontrollers.json";
pub const DEPLOYMENTS: Kind = kind(
    "deployments",
    "Deployment",
    "apps",
    "v1",
    true,
    "deployments.json",
);
pub const REPLICA_SETS: Kind = kind(
    "replicasets",
    "ReplicaSet",
    "apps",
    "v1",
    true,
    "replicasets.json",
);
pub const STATEFUL_SETS: Kind = kind(
    "statefulsets",
    "StatefulSet",
    "apps",
    "v1",
    true,
    "statefulsets.json",
);
pub const DAEMON_SETS: Kind = kind(
    "daemonsets",
    "DaemonSet",
    "apps",
    "v1",
    true,
    "daemonsets.json",
);
pub const JOBS: Kind = kind("jobs", "Job", "batch", "v1", true, "jobs.json");
pub const CRON_JOBS: Kind = kind("cronjobs", "CronJob", "batch", "v1", true, "cronjobs.json");
pub const INGRESSES: Kind = kind(
    "ingresses",
    "Ingress",
    "networking.k8s.io",
    "v1",
    true,
    "ingresses.json",
);
pub const NETWORK_POLICIES: Kind = kind(
    "networkpolicies",
    "NetworkPolicy",
    "networking.k8s.io",
    "v1",
    true,
    "networkpolicies.json",
);
pub const HPAS: Kind = kind(
    "horizontalpodautoscalers",
    "HorizontalPodAutoscaler",
    "autoscaling",
    "v2",
    true,
    "horizontalpodautoscalers.json",
);
pub const PDBS: Kind = kind(
    "poddisruptionbudgets",
    "PodDisruptionBudget",
    "policy",
    "v1",
    true,
    "poddisruptionbudgets.json",
);
pub const SERVICE_ACCOUNTS: Kind = kind(
    "serviceaccounts",
    "ServiceAccount",
    "",
    "v1",
    true,
    "serviceaccounts.json",
);
pub const RESOURCE_QUOTAS: Kind = kind(
    "resourcequotas",
    "ResourceQuota",
    "",
    "v1",
    true,
    "resourcequotas.json",
);
pub const LIMIT_RANGES: Kind = kind(
    "limitranges",
    "LimitRange",
    "",
    "v1",
    true,
    "limitranges.json",
);
/// RBAC: read only when a log shows a ServiceAccount refused (see `cluster::rbac`).
pub const ROLES: Kind = kind(
    "roles",
    "Role",
    "rbac.authorization.k8s.io",
    "v1",
    true,
    "roles.json",
);
pub const ROLE_BINDINGS: Kind = kind(
    "rolebindings",
    "RoleBinding",
    "rbac.authorization.k8s.io",
    "v1",
    true,
    "rolebindings.json",
);
pub const CLUSTER_ROLES: Kind = kind(
    "clusterroles",
    "ClusterRole",
    "rbac.authorization.k8s.io",
    "v1",
    false,
    "clusterroles.json",
);
pub const CLUSTER_ROLE_BINDINGS: Kind = kind(
    "clusterrolebindings",
    "ClusterRoleBinding",
    "rbac.authorization.k8s.io",
    "v1",
    false,
    "clusterrolebindings.json",
);
pub const NODES: Kind = kind("nodes", "Node", "", "v1", false, "nodes.json");
pub const NAMESPACES: Kind = kind(
    "namespaces",
    "Namespace",
    "",
    "v1",
    false,
    "namespaces.json",
);
pub const PVS: Kind = kind(
    "persistentvolumes",
    "PersistentVolume",
    "",
    "v1",
    false,
    "persistentvolumes.json",
);
pub const STORAGE_CLASSES: Kind = kind(
    "storageclasses",
    "StorageClass",
    "storage.k8s.io",
    "v1",
    false,
    "storageclasses.json",
);
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
    match ALL
        .iter()
        .find(|k| k.kind == kind && k.group != "metrics.k8s.io")
    {
        Some(k) => k.namespaced,
        None => !OTHER_CLUSTER_SCOPED.contains(&kind),
    }
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
}
