//! A request in words ("3 backend replicas, no ingress") turned by the LLM into the same
//! documented values `--set` takes, through one tool call that is checked key by key: the model
//! never writes YAML, and a value it invents is an error, not a manifest.

use std::sync::Arc;

use async_openai::types::chat::{ChatCompletionTool, ChatCompletionTools, FunctionObject};
use serde_json::{Map, Value, json};

use super::app::{KEYS, ValueKind, Values};
use crate::config::{LlmSettings, Provider};
use crate::error::Error;
use crate::llm::Conversation;
use crate::llm::prompt;

pub(crate) const DEPLOY_PROMPT: &str = include_str!("../../prompts/deploy.md");
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

/// The values one tool call sets, or why they cannot be used.
fn read(name: &str, arguments: &str) -> Result<Values, String> {
    if name != TOOL {
        return Err(format!("the model called {name}, which was not offered"));
    }
    let map: Map<String, Value> = serde_json::from_str(arguments)
        .map_err(|e| format!("the arguments are not a JSON object: {e}"))?;
    let mut values = Values::default();
    map.into_iter()
        .try_for_each(|(k, v)| values.set(&k, v).map_err(|e| e.to_string()))?;
    Ok(values)
}

/// `settings` are the session's, or why they could not be read (a usage error here: the words
/// were optional, `--set` does without).
pub(crate) async fn values(
    settings: Result<LlmSettings, Error>,
    request: &str,
) -> Result<Values, Error> {
    let settings = settings.map_err(|e| Error::Usage(e.to_string()))?;
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
    let runner = Arc::new(|name: &str, arguments: &str| {
        match read(name, arguments) {
        Ok(_) => "Recorded. kubectl-ai validates them and shows the operator the plan before anything changes.".to_string(),
        Err(_) if name != TOOL => format!("Only {TOOL} is available."),
        Err(e) => format!("Rejected: {e}"),
    }
    });
    let conversation = Conversation {
        prompt,
        max_steps: 1,
        runner: Some(runner),
    };
    let mut sink = std::io::sink();
    let answer = crate::llm::answer(&settings, conversation, false, false, &mut sink).await?;
    let mut values = None;
    for call in &answer.calls {
        // The first error wins; otherwise the last values the model set.
        values = Some(read(&call.name, &call.arguments).map_err(|e| {
            Error::InvalidProposal(format!("the LLM's values were not valid: {e}"))
        })?);
    }
    values.ok_or_else(|| {
        Error::InvalidProposal(
            "the LLM did not turn the request into values; use --set KEY=VALUE (see --list-values)"
                .into(),
        )
    })
}
