//! Changes the LLM proposes, parsed strictly into typed actions.
//!
//! The model fills a JSON schema through the `propose_changes` tool; anything that does not parse
//! exactly (an unknown action type, an unknown field, a missing one) is an error and nothing is
//! applied. Parsing decides what the proposal *is*; whether it is allowed is for the policy check
//! and the user, never the model.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Action, fixes};
use crate::analyze::Finding;
use crate::context::{Context, ObjectRef};

pub(crate) const TOOL: &str = "propose_changes";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Proposal {
    actions: Vec<Proposed>,
    /// Why, in the model's words: shown beside each action.
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Proposed {
    Scale {
        kind: String,
        name: String,
        namespace: Option<String>,
        replicas: i32,
    },
    SetImage {
        kind: String,
        name: String,
        namespace: Option<String>,
        container: String,
        image: String,
    },
    SetResources {
        kind: String,
        name: String,
        namespace: Option<String>,
        container: String,
        requests: Option<BTreeMap<String, String>>,
        limits: Option<BTreeMap<String, String>>,
    },
    RolloutRestart {
        kind: String,
        name: String,
        namespace: Option<String>,
    },
    CreateHpa {
        kind: String,
        name: String,
        namespace: Option<String>,
        min_replicas: i32,
        max_replicas: i32,
        cpu_utilization: i32,
    },
    Delete {
        kind: String,
        name: String,
        namespace: Option<String>,
    },
    /// A patch of one existing object, in one of the API server's formats.
    Patch {
        kind: String,
        name: String,
        namespace: Option<String>,
        patch_type: super::PatchKind,
        patch: Value,
    },
    /// One of the analyzers' own fixes, by rule and object.
    ApplyFix {
        rule: String,
        kind: String,
        name: String,
        namespace: Option<String>,
    },
}

/// The tool's JSON schema, offered to the model.
pub fn schema() -> Value {
    let target = json!({"kind": {"type": "string", "description": "Deployment, StatefulSet, DaemonSet, Service, ..."},
                        "name": {"type": "string"}, "namespace": {"type": "string"}});
    let variant = |ty: &str, extra: Value, required: &[&str]| {
        let mut props = target.clone();
        props["type"] = json!({"const": ty});
        if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        let mut req = vec!["type", "kind", "name"];
        req.extend_from_slice(required);
        json!({"type": "object", "properties": props, "required": req, "additionalProperties": false})
    };
    let map = json!({"type": "object", "additionalProperties": {"type": "string"}});
    json!({
        "type": "object",
        "properties": {
            "reason": {"type": "string"},
            "actions": {"type": "array", "items": {"oneOf": [
                variant("scale", json!({"replicas": {"type": "integer", "minimum": 0}}), &["replicas"]),
                variant("set_image", json!({"container": {"type": "string"}, "image": {"type": "string"}}), &["container", "image"]),
                variant("set_resources", json!({"container": {"type": "string"}, "requests": map, "limits": map}), &["container"]),
                variant("rollout_restart", json!({}), &[]),
                variant("create_hpa", json!({"min_replicas": {"type": "integer"}, "max_replicas": {"type": "integer"}, "cpu_utilization": {"type": "integer"}}), &["min_replicas", "max_replicas", "cpu_utilization"]),
                variant("delete", json!({}), &[]),
                variant("apply_fix", json!({"rule": {"type": "string"}}), &["rule"]),
                variant("patch", json!({"patch_type": {"enum": ["merge", "strategic", "json"]}, "patch": {}}), &["patch_type", "patch"]),
            ]}},
        },
        "required": ["actions"],
        "additionalProperties": false,
    })
}

/// Parses the tool's arguments into actions; `namespace` is used where the model gives none.
/// Each action carries what justifies it: a finding about its object or the operator's own
/// `words` naming it (the plan refuses those with neither).
pub(crate) fn parse(
    arguments: &str,
    ctx: &Context,
    findings: &[Finding],
    words: &str,
    namespace: Option<&str>,
) -> Result<Vec<Action>, String> {
    let mut actions = parse_actions(arguments, findings, namespace)?;
    for a in &mut actions {
        let because = super::justify::because(ctx, findings, words, &a.target);
        let reason = std::mem::take(&mut a.why);
        a.why = match &because {
            Some(b) => format!("{b}; the model: {reason}"),
            None => format!("nothing calls for it; the model: {reason}"),
        };
        a.origin = super::Origin::Model { because };
    }
    Ok(actions)
}

fn parse_actions(
    arguments: &str,
    findings: &[Finding],
    namespace: Option<&str>,
) -> Result<Vec<Action>, String> {
    let proposal: Proposal = serde_json::from_str(arguments)
        .map_err(|e| format!("the model proposed an invalid change: {e}"))?;
    let why = if proposal.reason.trim().is_empty() {
        "proposed by the model".to_string()
    } else {
        proposal.reason.clone()
    };
    let target = |kind: &str, name: &str, ns: &Option<String>| {
        let known = super::kind_named(kind).ok_or_else(|| {
            format!("the model proposed a change to an unsupported kind {kind:?}")
        })?;
        let ns = if known.namespaced {
            ns.as_deref().or(namespace)
        } else {
            None
        };
        if known.namespaced && ns.is_none() {
            return Err(format!(
                "the model proposed a change to {kind} {name} without a namespace"
            ));
        }
        Ok::<_, String>(ObjectRef::new(known.kind, ns, name))
    };
    let mut actions = Vec::new();
    for p in proposal.actions {
        actions.push(match p {
            Proposed::Scale { kind, name, namespace, replicas } => {
                if replicas < 0 {
                    return Err(format!("the model proposed {replicas} replicas"));
                }
                Action::scale(target(&kind, &name, &namespace)?, replicas, why.clone())
            }
            Proposed::SetImage { kind, name, namespace, container, image } => {
                Action::set_image(target(&kind, &name, &namespace)?, &container, &image, why.clone())
            }
            Proposed::SetResources { kind, name, namespace, container, requests, limits } => {
                let mut resources = json!({});
                if let Some(r) = requests {
                    resources["requests"] = json!(r);
                }
                if let Some(l) = limits {
                    resources["limits"] = json!(l);
                }
                let shown = resources.to_string();
                Action::container(target(&kind, &name, &namespace)?, &container, json!({ "resources": resources }), format!("set resources of {container} to {shown}"), why.clone())
            }
            Proposed::RolloutRestart { kind, name, namespace } => {
                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                Action::rollout_restart(target(&kind, &name, &namespace)?, &now, why.clone())
            }
            Proposed::CreateHpa { kind, name, namespace, min_replicas, max_replicas, cpu_utilization } => {
                let t = target(&kind, &name, &namespace)?;
                if !(1..=max_replicas).contains(&min_replicas) || !(1..=100).contains(&cpu_utilization) {
                    return Err(format!("the model proposed an autoscaler with min {min_replicas}, max {max_replicas}, cpu {cpu_utilization}%"));
                }
                let api_version = super::kind_named(&t.kind).map(|k| k.api_version()).unwrap_or_default();
                let hpa = json!({
                    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                    "metadata": {"name": t.name, "namespace": t.namespace},
                    "spec": {"scaleTargetRef": {"apiVersion": api_version, "kind": t.kind, "name": t.name},
                             "minReplicas": min_replicas, "maxReplicas": max_replicas,
                             "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu_utilization}}}]}
                });
                let mut a = Action::apply_manifest(hpa, why.clone()).ok_or("invalid autoscaler")?;
                a.summary = format!("autoscale {} between {min_replicas} and {max_replicas} replicas at {cpu_utilization}% cpu", t);
                a
            }
            Proposed::Delete { kind, name, namespace } => Action::delete(target(&kind, &name, &namespace)?, why.clone()),
            Proposed::Patch { kind, name, namespace, patch_type, patch } => {
                if patch_type == super::PatchKind::Json && serde_json::from_value::<json_patch::Patch>(patch.clone()).is_err() {
                    return Err("the model proposed an invalid change: a JSON patch must be a list of RFC 6902 operations".into());
                }
                if patch_type != super::PatchKind::Json && !patch.is_object() {
                    return Err("the model proposed an invalid change: a merge patch must be an object".into());
                }
                Action::patch(target(&kind, &name, &namespace)?, patch_type, patch, why.clone())
            }
            Proposed::ApplyFix { rule, kind, name, namespace } => {
                let t = target(&kind, &name, &namespace)?;
                let wanted = rule.parse::<crate::analyze::Rule>().ok();
                let finding: Vec<Finding> = findings.iter().filter(|f| Some(f.rule) == wanted && f.object == t).cloned().collect();
                let fixes = fixes::for_findings(&finding);
                if fixes.is_empty() {
                    return Err(format!("there is no automatic fix for [{rule}] on {t}"));
                }
                actions.extend(fixes);
                continue;
            }
        });
    }
    Ok(actions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Scope;

    fn ctx() -> Context {
        Context::empty(
            "test",
            Scope::Namespace("app".into()),
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        )
    }

    #[test]
    fn parses_typed_actions_strictly() {
        let ok = parse(r#"{"actions": [{"type": "scale", "kind": "Deployment", "name": "web", "replicas": 3}], "reason": "asked"}"#, &ctx(), &[], "scale web to 3", Some("app")).unwrap();
        assert_eq!(
            ok[0].target,
            ObjectRef::new("Deployment", Some("app"), "web")
        );
        assert_eq!(
            ok[0].why,
            "your words: \"scale web to 3\"; the model: asked"
        );
        assert!(matches!(
            &ok[0].origin,
            crate::plan::Origin::Model { because: Some(_) }
        ));
        for bad in [
            r#"{"actions": [{"type": "explode", "kind": "Deployment", "name": "web"}]}"#,
            r#"{"actions": [{"type": "scale", "kind": "Deployment", "name": "web", "replicas": 3, "force": true}]}"#,
            r#"{"actions": [{"type": "scale", "kind": "Deployment", "name": "web"}]}"#,
            r#"{"actions": [{"type": "scale", "kind": "Gizmo", "name": "web", "replicas": 1}]}"#,
            r#"{"actions": "all of them"}"#,
            "not json",
        ] {
            assert!(parse(bad, &ctx(), &[], "", Some("app")).is_err(), "{bad}");
        }
        let ns = parse(
            r#"{"actions": [{"type": "delete", "kind": "Namespace", "name": "app"}]}"#,
            &ctx(),
            &[],
            "",
            Some("app"),
        )
        .unwrap();
        assert_eq!(
            ns[0].target.namespace, None,
            "cluster-scoped kinds get no namespace"
        );
    }
}
