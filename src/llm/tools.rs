//! Follow-up tools the model may call when the prompt's evidence is not enough: read-only, answered
//! from the context already collected (no new request reaches the cluster), bounded by the number of
//! steps, and redacted like everything else that is sent.

use async_openai::types::chat::{ChatCompletionTool, ChatCompletionTools, FunctionObject};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cluster::kinds;
use crate::context::{Context, event_count};

/// The read-only tools, and `propose_changes` when the caller can turn proposals into a plan.
pub fn definitions(propose: bool) -> Vec<ChatCompletionTools> {
    let tool = |name: &str, description: &str, parameters: Value| {
        ChatCompletionTools::Function(ChatCompletionTool {
            function: FunctionObject {
                name: name.into(),
                description: Some(description.into()),
                parameters: Some(parameters),
                strict: None,
            },
        })
    };
    [
        tool(
            Tool::Logs.name(),
            "The collected log tail of one container (current, or previous for a restarted one).",
            json!({"type": "object", "properties": {
                "pod": {"type": "string"}, "container": {"type": "string"},
                "previous": {"type": "boolean"}, "namespace": {"type": "string"}},
                "required": ["pod"], "additionalProperties": false}),
        ),
        tool(
            Tool::Events.name(),
            "Warning events about one object, newest first.",
            json!({"type": "object", "properties": {
                "kind": {"type": "string"}, "name": {"type": "string"}, "namespace": {"type": "string"}},
                "required": ["kind", "name"], "additionalProperties": false}),
        ),
        tool(
            Tool::Object.name(),
            "One object as the API server returned it (managedFields removed; Secrets and ConfigMaps as keys only).",
            json!({"type": "object", "properties": {
                "kind": {"type": "string"}, "name": {"type": "string"}, "namespace": {"type": "string"}},
                "required": ["kind", "name"], "additionalProperties": false}),
        ),
    ]
    .into_iter()
    .chain(propose.then(|| {
        tool(
            crate::plan::proposal::TOOL,
            "Propose changes to the cluster when the operator asks for one (scale, fix, restart, autoscale, set an image or resources). kubectl-ai validates them, shows a diff and asks the operator; nothing is applied without their consent.",
            crate::plan::proposal::schema(),
        )
    }))
    .collect()
}

/// ", of which N for the tools a, b": the part of a prompt's size `--show-prompt` cannot print.
pub fn describe(definitions: &[ChatCompletionTools]) -> String {
    if definitions.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = definitions
        .iter()
        .map(|t| match t {
            ChatCompletionTools::Function(f) => f.function.name.as_str(),
            _ => "?",
        })
        .collect();
    format!(
        ", of which {} for the definitions of the tools {}",
        super::tokens::of_tools(definitions),
        names.join(", ")
    )
}

/// The read-only tools: their names said once, for the definitions and for the dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tool {
    Logs,
    Events,
    Object,
}

