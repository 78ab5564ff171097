//! A log line where the API server refuses a pod's ServiceAccount:
//! `pods is forbidden: User "system:serviceaccount:app:worker" cannot list resource "pods" in API
//! group "" in the namespace "app"`. The operator needs the account, the verb and the resource,
//! and what the account is granted: its bindings and their roles (read for this, see
//! `cluster::rbac`).

use crate::cluster::kinds;
use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef, Subject};

use crate::context::Context;

/// What the API server refused, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub namespace: String,
    pub account: String,
    pub verb: String,
    pub resource: String,
    pub group: String,
    /// The namespace the request was for; `None` at cluster scope.
    pub scope: Option<String>,
}

impl Refusal {
    pub(crate) fn evidence(&self) -> String {
        let group = if self.group.is_empty() {
            "core".to_string()
        } else {
            self.group.clone()
        };
        let scope = match &self.scope {
            Some(ns) => format!("in namespace {ns}"),
            None => "at cluster scope".to_string(),
        };
        format!(
            "the API server refuses ServiceAccount {}/{}: it may not {} {} (API group {group}) {scope}",
            self.namespace, self.account, self.verb, self.resource
        )
    }

    pub(crate) fn fix(&self) -> String {
        let sa = format!("{}:{}", self.namespace, self.account);
        match &self.scope {
            Some(ns) => format!(
                "Grant ServiceAccount {sa} {} on {} in {ns}: `kubectl create role {}-{} --verb={} --resource={} -n {ns}` and `kubectl create rolebinding {}-{} --role={}-{} --serviceaccount={sa} -n {ns}` (check what it has with `kubectl auth can-i --list --as=system:serviceaccount:{sa} -n {ns}`).",
                self.verb,
                self.resource,
                self.account,
                self.resource,
                self.verb,
                self.resource,
                self.account,
                self.resource,
                self.account,
                self.resource
            ),
            None => format!(
                "Grant ServiceAccount {sa} {} on {} cluster-wide with a ClusterRole and ClusterRoleBinding (`kubectl create clusterrole ... --verb={} --resource={}`), or make the app ask only in its own namespace.",
                self.verb, self.resource, self.verb, self.resource
            ),
        }
    }
}

/// What the account is granted, as far as the RBAC objects read show it.
pub(crate) struct Grants {
    pub evidence: Vec<String>,
    /// A Role or ClusterRole that allows the request but is not bound to the account.
    pub unbound: Option<(String, String)>,
    /// A bound Role that grants the resource but not the verb: the one to extend.
    pub short: Option<(String, String)>,
    /// A binding that names the account in another namespace, as kubectl edits it
    /// (`clusterrolebinding kube-state-metrics`, `rolebinding x -n ns`).
    pub misnamed: Option<String>,
}

