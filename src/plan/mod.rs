//! Plans: the only way kubectl-ai changes a cluster.
//!
//! A plan is a list of typed actions, each with the reason it is proposed. Every producer (fixes
//! from the analyzers today; the LLM, deploy and recommend later) builds one and hands it to
//! [`execute::run`], which checks policy and permissions, validates every object with a
//! server-side dry run, shows the diff, asks, applies in dependency order and records what it
//! changed so `kubectl ai undo` can put it back.

pub(crate) mod diff;
pub(crate) mod execute;
pub(crate) mod fixes;
pub(crate) mod history;
mod justify;
mod landed;
pub(crate) mod policy;
pub(crate) mod proposal;
pub(crate) mod staged;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cluster::kinds::{self, Kind};
use crate::context::ObjectRef;

/// The field manager for everything kubectl-ai applies.
pub(crate) const FIELD_MANAGER: &str = "kubectl-ai";

/// What happens to one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type", content = "object")]
pub(crate) enum Change {
    /// Server-side apply of these fields (the rest of the object is left to its other managers).
    Apply(Value),
    /// Replace the whole object with this one: how undo restores an exact earlier state.
    Replace(Value),
    /// Patch the existing object (fails if it does not exist).
    Patch { kind: PatchKind, patch: Value },
    /// Delete the object.
    Delete,
}

/// The patch formats the API server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PatchKind {
    /// JSON merge patch (RFC 7386).
    Merge,
    /// Kubernetes strategic merge patch (lists merged by their keys, such as container names).
    Strategic,
    /// JSON patch (RFC 6902): a list of operations.
    Json,
}

/// Who proposed an action: the operator's own command (a fix they asked for, a deploy, an undo),
/// or the model, whose proposals must show what justifies them (src/plan/justify.rs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Origin {
    #[default]
    Operator,
    Model {
        /// The finding or the operator's words that call for it; `None` refuses the action.
        because: Option<String>,
    },
}

impl Origin {
    fn is_operator(&self) -> bool {
        *self == Origin::Operator
    }
}

/// One typed action and why it is proposed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Action {
    /// What it does, in a few words ("scale to 3 replicas").
    pub summary: String,
    /// The finding or request it answers.
    pub why: String,
    pub target: ObjectRef,
    pub change: Change,
    #[serde(default, skip_serializing_if = "Origin::is_operator")]
    pub origin: Origin,
}

/// A proposed set of changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Plan {
    pub actions: Vec<Action>,
}

