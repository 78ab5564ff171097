//! RBAC: roles that grant too much, bindings to cluster-admin, and workloads whose
//! ServiceAccount token carries those powers into every one of their containers.

use std::collections::HashMap;

use super::{RuleId, Sink};
use crate::recommend::inventory::At;
use crate::recommend::inventory::{Inventory, Object, Workload};
use crate::recommend::tree::Tree;

/// What one role grants that matters: wildcards, exec/attach, Secrets.
#[derive(Debug, Default, Clone)]
struct Powers {
    wildcards: Vec<String>,
    exec: Vec<String>,
    secrets: bool,
}

impl Powers {
    fn any(&self) -> bool {
        !self.wildcards.is_empty() || !self.exec.is_empty() || self.secrets
    }

    fn describe(&self) -> String {
        let mut parts = self.wildcards.clone();
        parts.extend(self.exec.iter().cloned());
        if self.secrets {
            parts.push("reading Secrets".into());
        }
        parts.join(", ")
    }
}

fn strings(v: &Tree, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Tree::as_array)
        .into_iter()
        .flatten()
        .filter_map(Tree::as_str)
        .map(str::to_string)
        .collect()
}

fn powers(role: &Object) -> Powers {
    let mut p = Powers::default();
    let rules = role.value.get("rules").and_then(Tree::as_array);
    for rule in rules.into_iter().flatten() {
        let (verbs, resources, groups) = (
            strings(rule, "verbs"),
            strings(rule, "resources"),
            strings(rule, "apiGroups"),
        );
        for (field, list) in [
            ("verbs", &verbs),
            ("resources", &resources),
            ("apiGroups", &groups),
        ] {
            if list.iter().any(|x| x == "*") && !p.wildcards.iter().any(|w| w.starts_with(field)) {
                p.wildcards.push(format!("{field}: *"));
            }
        }
        let core = groups.iter().any(|g| g.is_empty() || g == "*");
        let can = |wanted: &[&str]| {
            verbs
                .iter()
                .any(|v| v == "*" || wanted.contains(&v.as_str()))
        };
        for sub in ["pods/exec", "pods/attach"] {
            if core && resources.iter().any(|r| r == sub) && can(&["create", "get"]) {
                p.exec.push(sub.to_string());
            }
        }
        if core
            && resources.iter().any(|r| r == "secrets" || r == "*")
            && can(&["get", "list", "watch"])
        {
            p.secrets = true;
        }
    }
    p
}

pub(super) fn check(inv: &Inventory, workloads: &[Workload<'_>], sink: &mut Sink<'_>) {
    for role in inv.of_kind("Role").chain(inv.of_kind("ClusterRole")) {
        roles(role, sink);
    }
    // (namespace, ServiceAccount) -> what its bindings grant, and through which binding.
    let mut granted: HashMap<(String, String), Vec<(String, String)>> = HashMap::new();
    for b in inv
        .of_kind("RoleBinding")
        .chain(inv.of_kind("ClusterRoleBinding"))
    {
        let role_kind = b
            .value
            .at("/roleRef/kind")
            .and_then(Tree::as_str)
            .unwrap_or_default();
        let role_name = b
            .value
            .at("/roleRef/name")
            .and_then(Tree::as_str)
            .unwrap_or_default();
        let what = if role_kind == "ClusterRole" && role_name == "cluster-admin" {
            sink.add(
                RuleId::RbacClusterAdminBinding,
                b,
                None,
                format!(
                    "{} {} grants cluster-admin",
                    b.kind().to_lowercase(),
                    b.oref.name
                ),
                None,
            );
            "cluster-admin".to_string()
        } else {
            let role = inv.find(
                role_kind,
                if role_kind == "Role" {
                    b.namespace()
                } else {
                    ""
                },
                role_name,
            );
            match role.map(powers).filter(Powers::any) {
                Some(p) => p.describe(),
                None => continue,
            }
        };
        for s in b
            .value
            .get("subjects")
            .and_then(Tree::as_array)
            .into_iter()
            .flatten()
        {
            if s["kind"] != "ServiceAccount" {
                continue;
            }
            let ns = s["namespace"].as_str().unwrap_or(b.namespace()).to_string();
            let name = s["name"].as_str().unwrap_or_default().to_string();
            let via = format!("{} {}", b.kind().to_lowercase(), b.oref.name);
            granted
                .entry((ns, name))
                .or_default()
                .push((via, what.clone()));
        }
    }
    for w in workloads {
        #[allow(deprecated)]
        let account = w
            .spec
            .service_account_name
            .as_deref()
            .or(w.spec.service_account.as_deref())
            .filter(|a| !a.is_empty())
            .unwrap_or("default");
        if w.spec.automount_service_account_token == Some(false) {
            continue;
        }
        let key = (w.object.namespace().to_string(), account.to_string());
        let Some(grants) = granted.get(&key) else {
            continue;
        };
        let said: Vec<String> = grants
            .iter()
            .map(|(via, what)| format!("{what} ({via})"))
            .collect();
        sink.add(
            RuleId::RbacWorkloadPowers,
            w.object,
            None,
            format!(
                "its pods mount the token of ServiceAccount {account}, whose bindings grant {}",
                said.join("; ")
            ),
            None,
        );
    }
}

fn roles(role: &Object, sink: &mut Sink<'_>) {
    let p = powers(role);
    let what = format!("{} {}", role.kind().to_lowercase(), role.oref.name);
    if !p.wildcards.is_empty() {
        sink.add(
            RuleId::RbacWildcard,
            role,
            None,
            format!("{what} grants {}", p.wildcards.join(", ")),
            None,
        );
    }
    if !p.exec.is_empty() {
        sink.add(
            RuleId::RbacPodExec,
            role,
            None,
            format!("{what} grants {}", p.exec.join(" and ")),
            None,
        );
    }
}
