//! Security posture of pod templates, along the lines of the Pod Security Standards' restricted
//! profile, plus image pinning, service-account tokens and literal credentials.

use std::collections::HashSet;
use std::sync::LazyLock;

use k8s_openapi::api::core::v1::{Container, SecurityContext};
use regex::Regex;
use serde_json::json;

use super::{RuleId, Sink, fix};
use crate::recommend::inventory::{Inventory, Object, Workload};
use crate::recommend::tree::Tree;

pub(super) fn check(inv: &Inventory, workloads: &[Workload<'_>], sink: &mut Sink<'_>) {
    let bound = bound_accounts(inv);
    for w in workloads {
        pod_level(inv, &bound, w, sink);
        for (_, c) in w.all_containers() {
            container(w, c, sink);
        }
    }
    for cm in inv.of_kind("ConfigMap") {
        configmap(cm, sink);
    }
}

/// Keys that name a credential and values that are one, never quoting the value.
fn configmap(cm: &Object, sink: &mut Sink<'_>) {
    let Some(data) = cm.value.get("data").and_then(Tree::as_object) else {
        return;
    };
    let keys: Vec<&str> = data
        .iter()
        .filter(|(k, v)| {
            let v = v.as_str().unwrap_or_default();
            !v.trim().is_empty() && (credential_name(k) || credential_value(v))
        })
        .map(|(k, _)| k)
        .collect();
    if !keys.is_empty() {
        sink.add(
            RuleId::ConfigmapCredentials,
            cm,
            None,
            format!(
                "configmap {} holds what looks like a credential under {} (values not shown)",
                cm.oref.name,
                keys.join(", ")
            ),
            None,
        );
    }
}

/// The ServiceAccounts (namespace, name) that a RoleBinding or ClusterRoleBinding in the input
/// names as a subject: their pods use the token.
fn bound_accounts(inv: &Inventory) -> HashSet<(&str, &str)> {
    let mut bound = HashSet::new();
    for b in inv
        .of_kind("RoleBinding")
        .chain(inv.of_kind("ClusterRoleBinding"))
    {
        let subjects = b.value.get("subjects").and_then(Tree::as_array);
        for s in subjects.into_iter().flatten() {
            if s["kind"] == "ServiceAccount" {
                let ns = s["namespace"].as_str().unwrap_or(b.namespace());
                bound.insert((ns, s["name"].as_str().unwrap_or_default()));
            }
        }
    }
    bound
}

/// Namespaces whose workloads are the cluster's own components, which call the API server.
const SYSTEM_NAMESPACES: &[&str] = &["kube-system"];

fn pod_level(
    inv: &Inventory,
    bound: &HashSet<(&str, &str)>,
    w: &Workload<'_>,
    sink: &mut Sink<'_>,
) {
    let spec = &w.spec;
    for v in spec.volumes.iter().flatten() {
        if let Some(h) = &v.host_path {
            sink.add(
                RuleId::HostPath,
                w.object,
                None,
                format!("volume {} mounts {} from the node", v.name, h.path),
                None,
            );
        }
    }
    if spec.host_network == Some(true) {
        sink.add(
            RuleId::HostNetwork,
            w.object,
            None,
            "the pod uses the node's network namespace (hostNetwork: true)".into(),
            None,
        );
    }
    if spec.host_pid == Some(true) {
        sink.add(
            RuleId::HostPid,
            w.object,
            None,
            "the pod shares the node's process namespace (hostPID: true)".into(),
            None,
        );
    }
    #[allow(deprecated)]
    let account = spec
        .service_account_name
        .as_deref()
        .or(spec.service_account.as_deref())
        .filter(|a| !a.is_empty())
        .unwrap_or("default");
    let account_automount = inv
        .find("ServiceAccount", w.object.namespace(), account)
        .and_then(|sa| sa.value.get("automountServiceAccountToken"))
        .and_then(Tree::as_bool);
    let automount = spec
        .automount_service_account_token
        .or(account_automount)
        .unwrap_or(true);
    let stop = || {
        fix(
            "stop mounting the ServiceAccount token (automountServiceAccountToken: false)",
            w.pod_intent(json!({ "automountServiceAccountToken": false })),
        )
    };
    let ns = w.object.namespace();
    if account == "default" && automount {
        sink.add(
            RuleId::DefaultServiceAccount,
            w.object,
            None,
            "the pod runs as the default ServiceAccount and mounts its API token".into(),
            stop(),
        );
    } else if automount && !bound.contains(&(ns, account)) && !SYSTEM_NAMESPACES.contains(&ns) {
        sink.add(
            RuleId::ServiceAccountTokenMounted,
            w.object,
            None,
            format!("the pod mounts the API token of ServiceAccount {account}, which no RoleBinding or ClusterRoleBinding in the input names"),
            stop(),
        );
    }
}

fn container(w: &Workload<'_>, c: &Container, sink: &mut Sink<'_>) {
    let pod_sc = w.spec.security_context.as_ref();
    let sc = c.security_context.clone().unwrap_or_default();
    let name = &c.name;
    let non_root = sc
        .run_as_non_root
        .or(pod_sc.and_then(|p| p.run_as_non_root))
        == Some(true)
        || sc
            .run_as_user
            .or(pod_sc.and_then(|p| p.run_as_user))
            .is_some_and(|u| u > 0);
    if !non_root {
        sink.add(
            RuleId::RunAsNonRootMissing,
            w.object,
            Some(name),
            format!("container {name} may run as root: neither runAsNonRoot nor a non-zero runAsUser is set"),
            None,
        );
    }
    let set = |field: &str, value: bool| {
        w.container_intent(name, json!({ "securityContext": { field: value } }))
    };
    if sc.privileged == Some(true) {
        sink.add(
            RuleId::Privileged,
            w.object,
            Some(name),
            format!("container {name} is privileged"),
            fix(
                format!("make {name} unprivileged"),
                set("privileged", false),
            ),
        );
    } else if sc.allow_privilege_escalation != Some(false) {
        sink.add(
            RuleId::PrivilegeEscalation,
            w.object,
            Some(name),
            format!("container {name} allows privilege escalation (allowPrivilegeEscalation is not false)"),
            fix(
                format!("set allowPrivilegeEscalation: false on {name}"),
                set("allowPrivilegeEscalation", false),
            ),
        );
    }
    if sc.read_only_root_filesystem != Some(true) {
        sink.add(
            RuleId::RootFilesystemWritable,
            w.object,
            Some(name),
            format!("container {name} can write to its root filesystem"),
            None,
        );
    }
    let added = added_capabilities(&sc);
    if !added.is_empty() {
        sink.add(
            RuleId::CapabilitiesAdded,
            w.object,
            Some(name),
            format!("container {name} adds capabilities {}", added.join(", ")),
            None,
        );
    }
    if let Some(image) = &c.image
        && floating(image)
    {
        sink.add(
            RuleId::ImageLatest,
            w.object,
            Some(name),
            format!("container {name} runs {image}, which is not pinned to a version"),
            None,
        );
    }
    for env in c.env.iter().flatten() {
        let Some(value) = env.value.as_deref().filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        if credential_name(&env.name) || credential_value(value) {
            sink.add(
                RuleId::SecretLiteralEnv,
                w.object,
                Some(name),
                format!(
                    "env {} of container {name} holds a literal credential (value not shown)",
                    env.name
                ),
                None,
            );
        }
    }
}

/// Capabilities beyond NET_BIND_SERVICE, the one the restricted profile allows.
fn added_capabilities(sc: &SecurityContext) -> Vec<String> {
    sc.capabilities
        .as_ref()
        .and_then(|c| c.add.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c != "NET_BIND_SERVICE")
        .collect()
}

/// `latest`, or no tag and no digest.
pub(super) fn floating(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => tag == "latest",
        None => true,
    }
}