impl Action {
    /// The kind's API coordinates, from the table every other part uses.
    pub(crate) fn kind(&self) -> Option<&'static Kind> {
        kind_named(&self.target.kind)
    }

    pub(crate) fn intent(target: &ObjectRef, spec: Value) -> Value {
        let kind = kind_named(&target.kind).map_or_else(|| "v1".to_string(), Kind::api_version);
        let mut metadata = json!({ "name": target.name });
        if let Some(ns) = &target.namespace {
            metadata["namespace"] = json!(ns);
        }
        let mut v = json!({ "apiVersion": kind, "kind": target.kind, "metadata": metadata });
        if let (Some(obj), Some(extra)) = (v.as_object_mut(), spec.as_object()) {
            obj.extend(extra.clone());
        }
        v
    }

    /// Sets a workload's replica count.
    pub(crate) fn scale(target: ObjectRef, replicas: i32, why: impl Into<String>) -> Action {
        Action {
            summary: format!("scale to {replicas} replicas"),
            why: why.into(),
            change: Change::Apply(Self::intent(
                &target,
                json!({ "spec": { "replicas": replicas } }),
            )),
            target,
            origin: Origin::Operator,
        }
    }

    /// Changes fields of one container of a workload's pod template (merged by container name).
    pub(crate) fn container(
        target: ObjectRef,
        container: &str,
        fields: Value,
        summary: String,
        why: impl Into<String>,
    ) -> Action {
        let mut c = json!({ "name": container });
        if let (Some(obj), Some(extra)) = (c.as_object_mut(), fields.as_object()) {
            obj.extend(extra.clone());
        }
        Action {
            summary,
            why: why.into(),
            change: Change::Apply(Self::intent(
                &target,
                json!({ "spec": { "template": { "spec": { "containers": [c] } } } }),
            )),
            target,
            origin: Origin::Operator,
        }
    }

    pub(crate) fn set_image(
        target: ObjectRef,
        container: &str,
        image: &str,
        why: impl Into<String>,
    ) -> Action {
        Self::container(
            target,
            container,
            json!({ "image": image }),
            format!("set image of {container} to {image}"),
            why,
        )
    }

    /// Sets a Service's selector.
    pub(crate) fn set_selector(
        target: ObjectRef,
        selector: &std::collections::BTreeMap<String, String>,
        why: impl Into<String>,
    ) -> Action {
        let text: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Action {
            summary: format!("set the selector to {}", text.join(",")),
            why: why.into(),
            change: Change::Apply(Self::intent(
                &target,
                json!({ "spec": { "selector": selector } }),
            )),
            target,
            origin: Origin::Operator,
        }
    }

    /// Restarts a workload's pods the way `kubectl rollout restart` does: a new template annotation.
    pub(crate) fn rollout_restart(target: ObjectRef, at: &str, why: impl Into<String>) -> Action {
        let spec = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}}});
        Action {
            summary: "rollout restart".into(),
            why: why.into(),
            change: Change::Apply(Self::intent(&target, spec)),
            target,
            origin: Origin::Operator,
        }
    }

    pub(crate) fn patch(
        target: ObjectRef,
        kind: PatchKind,
        patch: Value,
        why: impl Into<String>,
    ) -> Action {
        let format = match kind {
            PatchKind::Merge => "merge",
            PatchKind::Strategic => "strategic merge",
            PatchKind::Json => "JSON",
        };
        Action {
            summary: format!("{format} patch"),
            why: why.into(),
            change: Change::Patch { kind, patch },
            target,
            origin: Origin::Operator,
        }
    }

    pub(crate) fn delete(target: ObjectRef, why: impl Into<String>) -> Action {
        Action {
            summary: "delete".into(),
            why: why.into(),
            change: Change::Delete,
            target,
            origin: Origin::Operator,
        }
    }

    /// Applies a whole manifest (server-side apply).
    pub(crate) fn apply_manifest(object: Value, why: impl Into<String>) -> Option<Action> {
        let kind = object.get("kind")?.as_str()?;
        let meta = object.get("metadata")?;
        let target = ObjectRef::new(
            kind,
            meta.get("namespace").and_then(Value::as_str),
            meta.get("name")?.as_str()?,
        );
        Some(Action {
            summary: "apply".into(),
            why: why.into(),
            change: Change::Apply(object),
            target,
            origin: Origin::Operator,
        })
    }
}

pub use kinds::{apply_rank, named as kind_named};

impl Plan {
    /// Actions in dependency order (stable for equal ranks); deletions go last, in reverse.
    pub(crate) fn ordered(mut self) -> Plan {
        self.actions.sort_by_key(|a| match a.change {
            Change::Delete => 100 - apply_rank(&a.target.kind),
            _ => apply_rank(&a.target.kind),
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_compile_to_minimal_apply_intents_in_dependency_order() {
        let d = ObjectRef::new("Deployment", Some("app"), "web");
        let scale = Action::scale(d.clone(), 3, "asked");
        assert_eq!(
            scale.change,
            Change::Apply(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "app"}, "spec": {"replicas": 3}}))
        );
        let svc = ObjectRef::new("Service", Some("app"), "web");
        let cm = Action::apply_manifest(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "app"}}), "x").unwrap();
        let plan = Plan {
            actions: vec![Action::delete(svc.clone(), "x"), scale, cm],
        }
        .ordered();
        let kinds: Vec<&str> = plan
            .actions
            .iter()
            .map(|a| a.target.kind.as_str())
            .collect();
        assert_eq!(kinds, ["ConfigMap", "Deployment", "Service"]);
    }
}