/// The account's bindings and the roles they grant, and a role that would allow the refused
/// request; `None` when its namespace's RBAC was not read (or could not be).
pub(crate) fn grants(ctx: &Context, r: &Refusal) -> Option<Grants> {
    let rbac = &ctx.rbac;
    // What could not be read (forbidden, not in the snapshot) is not "no binding".
    let (namespaced, cluster) = (
        ctx.has(&kinds::ROLE_BINDINGS),
        ctx.has(&kinds::CLUSTER_ROLE_BINDINGS),
    );
    if !rbac.namespaces.contains(&r.namespace) || !(namespaced || cluster) {
        return None;
    }
    let mut bound: Vec<(String, &RoleRef, Option<&str>)> = Vec::new();
    for b in rbac.role_bindings.iter().filter(|_| namespaced) {
        let ns = b.metadata.namespace.as_deref().unwrap_or_default();
        if binds(r, b.subjects.as_deref(), Some(ns)) {
            let name = b.metadata.name.as_deref().unwrap_or_default();
            bound.push((format!("RoleBinding {ns}/{name}"), &b.role_ref, Some(ns)));
        }
    }
    for b in rbac.cluster_role_bindings.iter().filter(|_| cluster) {
        if binds(r, b.subjects.as_deref(), None) {
            let name = b.metadata.name.as_deref().unwrap_or_default();
            bound.push((format!("ClusterRoleBinding {name}"), &b.role_ref, None));
        }
    }
    let who = format!("ServiceAccount {}/{}", r.namespace, r.account);
    let mut evidence = Vec::new();
    if bound.is_empty() && namespaced && cluster {
        evidence.push(format!(
            "no RoleBinding (in {}) or ClusterRoleBinding names {who}: it has only what every account has",
            rbac.namespaces.join(", ")
        ));
    }
    let misses = near_misses(ctx, r);
    let misnamed = misses.first().map(|(edit, _)| edit.clone());
    evidence.extend(misses.into_iter().map(|(_, line)| line));
    for (binding, role, ns) in bound.iter().take(6) {
        let rules = rules_of(ctx, role, *ns);
        let what = match rules {
            Some(rules) => summarize(rules),
            None => "which does not exist".to_string(),
        };
        evidence.push(format!(
            "{who} has {binding} -> {} {}: {what}",
            role.kind, role.name
        ));
    }
    let short = bound
        .iter()
        .filter(|(_, role, ns)| role.kind == "Role" && ns.is_some() && *ns == r.scope.as_deref())
        .find(|(_, role, ns)| {
            rules_of(ctx, role, *ns).is_some_and(|rules| {
                rules.iter().any(|rule| {
                    let on = |list: Option<&[String]>, want: &str| {
                        list.unwrap_or_default()
                            .iter()
                            .any(|x| x == "*" || x == want)
                    };
                    on(rule.resources.as_deref(), &r.resource)
                        && on(rule.api_groups.as_deref(), &r.group)
                })
            })
        })
        .map(|(_, role, ns)| (role.name.clone(), ns.unwrap_or_default().to_string()));
    Some(Grants {
        evidence,
        unbound: unbound_role(ctx, r, &bound),
        short,
        misnamed,
    })
}

/// Bindings that name an account of the same name in another namespace: the classic slip of a
/// manifest written for kube-system and deployed elsewhere.
fn near_misses(ctx: &Context, r: &Refusal) -> Vec<(String, String)> {
    let elsewhere = |subjects: Option<&[Subject]>, binding_ns: Option<&str>| {
        subjects.unwrap_or_default().iter().find_map(|s| {
            let ns = s.namespace.as_deref().or(binding_ns)?;
            (s.kind == "ServiceAccount" && s.name == r.account && ns != r.namespace)
                .then(|| ns.to_string())
        })
    };
    let rb = ctx.rbac.role_bindings.iter().filter_map(|b| {
        let ns = b.metadata.namespace.as_deref();
        let other = elsewhere(b.subjects.as_deref(), ns)?;
        let (ns, name) = (
            ns.unwrap_or_default(),
            b.metadata.name.as_deref().unwrap_or_default(),
        );
        Some((
            format!("rolebinding {name} -n {ns}"),
            format!(
                "RoleBinding {ns}/{name} names ServiceAccount {other}/{}, not {}/{}",
                r.account, r.namespace, r.account
            ),
        ))
    });
    let crb = ctx.rbac.cluster_role_bindings.iter().filter_map(|b| {
        let other = elsewhere(b.subjects.as_deref(), None)?;
        let name = b.metadata.name.as_deref().unwrap_or_default();
        Some((
            format!("clusterrolebinding {name}"),
            format!(
                "ClusterRoleBinding {name} names ServiceAccount {other}/{}, not {}/{}",
                r.account, r.namespace, r.account
            ),
        ))
    });
    rb.chain(crb).take(3).collect()
}

/// Whether `subjects` include the account: by name, or through its groups.
fn binds(r: &Refusal, subjects: Option<&[Subject]>, binding_ns: Option<&str>) -> bool {
    let groups = [
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{}", r.namespace),
    ];
    subjects
        .unwrap_or_default()
        .iter()
        .any(|s| match s.kind.as_str() {
            "ServiceAccount" => {
                s.name == r.account
                    && s.namespace.as_deref().or(binding_ns) == Some(r.namespace.as_str())
            }
            "Group" => groups.contains(&s.name),
            _ => false,
        })
}

