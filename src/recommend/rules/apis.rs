//! apiVersions that a Kubernetes release deprecates or no longer serves, from the upstream
//! deprecation guide: a manifest written against one stops applying after an upgrade.

use super::{RuleId, Sink};
use crate::recommend::inventory::Inventory;

/// One retired apiVersion of some kinds.
pub(crate) struct Retired {
    pub api_version: &'static str,
    /// The kinds it retired (`*` for every kind of the group-version).
    pub kinds: &'static [&'static str],
    /// Minor version of 1.x that deprecated it, and the one that stopped serving it.
    pub deprecated: u32,
    pub removed: u32,
    pub replacement: &'static str,
}

const fn retired(
    api_version: &'static str,
    kinds: &'static [&'static str],
    deprecated: u32,
    removed: u32,
    replacement: &'static str,
) -> Retired {
    Retired {
        api_version,
        kinds,
        deprecated,
        removed,
        replacement,
    }
}

/// https://kubernetes.io/docs/reference/using-api/deprecation-guide/
pub(crate) const RETIRED: &[Retired] = &[
    retired(
        "extensions/v1beta1",
        &["Deployment", "DaemonSet", "ReplicaSet"],
        9,
        16,
        "apps/v1",
    ),
    retired(
        "extensions/v1beta1",
        &["NetworkPolicy"],
        9,
        16,
        "networking.k8s.io/v1",
    ),
    retired(
        "extensions/v1beta1",
        &["Ingress"],
        14,
        22,
        "networking.k8s.io/v1",
    ),
    retired("apps/v1beta1", &["*"], 9, 16, "apps/v1"),
    retired("apps/v1beta2", &["*"], 9, 16, "apps/v1"),
    retired(
        "networking.k8s.io/v1beta1",
        &["Ingress", "IngressClass"],
        19,
        22,
        "networking.k8s.io/v1",
    ),
    retired(
        "rbac.authorization.k8s.io/v1beta1",
        &["*"],
        17,
        22,
        "rbac.authorization.k8s.io/v1",
    ),
    retired(
        "apiextensions.k8s.io/v1beta1",
        &["*"],
        16,
        22,
        "apiextensions.k8s.io/v1",
    ),
    retired(
        "admissionregistration.k8s.io/v1beta1",
        &[
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ],
        16,
        22,
        "admissionregistration.k8s.io/v1",
    ),
    retired(
        "scheduling.k8s.io/v1beta1",
        &["PriorityClass"],
        14,
        22,
        "scheduling.k8s.io/v1",
    ),
    retired(
        "coordination.k8s.io/v1beta1",
        &["Lease"],
        14,
        22,
        "coordination.k8s.io/v1",
    ),
    retired(
        "storage.k8s.io/v1beta1",
        &["CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"],
        19,
        22,
        "storage.k8s.io/v1",
    ),
    retired(
        "certificates.k8s.io/v1beta1",
        &["CertificateSigningRequest"],
        19,
        22,
        "certificates.k8s.io/v1",
    ),
    retired("batch/v1beta1", &["CronJob"], 21, 25, "batch/v1"),
    retired(
        "policy/v1beta1",
        &["PodDisruptionBudget"],
        21,
        25,
        "policy/v1",
    ),
    retired(
        "policy/v1beta1",
        &["PodSecurityPolicy"],
        21,
        25,
        "Pod Security Admission (namespace labels)",
    ),
    retired(
        "discovery.k8s.io/v1beta1",
        &["EndpointSlice"],
        21,
        25,
        "discovery.k8s.io/v1",
    ),
    retired(
        "events.k8s.io/v1beta1",
        &["Event"],
        19,
        25,
        "events.k8s.io/v1",
    ),
    retired(
        "node.k8s.io/v1beta1",
        &["RuntimeClass"],
        20,
        25,
        "node.k8s.io/v1",
    ),
    retired(
        "autoscaling/v2beta1",
        &["HorizontalPodAutoscaler"],
        22,
        25,
        "autoscaling/v2",
    ),
    retired(
        "autoscaling/v2beta2",
        &["HorizontalPodAutoscaler"],
        23,
        26,
        "autoscaling/v2",
    ),
    retired(
        "flowcontrol.apiserver.k8s.io/v1beta1",
        &["*"],
        23,
        26,
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    retired(
        "storage.k8s.io/v1beta1",
        &["CSIStorageCapacity"],
        24,
        27,
        "storage.k8s.io/v1",
    ),
    retired(
        "flowcontrol.apiserver.k8s.io/v1beta2",
        &["*"],
        26,
        29,
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    retired(
        "flowcontrol.apiserver.k8s.io/v1beta3",
        &["*"],
        29,
        32,
        "flowcontrol.apiserver.k8s.io/v1",
    ),
];

/// The retirement of this apiVersion and kind, if it has one.
pub(crate) fn retirement(api_version: &str, kind: &str) -> Option<&'static Retired> {
    RETIRED
        .iter()
        .find(|r| r.api_version == api_version && r.kinds.iter().any(|k| *k == "*" || *k == kind))
}

pub(super) fn check(inv: &Inventory, sink: &mut Sink<'_>) {
    let Some(minor) = inv.kubernetes_minor else {
        return;
    };
    for o in &inv.objects {
        let api_version = o.value["apiVersion"].as_str().unwrap_or_default();
        let Some(r) = retirement(api_version, o.kind()) else {
            continue;
        };
        // Removed ones do not validate at all: schema-invalid says so, with the replacement.
        if minor >= r.deprecated && minor < r.removed {
            sink.add(
                RuleId::ApiVersionDeprecated,
                o,
                None,
                format!(
                    "{api_version} {} is deprecated since Kubernetes 1.{} and removed in 1.{}: use {}",
                    o.kind(),
                    r.deprecated,
                    r.removed,
                    r.replacement
                ),
                None,
            );
        }
    }
}