impl Tool {
    const ALL: [Tool; 3] = [Tool::Logs, Tool::Events, Tool::Object];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Tool::Logs => "get_logs",
            Tool::Events => "get_events",
            Tool::Object => "get_object",
        }
    }

    fn named(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogArgs {
    pod: String,
    container: Option<String>,
    #[serde(default)]
    previous: bool,
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectArgs {
    kind: String,
    name: String,
    namespace: Option<String>,
}

/// Runs one tool call; anything wrong with it is explained to the model, not raised.
pub fn run(ctx: &Context, name: &str, arguments: &str) -> String {
    let parsed = |e: serde_json::Error| format!("invalid arguments for {name}: {e}");
    match Tool::named(name) {
        Some(Tool::Logs) => match serde_json::from_str::<LogArgs>(arguments) {
            Ok(a) => logs(ctx, a),
            Err(e) => parsed(e),
        },
        Some(tool @ (Tool::Events | Tool::Object)) => {
            match serde_json::from_str::<ObjectArgs>(arguments) {
                Ok(a) if tool == Tool::Events => events(ctx, a),
                Ok(a) => object(ctx, a),
                Err(e) => parsed(e),
            }
        }
        None => {
            let [logs, events, object] = Tool::ALL.map(Tool::name);
            format!("there is no tool named {name:?}; the tools are {logs}, {events} and {object}")
        }
    }
}

fn in_ns(meta_ns: Option<&str>, wanted: &Option<String>) -> bool {
    wanted.as_deref().is_none_or(|w| meta_ns == Some(w))
}

fn logs(ctx: &Context, a: LogArgs) -> String {
    let found: Vec<_> = ctx
        .logs
        .iter()
        .filter(|(k, _)| k.pod == a.pod && in_ns(Some(&k.namespace), &a.namespace))
        .filter(|(k, _)| a.container.as_deref().is_none_or(|c| c == k.container))
        .collect();
    let Some((key, logs)) = found.first() else {
        return format!(
            "no logs were collected for pod {} (logs are collected only for unhealthy containers, two pods per workload)",
            a.pod
        );
    };
    let text = if a.previous {
        &logs.previous
    } else {
        &logs.current
    };
    match text {
        Some(t) => format!(
            "{} log of pod {} container {} -n {}:\n{t}",
            if a.previous { "previous" } else { "current" },
            key.pod,
            key.container,
            key.namespace
        ),
        None => format!(
            "no {} log of pod {}",
            if a.previous { "previous" } else { "current" },
            a.pod
        ),
    }
}

fn events(ctx: &Context, a: ObjectArgs) -> String {
    let lines: Vec<String> = ctx
        .events
        .iter()
        .filter(|e| {
            let o = &e.involved_object;
            o.kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(&a.kind))
                && o.name.as_deref() == Some(a.name.as_str())
                && in_ns(o.namespace.as_deref(), &a.namespace)
        })
        .take(20)
        .map(|e| {
            format!(
                "{} (x{}): {}",
                e.reason.as_deref().unwrap_or_default(),
                event_count(e),
                e.message.as_deref().unwrap_or_default()
            )
        })
        .collect();
    if lines.is_empty() {
        format!("no warning events about {} {}", a.kind, a.name)
    } else {
        lines.join("\n")
    }
}

fn object(ctx: &Context, a: ObjectArgs) -> String {
    let kind = a.kind.to_lowercase();
    // kubectl's names and short names (the kinds table): what a TARGET may name, plus the kinds
    // only this tool reads.
    const ALSO: &[kinds::Kind] = &[
        kinds::STORAGE_CLASSES,
        kinds::SECRETS,
        kinds::CONFIG_MAPS,
        kinds::ENDPOINTS,
    ];
    let canonical = kinds::resolve(ALSO, &kind).or_else(|| crate::target::canonical(&kind));
    // The kinds this tool reads as whole objects.
    const READABLE: &[kinds::Kind] = &[
        kinds::PODS,
        kinds::DEPLOYMENTS,
        kinds::STATEFUL_SETS,
        kinds::DAEMON_SETS,
        kinds::REPLICA_SETS,
        kinds::JOBS,
        kinds::CRON_JOBS,
        kinds::SERVICES,
        kinds::ENDPOINTS,
        kinds::PVCS,
        kinds::INGRESSES,
        kinds::HPAS,
        kinds::NODES,
        kinds::STORAGE_CLASSES,
    ];
    let found = match canonical.unwrap_or_default() {
        secret_or_config @ ("Secret" | "ConfigMap") => {
            let list = if secret_or_config == "Secret" {
                &ctx.secrets
            } else {
                &ctx.config_maps
            };
            return list
                .iter()
                .find(|k| k.name == a.name && in_ns(Some(&k.namespace), &a.namespace))
                .map(|k| {
                    format!(
                        "{} {} -n {} has keys: {} (values are never read)",
                        a.kind,
                        k.name,
                        k.namespace,
                        k.keys.join(", ")
                    )
                })
                .unwrap_or_else(|| format!("no {} named {} was collected", a.kind, a.name));
        }
        name => match READABLE.iter().find(|k| k.kind == name) {
            Some(kind) => ctx.objects_of(kind).into_iter().find(|o| {
                let r = o.reference();
                r.name == a.name && in_ns(r.namespace.as_deref(), &a.namespace)
            }),
            None => {
                return format!(
                    "kind {:?} is not collected; try Pod, Deployment, StatefulSet, Service, PersistentVolumeClaim, Ingress, HorizontalPodAutoscaler, Node, Secret or ConfigMap",
                    a.kind
                );
            }
        },
    };
    match found.map(|o| o.to_value()) {
        Some(mut v) => {
            if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
            serde_json::to_string_pretty(&v).unwrap_or_default()
        }
        None => format!("no {} named {} was collected in scope", a.kind, a.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::logs::Tail;
    use crate::cluster::snapshot::{Root, load};

    #[test]
    fn tools_answer_from_the_context_for_every_kind_name() {
        let ctx = load(&Root::Demo, None, Tail::default()).unwrap();
        for kind in [
            "Deployment",
            "deploy",
            "StatefulSet",
            "sts",
            "Service",
            "svc",
            "HorizontalPodAutoscaler",
            "hpa",
        ] {
            let name = if kind.starts_with('s') || kind.starts_with('S') {
                "postgres"
            } else {
                "todo-backend"
            };
            let out = run(
                &ctx,
                "get_object",
                &json!({"kind": kind, "name": name}).to_string(),
            );
            assert!(
                out.starts_with('{') && out.contains(&format!("\"name\": \"{name}\"")),
                "{kind}: {out}"
            );
            assert!(!out.contains("managedFields"));
        }
        let out = run(
            &ctx,
            "get_object",
            r#"{"kind": "StorageClass", "name": "standard"}"#,
        );
        assert!(out.contains("\"provisioner\""), "{out}");
        let out = run(
            &ctx,
            "get_object",
            r#"{"kind": "ingresses", "name": "nope"}"#,
        );
        assert!(out.starts_with("no ingresses named nope"), "{out}");
        let out = run(
            &ctx,
            "get_object",
            r#"{"kind": "Secret", "name": "todo-db", "namespace": "todo-app"}"#,
        );
        assert_eq!(
            out,
            "Secret todo-db -n todo-app has keys: DATABASE_URL, POSTGRES_PASSWORD (values are never read)"
        );
        let out = run(
            &ctx,
            "get_events",
            r#"{"kind": "PersistentVolumeClaim", "name": "data-postgres-0"}"#,
        );
        assert!(out.contains("ProvisioningFailed"), "{out}");
        assert!(run(&ctx, "get_logs", r#"{"pod": "nope"}"#).starts_with("no logs were collected"));
        assert!(
            run(&ctx, "get_object", r#"{"kind": "Pod"}"#)
                .starts_with("invalid arguments for get_object")
        );
        assert!(run(&ctx, "rm_rf", "{}").contains("no tool named"));
    }
}