fn rules_of<'a>(ctx: &'a Context, role: &RoleRef, ns: Option<&str>) -> Option<&'a [PolicyRule]> {
    let named = |name: Option<&String>| name.map(String::as_str) == Some(role.name.as_str());
    if role.kind == "Role" {
        let found =
            ctx.rbac.roles.iter().find(|x| {
                named(x.metadata.name.as_ref()) && x.metadata.namespace.as_deref() == ns
            })?;
        return Some(found.rules.as_deref().unwrap_or_default());
    }
    let found = ctx
        .rbac
        .cluster_roles
        .iter()
        .find(|x| named(x.metadata.name.as_ref()))?;
    Some(found.rules.as_deref().unwrap_or_default())
}

/// `get, list on pods; create on events`, at most four rules.
fn summarize(rules: &[PolicyRule]) -> String {
    if rules.is_empty() {
        return "no rules".into();
    }
    let mut parts: Vec<String> = rules
        .iter()
        .take(4)
        .map(|rule| {
            let on = rule
                .resources
                .as_deref()
                .map(|r| r.join(", "))
                .or_else(|| rule.non_resource_urls.as_deref().map(|u| u.join(", ")))
                .unwrap_or_default();
            format!("{} on {on}", rule.verbs.join(", "))
        })
        .collect();
    if rules.len() > 4 {
        parts.push(format!("{} more rules", rules.len() - 4));
    }
    parts.join("; ")
}

fn allows(rules: &[PolicyRule], r: &Refusal) -> bool {
    let has = |list: Option<&[String]>, want: &str| {
        list.unwrap_or_default()
            .iter()
            .any(|x| x == "*" || x == want)
    };
    rules.iter().any(|rule| {
        has(Some(&rule.verbs), &r.verb)
            && has(rule.resources.as_deref(), &r.resource)
            && has(rule.api_groups.as_deref(), &r.group)
    })
}

/// The default user-facing roles: each allows far more than one refused request needs.
const BROAD: &[&str] = &["cluster-admin", "admin", "edit", "view"];

/// A role in reach of the request (a Role of the namespace asked about, or a ClusterRole) that
/// allows it, and is not what the account's bindings already grant: bind it rather than write a
/// new one. System roles are left out: granting `system:*` roles to an app is rarely meant.
fn unbound_role(
    ctx: &Context,
    r: &Refusal,
    bound: &[(String, &RoleRef, Option<&str>)],
) -> Option<(String, String)> {
    let is_bound = |kind: &str, name: &str| {
        bound
            .iter()
            .any(|(_, b, _)| b.kind == kind && b.name == name)
    };
    let roles = ctx
        .rbac
        .roles
        .iter()
        .filter(|x| r.scope.is_some() && x.metadata.namespace == r.scope);
    for role in roles {
        let name = role.metadata.name.clone().unwrap_or_default();
        if !is_bound("Role", &name) && allows(role.rules.as_deref().unwrap_or_default(), r) {
            return Some(("Role".into(), name));
        }
    }
    ctx.rbac.cluster_roles.iter().find_map(|x| {
        let name = x.metadata.name.clone().unwrap_or_default();
        (!name.starts_with("system:")
            && !BROAD.contains(&name.as_str())
            && !is_bound("ClusterRole", &name)
            && allows(x.rules.as_deref().unwrap_or_default(), r))
        .then(|| ("ClusterRole".to_string(), name))
    })
}

impl Refusal {
    /// The fix when a binding names the account in another namespace: correct its subject.
    pub(crate) fn subject_fix(&self, edit: &str) -> String {
        format!(
            "Set the subject's namespace to {} in `kubectl edit {edit}` (it names ServiceAccount {} of another namespace), so it grants ServiceAccount {}:{} what it lacks.",
            self.namespace, self.account, self.namespace, self.account
        )
    }

