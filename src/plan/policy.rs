//! What kubectl-ai refuses to do, whoever asks: the model never decides what is safe.

use serde_json::Value;

use super::{Change, Plan};
use crate::context::Scope;

/// Every reason the plan is refused; empty when it may proceed.
pub(crate) fn check(plan: &Plan, scope: &Scope, delete_data: bool) -> Vec<String> {
    let mut refusals = Vec::new();
    for a in &plan.actions {
        let t = &a.target;
        let what = t.to_string();
        if t.namespace.as_deref() == Some("kube-system")
            || (t.kind == "Namespace" && t.name == "kube-system")
        {
            refusals.push(format!("{what}: changes in kube-system are refused"));
        }
        if let Some(ns) = &t.namespace
            && !scope.includes(ns)
        {
            refusals.push(format!("{what}: outside the namespace in play ({scope})"));
        }
        if matches!(t.kind.as_str(), "ClusterRole" | "ClusterRoleBinding") {
            refusals.push(format!("{what}: cluster-wide RBAC changes are refused"));
        }
        // `undeploy --delete-data` is the one explicit consent to deleting an app's own data.
        let data_consented =
            delete_data && matches!(t.kind.as_str(), "Namespace" | "PersistentVolumeClaim");
        if a.change == Change::Delete
            && !data_consented
            && matches!(
                t.kind.as_str(),
                "Namespace"
                    | "PersistentVolume"
                    | "PersistentVolumeClaim"
                    | "CustomResourceDefinition"
            )
        {
            refusals.push(format!(
                "{what}: deleting a {} (and its data) is refused",
                t.kind
            ));
        }
        if let Change::Apply(body) | Change::Replace(body) | Change::Patch { patch: body, .. } =
            &a.change
            && let Some(field) = privileged(body)
        {
            refusals.push(format!("{what}: privileged pods are refused ({field})"));
        }
    }
    refusals
}

/// The first privilege-granting field anywhere in an object.
fn privileged(v: &Value) -> Option<&'static str> {
    match v {
        Value::Object(m) => {
            for (key, field) in [
                ("privileged", "securityContext.privileged"),
                ("hostPID", "hostPID"),
                ("hostNetwork", "hostNetwork"),
                ("hostIPC", "hostIPC"),
            ] {
                if m.get(key) == Some(&Value::Bool(true)) {
                    return Some(field);
                }
            }
            m.values().find_map(privileged)
        }
        Value::Array(a) => a.iter().find_map(privileged),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ObjectRef;
    use crate::plan::Action;
    use serde_json::json;

    #[test]
    fn refuses_what_must_not_happen() {
        let scope = Scope::Namespace("app".into());
        let ns = ObjectRef::new("Namespace", None, "app");
        let refused = |a: Action| !check(&Plan { actions: vec![a] }, &scope, false).is_empty();
        // --delete-data is the one consent to deleting the app's claims and namespace.
        let with_consent = |a: Action| check(&Plan { actions: vec![a] }, &scope, true).is_empty();
        assert!(with_consent(Action::delete(
            ObjectRef::new("PersistentVolumeClaim", Some("app"), "data"),
            "x"
        )));
        assert!(!with_consent(Action::delete(
            ObjectRef::new("PersistentVolume", None, "pv-1"),
            "x"
        )));
        assert!(refused(Action::delete(ns, "a log line said so")));
        assert!(refused(Action::delete(
            ObjectRef::new("PersistentVolumeClaim", Some("app"), "data"),
            "x"
        )));
        assert!(refused(Action::scale(
            ObjectRef::new("Deployment", Some("kube-system"), "coredns"),
            0,
            "x"
        )));
        assert!(refused(Action::scale(
            ObjectRef::new("Deployment", Some("other"), "web"),
            0,
            "x"
        )));
        let evil = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "app"},
                          "spec": {"containers": [{"name": "c", "securityContext": {"privileged": true}}]}});
        assert!(refused(Action::apply_manifest(evil, "x").unwrap()));
        assert!(!refused(Action::scale(
            ObjectRef::new("Deployment", Some("app"), "web"),
            3,
            "x"
        )));
        assert!(!refused(Action::delete(
            ObjectRef::new("Service", Some("app"), "old"),
            "x"
        )));
    }
}
