//! What a model's proposal must show before it may run. The model reads text from the cluster
//! (logs, events, annotations) that anyone can write, so an instruction planted there must not
//! become a change: each action it proposes must answer a finding about its object or the
//! operator's own words naming it, and destruction needs consent of its own.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Action, Change, Origin, PatchKind, Plan};
use crate::analyze::Finding;
use crate::context::{Context, ObjectRef};
use crate::llm::prompt;

/// What justifies acting on `target`: a finding about it, or the operator's words naming it.
/// `words` are the operator's own (never piped text, which is data like the cluster's).
pub(crate) fn because(
    ctx: &Context,
    findings: &[Finding],
    words: &str,
    target: &ObjectRef,
) -> Option<String> {
    let only = BTreeSet::from([target.clone()]);
    if let Some(f) = findings.iter().find(|f| prompt::is_about(ctx, &only, f)) {
        return Some(format!("finding [{}] {}", f.rule, f.summary));
    }
    let name = target.name.to_lowercase();
    let named = prompt::objects_named(ctx, words).into_iter().any(|o| {
        o == *target || (o.name.to_lowercase() == name && o.namespace == target.namespace)
    });
    (named || words.to_lowercase().contains(&name))
        .then(|| format!("your words: {:?}", words.trim()))
}

/// Whether the action destroys something: a deletion, or scaling to zero replicas.
pub(crate) fn destructive(action: &Action) -> bool {
    match &action.change {
        Change::Delete => true,
        Change::Apply(body) | Change::Replace(body) => replicas_zero(body),
        Change::Patch {
            kind: PatchKind::Json,
            patch,
        } => patch.as_array().into_iter().flatten().any(|op| {
            op["path"] == "/spec/replicas"
                && matches!(op["op"].as_str(), Some("add" | "replace"))
                && op["value"] == 0
        }),
        Change::Patch { patch, .. } => replicas_zero(patch),
    }
}

fn replicas_zero(body: &Value) -> bool {
    body.pointer("/spec/replicas") == Some(&Value::from(0))
}

/// The model's actions that destroy something: they need `--allow-delete` or the object's name
/// typed on a terminal; `--yes` alone does not consent to them.
pub(crate) fn needing_consent(plan: &Plan) -> Vec<&Action> {
    plan.actions
        .iter()
        .filter(|a| matches!(a.origin, Origin::Model { .. }) && destructive(a))
        .collect()
}

/// Why the model's actions may not run at all, whatever the operator consents to.
pub(crate) fn refusals(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for a in &plan.actions {
        let Origin::Model { because } = &a.origin else {
            continue;
        };
        if a.change == Change::Delete && a.target.kind == "StatefulSet" {
            out.push(format!(
                "{}: a StatefulSet owns data and is never deleted on the model's proposal",
                a.target
            ));
        } else if because.is_none() {
            out.push(format!(
                "{}: the model proposed to {} but no finding and none of your words call for it",
                a.target, a.summary
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Scope;
    use serde_json::json;

    fn model(mut a: Action, because: Option<&str>) -> Action {
        a.origin = Origin::Model {
            because: because.map(str::to_string),
        };
        a
    }

    #[test]
    fn destruction_is_told_from_other_changes() {
        let d = ObjectRef::new("Deployment", Some("app"), "web");
        assert!(destructive(&Action::delete(d.clone(), "x")));
        assert!(destructive(&Action::scale(d.clone(), 0, "x")));
        assert!(!destructive(&Action::scale(d.clone(), 2, "x")));
        let zero = json!([{"op": "replace", "path": "/spec/replicas", "value": 0}]);
        assert!(destructive(&Action::patch(
            d.clone(),
            PatchKind::Json,
            zero,
            "x"
        )));
        let merge = json!({"spec": {"replicas": 0}});
        assert!(destructive(&Action::patch(
            d.clone(),
            PatchKind::Merge,
            merge,
            "x"
        )));
        let label = json!({"metadata": {"labels": {"a": "b"}}});
        assert!(!destructive(&Action::patch(
            d,
            PatchKind::Merge,
            label,
            "x"
        )));
    }

    #[test]
    fn the_model_needs_a_reason_and_never_deletes_a_statefulset() {
        let sts = ObjectRef::new("StatefulSet", Some("app"), "db");
        let web = ObjectRef::new("Deployment", Some("app"), "web");
        let plan = Plan {
            actions: vec![
                model(Action::delete(sts, "x"), Some("your words")),
                model(Action::scale(web.clone(), 3, "x"), None),
                model(Action::delete(web.clone(), "x"), Some("finding")),
                Action::delete(web, "the operator's own fix"),
            ],
        };
        let refused = refusals(&plan);
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(refused[0].contains("never deleted"), "{refused:?}");
        assert!(refused[1].contains("no finding"), "{refused:?}");
        assert_eq!(
            needing_consent(&plan).len(),
            2,
            "the model's deletions only"
        );
    }

    #[test]
    fn words_or_findings_justify() {
        let ctx = Context::empty(
            "test",
            Scope::Namespace("app".into()),
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        );
        let cm = ObjectRef::new("ConfigMap", Some("app"), "web-config");
        assert!(because(&ctx, &[], "recreate web-config", &cm).is_some());
        assert!(because(&ctx, &[], "fix the backend", &cm).is_none());
    }
}