    /// The fix when a bound Role grants the resource but not the verb: add the verb to it.
    pub(crate) fn extend_fix(&self, role: &str, ns: &str) -> String {
        // An informer lists, then watches: granting one without the other fails again at once.
        let verbs = if matches!(self.verb.as_str(), "list" | "watch") {
            "list, watch".to_string()
        } else {
            self.verb.clone()
        };
        format!(
            "Role {role} is bound to ServiceAccount {}:{} and grants {} but not {}: add {verbs} to its verbs for {} (`kubectl edit role {role} -n {ns}`).",
            self.namespace, self.account, self.resource, self.verb, self.resource
        )
    }

    /// The fix when a role that allows the request exists: bind it, in the namespace asked about
    /// (or cluster-wide for a cluster-scoped request).
    pub(crate) fn bind_fix(&self, kind: &str, role: &str) -> String {
        let sa = format!("{}:{}", self.namespace, self.account);
        let flag = if kind == "Role" {
            "role"
        } else {
            "clusterrole"
        };
        match &self.scope {
            Some(ns) => format!(
                "{kind} {role} allows {} on {} but is not bound to ServiceAccount {sa}: `kubectl create rolebinding {}-{role} --{flag}={role} --serviceaccount={sa} -n {ns}`.",
                self.verb, self.resource, self.account
            ),
            None => format!(
                "ClusterRole {role} allows {} on {} but is not bound to ServiceAccount {sa}: `kubectl create clusterrolebinding {}-{role} --clusterrole={role} --serviceaccount={sa}`.",
                self.verb, self.resource, self.account
            ),
        }
    }
}