static CREDENTIAL_NAME: LazyLock<Regex> = LazyLock::new(|| {
    // AZURE_STORAGE_KEY, ACCOUNT_KEY, *_KEY_CONTENT: cloud keys named only "key".
    Regex::new(r"(?i)(password|passwd|pwd|secret|token|api_?key|apikey|access_?key|private_?key|credentials?|^azure_.*key$|account_?key|_key_content$|connection_?string)")
        .expect("valid pattern")
});
static CREDENTIAL_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    // PEM armour is five dashes, but hand-written keys often carry fewer.
    Regex::new(
        r"[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]+:[^\s@/]+@|-{2,}\s*BEGIN [A-Z ]*PRIVATE KEY\s*-{2,}",
    )
    .expect("valid pattern")
});

/// A name that says it holds a credential, unless it only points at one (a file or a path).
fn credential_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    CREDENTIAL_NAME.is_match(name)
        && !["_FILE", "_PATH", "_DIR", "_NAME", "_TTL", "_EXPIRY"]
            .iter()
            .any(|s| upper.ends_with(s))
}

fn credential_value(value: &str) -> bool {
    CREDENTIAL_VALUE.is_match(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_without_a_version_float() {
        assert!(floating("nginx"));
        assert!(floating("nginx:latest"));
        assert!(floating("registry:5000/team/app"));
        assert!(!floating("registry:5000/team/app:1.2"));
        assert!(!floating("nginx@sha256:abc"));
    }

    #[test]
    fn credentials_are_told_from_pointers_to_them() {
        assert!(credential_name("DATABASE_PASSWORD"));
        assert!(credential_name("apiKey"));
        assert!(!credential_name("PASSWORD_FILE"));
        assert!(!credential_name("LOG_LEVEL"));
        assert!(credential_value("postgres://app:s3cret@db:5432/app"));
        assert!(!credential_value("postgres://db:5432/app"));
        assert!(credential_name("AZURE_STORAGE_KEY"));
        assert!(credential_name("TLS_KEY_CONTENT"));
        assert!(!credential_name("CACHE_KEY_PREFIX"));
        assert!(credential_value("---BEGIN RSA PRIVATE KEY---\nMIIE"));
        assert!(credential_value("-----BEGIN PRIVATE KEY-----\nMIIE"));
    }
}
