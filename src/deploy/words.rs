//! A request in words ("3 backend replicas, no ingress") turned by the LLM into the same
//! documented values `--set` takes, through one tool call that is checked key by key: the model
//! never writes YAML, and a value it invents is an error, not a manifest.

use std::sync::{Arc, Mutex};

use async_openai::types::chat::{ChatCompletionTool, ChatCompletionTools, FunctionObject};
use serde_json::{Map, Value, json};

use super::app::{KEYS, ValueKind, Values};
use crate::cli::LlmArgs;
use crate::config::Provider;
use crate::error::Error;
use crate::llm::Conversation;
use crate::llm::prompt;

pub const DEPLOY_PROMPT: &str = include_str!("../../prompts/deploy.md");
const TOOL: &str = "set_values";

fn schema() -> Value {
    let mut properties = Map::new();
    let mut patterns = Map::new();
    for k in KEYS {
        let t = match k.kind {
            ValueKind::Text => json!({"type": "string"}),
            ValueKind::Count => json!({"type": "integer", "minimum": 1, "maximum": 100}),
            ValueKind::Bool => json!({"type": "boolean"}),
            ValueKind::ServiceType => {
                json!({"type": "string", "enum": ["ClusterIP", "NodePort", "LoadBalancer"]})
            }
            ValueKind::NodePort => json!({"type": "integer", "minimum": 30000, "maximum": 32767}),
            ValueKind::Duration => json!({"type": "string", "pattern": "^([0-9]+(ms|[ywdhms]))+$"}),
        };
        let mut t = t;
        t["description"] = json!(k.help);
        match k.name.strip_suffix("NAME") {
            Some(prefix) => {
                let pattern = format!("^{}[A-Za-z0-9_-]+$", prefix.replace('.', "\\."));
                patterns.insert(pattern, t);
            }
            None => {
                properties.insert(k.name.to_string(), t);
            }
        }
    }
    json!({"type": "object", "properties": properties, "patternProperties": patterns, "additionalProperties": false})
}

/// What the model set, or why it could not be used.
#[derive(Default)]
struct Outcome {
    values: Option<Values>,
    errors: Vec<String>,
}

pub async fn values(args: &LlmArgs, request: &str) -> Result<Values, Error> {
    let settings = crate::ask::settings(args).map_err(|e| Error::Usage(format!("{e:#}")))?;
    if settings.provider == Provider::None {
        return Err(Error::Usage(
            "a request in words needs an LLM (OPENAI_API_KEY, or OPENAI_BASE_URL for a local server); without one, use --set KEY=VALUE (see --list-values)".into(),
        ));
    }
    let listing: Vec<String> = KEYS
        .iter()
        .map(|k| format!("- {} ({:?}): {}", k.name, k.kind, k.help))
        .collect();
    let header = format!(
        "Request from the operator:\n{request}\n\nThe documented values:\n{}",
        listing.join("\n")
    );
    let tool = ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObject {
            name: TOOL.into(),
            description: Some("Set documented values of the todo app.".into()),
            parameters: Some(schema()),
            strict: None,
        },
    });
    let prompt = prompt::build_once(
        DEPLOY_PROMPT,
        &header,
        Vec::new(),
        vec![tool],
        settings.max_context_tokens,
    )?;
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let kept = outcome.clone();
    let runner = Arc::new(move |name: &str, arguments: &str| {
        let mut o = kept.lock().expect("poisoned");
        if name != TOOL {
            o.errors
                .push(format!("the model called {name}, which was not offered"));
            return "Only set_values is available.".to_string();
        }
        let parsed: Result<Map<String, Value>, _> = serde_json::from_str(arguments);
        let mut values = Values::default();
        let result = parsed
            .map_err(|e| format!("the arguments are not a JSON object: {e}"))
            .and_then(|map| {
                map.into_iter()
                    .try_for_each(|(k, v)| values.set(&k, v).map_err(|e| e.to_string()))
            });
        match result {
            Ok(()) => {
                o.values = Some(values);
                "Recorded. kubectl-ai validates them and shows the operator the plan before anything changes.".to_string()
            }
            Err(e) => {
                o.errors.push(e.clone());
                format!("Rejected: {e}")
            }
        }
    });
    let conversation = Conversation {
        prompt,
        max_steps: 1,
        runner: Some(runner),
    };
    let mut sink = std::io::sink();
    crate::ask::answer(&settings, conversation, false, false, &mut sink).await?;
    let o = std::mem::take(&mut *outcome.lock().expect("poisoned"));
    if let Some(e) = o.errors.into_iter().next() {
        return Err(Error::InvalidProposal(format!(
            "the LLM's values were not valid: {e}"
        )));
    }
    o.values.ok_or_else(|| {
        Error::InvalidProposal(
            "the LLM did not turn the request into values; use --set KEY=VALUE (see --list-values)"
                .into(),
        )
    })
}