/// The refusal a log line reports, when it is one for a ServiceAccount.
pub(crate) fn refusal(line: &str) -> Option<Refusal> {
    // klog's structured lines quote the message again: `err="... User \"system:...\" ..."`.
    let line = line.replace("\\\"", "\"");
    let rest = &line[line.find("User \"system:serviceaccount:")? + 28..];
    let (who, rest) = rest.split_once('"')?;
    let (namespace, account) = who.split_once(':')?;
    let rest = rest.trim_start().strip_prefix("cannot ")?;
    let (verb, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("resource \"")?;
    let (resource, rest) = rest.split_once('"')?;
    let group = rest
        .split_once("in API group \"")
        .and_then(|(_, g)| g.split_once('"'))
        .map(|(g, _)| g.to_string())
        .unwrap_or_default();
    // A clipped line may have lost its tail: only "at the cluster scope" (or a kind that has no
    // namespace) says cluster-wide.
    let cluster_kind = crate::cluster::kinds::ALL
        .iter()
        .any(|k| k.plural == resource && k.group == group && !k.namespaced);
    let scope = if cluster_kind || rest.contains("at the cluster scope") {
        None
    } else {
        let named = rest
            .split_once("in the namespace \"")
            .and_then(|(_, n)| n.split_once('"'))
            .map(|(n, _)| n.to_string());
        Some(named.unwrap_or_else(|| namespace.to_string()))
    };
    Some(Refusal {
        namespace: namespace.to_string(),
        account: account.to_string(),
        verb: verb.to_string(),
        resource: resource.to_string(),
        group,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_api_servers_refusal() {
        let line = r#"E1120 09:58:01.123 reflector.go:150] pkg/mod/k8s.io/client-go/tools/cache/reflector.go:125: Failed to list *v1.Pod: pods is forbidden: User "system:serviceaccount:shop:watcher" cannot list resource "pods" in API group "" in the namespace "shop""#;
        let r = refusal(line).unwrap();
        assert_eq!(
            (
                r.namespace.as_str(),
                r.account.as_str(),
                r.verb.as_str(),
                r.resource.as_str()
            ),
            ("shop", "watcher", "list", "pods")
        );
        assert_eq!(r.scope.as_deref(), Some("shop"));
        assert!(
            r.evidence()
                .contains("may not list pods (API group core) in namespace shop")
        );
        let klog = r#"E1120 reflector.go:158] "Unhandled Error" err="failed to list *v1.Pod: pods is forbidden: User \"system:serviceaccount:ops:pod-reaper\" cannot list resource \"pods\" in API group \"\" in the namespace \"ops\"""#;
        assert_eq!(refusal(klog).unwrap().account, "pod-reaper");
        let cluster = r#"nodes is forbidden: User "system:serviceaccount:monitoring:agent" cannot watch resource "nodes" in API group "" at the cluster scope"#;
        assert_eq!(refusal(cluster).unwrap().scope, None);
        assert!(refusal("connection refused").is_none());
    }

    fn ctx_with(rbac: serde_json::Value) -> Context {
        let mut ctx = Context::empty(
            "test",
            crate::context::Scope::AllNamespaces,
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        );
        fn list<T: serde::de::DeserializeOwned>(v: &serde_json::Value, k: &str) -> Vec<T> {
            serde_json::from_value(v[k].clone()).unwrap_or_default()
        }
        ctx.rbac = crate::cluster::rbac::Rbac {
            namespaces: vec!["shop".into()],
            role_bindings: list(&rbac, "rb"),
            roles: list(&rbac, "roles"),
            cluster_role_bindings: list(&rbac, "crb"),
            cluster_roles: list(&rbac, "cr"),
        };
        ctx
    }

    #[test]
    fn grants_name_the_bindings_and_the_role_to_bind_or_extend() {
        let line = r#"pods is forbidden: User "system:serviceaccount:shop:watcher" cannot list resource "pods" in API group "" in the namespace "shop""#;
        let r = refusal(line).unwrap();
        let rule = |verbs: &[&str]| serde_json::json!([{"apiGroups": [""], "resources": ["pods"], "verbs": verbs}]);
        let none = grants(&ctx_with(serde_json::json!({})), &r).unwrap();
        assert!(none.evidence[0].starts_with(
            "no RoleBinding (in shop) or ClusterRoleBinding names ServiceAccount shop/watcher"
        ));
        assert_eq!((none.short, none.unbound), (None, None));

        // A Role that would do, bound to nobody; the broad defaults are never offered.
        let ctx = ctx_with(serde_json::json!({
            "roles": [{"metadata": {"name": "pod-lister", "namespace": "shop"}, "rules": rule(&["list", "watch"])}],
            "cr": [{"metadata": {"name": "admin"}, "rules": rule(&["*"])}],
        }));
        let g = grants(&ctx, &r).unwrap();
        assert_eq!(g.unbound, Some(("Role".into(), "pod-lister".into())));
        assert!(
            r.bind_fix("Role", "pod-lister")
                .contains("--role=pod-lister --serviceaccount=shop:watcher -n shop")
        );

        // Bound through the namespace's group, to a Role short of the verb: extend it.
        let ctx = ctx_with(serde_json::json!({
            "roles": [{"metadata": {"name": "reaper", "namespace": "shop"}, "rules": rule(&["get", "delete"])}],
            "rb": [{"metadata": {"name": "all-sa", "namespace": "shop"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reaper"},
                    "subjects": [{"kind": "Group", "name": "system:serviceaccounts:shop"}]}],
            "crb": [{"metadata": {"name": "other"},
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "gone"},
                     "subjects": [{"kind": "ServiceAccount", "name": "watcher", "namespace": "shop"}]}],
        }));
        let g = grants(&ctx, &r).unwrap();
        assert_eq!(
            g.evidence,
            [
                "ServiceAccount shop/watcher has RoleBinding shop/all-sa -> Role reaper: get, delete on pods",
                "ServiceAccount shop/watcher has ClusterRoleBinding other -> ClusterRole gone: which does not exist",
            ]
        );
        assert_eq!(g.short, Some(("reaper".into(), "shop".into())));
        assert!(
            r.extend_fix("reaper", "shop")
                .contains("add list, watch to its verbs")
        );
        // Another namespace's RBAC was not read: nothing is claimed about it.
        let elsewhere = Refusal {
            namespace: "ops".into(),
            ..r
        };
        assert!(grants(&ctx, &elsewhere).is_none());
    }
}
