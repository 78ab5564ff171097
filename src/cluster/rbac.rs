//! RBAC objects, read only when they explain something: a collected log line where the API server
//! refuses a pod's ServiceAccount. Then both sources read, for the namespaces those refusals
//! involve (the account's and the one it asked about), the RoleBindings and Roles, plus the
//! ClusterRoleBindings and ClusterRoles: one small extra wave of requests, none on a run that saw
//! no refusal.

use std::collections::BTreeSet;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};

use crate::analyze::access;
use crate::context::Context;

/// What the cluster grants, as far as the refusals seen need it.
#[derive(Debug, Clone, Default)]
pub struct Rbac {
    /// The namespaces whose RoleBindings and Roles were read.
    pub namespaces: Vec<String>,
    pub role_bindings: Vec<RoleBinding>,
    pub roles: Vec<Role>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    pub cluster_roles: Vec<ClusterRole>,
}

/// Namespaces read for refusals at most: each costs two requests.
pub(crate) const MAX_NAMESPACES: usize = 4;

/// The namespaces whose RBAC explains the refusals in the collected logs, at most
/// [`MAX_NAMESPACES`]; empty when no log shows one.
pub(crate) fn namespaces_to_read(ctx: &Context) -> Vec<String> {
    let mut out = BTreeSet::new();
    let texts = ctx
        .logs
        .values()
        .flat_map(|l| [l.current.as_deref(), l.previous.as_deref()])
        .flatten()
        .filter(|t| t.contains("system:serviceaccount:"));
    for text in texts {
        for r in text.lines().filter_map(access::refusal) {
            out.insert(r.namespace.clone());
            out.extend(r.scope);
        }
    }
    out.into_iter().take(MAX_NAMESPACES).collect()
}
