//! The LLM: one OpenAI-compatible chat endpoint (or Azure OpenAI), reached through async-openai.
//!
//! Replies stream through a channel to whoever renders them, so the renderer can stop a spinner at
//! the first token and Ctrl-C can drop everything at once. async-openai already retries 429 and 5xx
//! honouring Retry-After; what still fails is mapped to one line and exit code 4.

mod answer;
mod grounding;
pub(crate) mod prompt;
pub(crate) mod redact;
pub(crate) mod tokens;
pub mod tools;

use std::collections::HashSet;
use std::sync::Arc;

use async_openai::Client;
use async_openai::config::{AzureConfig, Config, OpenAIConfig};
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestToolMessage,
    ChatCompletionRequestUserMessage, ChatCompletionStreamOptions, CreateChatCompletionRequestArgs,
    FunctionCall,
};
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::config::{LlmSettings, Provider};
use crate::error::Error;
pub(crate) use answer::{Answer, answer};
pub use grounding::Grounding;
use prompt::Prompt;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// What the model sends, piece by piece.
#[derive(Debug)]
pub(crate) enum Chunk {
    Text(String),
    /// A tool call the runner answered (repeats of an answered call are refused, not passed on).
    Called(ToolCall),
    /// The end: the model that answered and what it counted.
    Done {
        model: String,
        usage: Option<Usage>,
    },
}

/// A tool call the model made, as data: what a command reads after the answer, so nothing has to
/// be captured out of the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolCall {
    pub name: String,
    /// The arguments as the model wrote them (JSON, unchecked).
    pub arguments: String,
}

/// Answers the model's tool calls: (tool name, JSON arguments) -> text for the model.
pub(crate) type ToolRunner = Arc<dyn Fn(&str, &str) -> String + Send + Sync>;

/// One question to put to the model.
#[derive(Clone)]
pub(crate) struct Conversation {
    pub prompt: Prompt,
    /// Follow-up rounds the model may spend on tool calls; 0 offers no tools.
    pub max_steps: usize,
    /// Answers calls to the tools the prompt offers (`Prompt::tools`).
    pub runner: Option<ToolRunner>,
}

/// Starts one completion; chunks (or the one error that ends it) arrive on the returned channel.
pub(crate) fn complete(
    settings: &LlmSettings,
    conversation: Conversation,
    stream: bool,
) -> mpsc::Receiver<Result<Chunk, Error>> {
    install_crypto();
    let (tx, rx) = mpsc::channel(64);
    let settings = settings.clone();
    tokio::spawn(async move {
        let result = match &settings.provider {
            Provider::None => Err(Error::LlmMalformed {
                detail: "no LLM configured".into(),
            }),
            Provider::OpenAi { .. } => {
                run(
                    Client::with_config(openai_config(&settings.provider)),
                    &settings,
                    &conversation,
                    stream,
                    &tx,
                )
                .await
            }
            Provider::Azure { .. } => {
                run(
                    Client::with_config(azure_config(&settings.provider)),
                    &settings,
                    &conversation,
                    stream,
                    &tx,
                )
                .await
            }
        };
        if let Err(e) = result {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

/// The async-openai configuration of an OpenAI-compatible provider. Local servers need no key;
/// async-openai would otherwise read OPENAI_API_KEY itself, so it is set explicitly either way.
pub(crate) fn openai_config(provider: &Provider) -> OpenAIConfig {
    match provider {
        Provider::OpenAi { base_url, api_key } => OpenAIConfig::new()
            .with_api_base(base_url.trim_end_matches('/'))
            .with_api_key(api_key.clone().unwrap_or_default()),
        _ => OpenAIConfig::new(),
    }
}

/// The async-openai configuration of an Azure OpenAI deployment.
pub(crate) fn azure_config(provider: &Provider) -> AzureConfig {
    match provider {
        Provider::Azure {
            endpoint,
            deployment,
            api_version,
            api_key,
        } => AzureConfig::new()
            .with_api_base(endpoint.trim_end_matches('/'))
            .with_deployment_id(deployment)
            .with_api_version(api_version)
            .with_api_key(api_key),
        _ => AzureConfig::new(),
    }
}

/// A tool call as the model made it.
#[derive(Debug, Clone, Default)]
struct Call {
    id: String,
    name: String,
    arguments: String,
}

/// What one request produced.
struct Turn {
    text: bool,
    calls: Vec<Call>,
    model: String,
    usage: Option<Usage>,
}

/// The conversation: one request for a typical question; with tools, at most `max_steps` rounds
/// of tool calls and then an answer without tools. The same call twice is answered with a refusal,
/// so a model cannot loop on it.
async fn run<C: Config + Send + Sync + 'static>(
    client: Client<C>,
    settings: &LlmSettings,
    conversation: &Conversation,
    stream: bool,
    tx: &mpsc::Sender<Result<Chunk, Error>>,
) -> Result<(), Error> {
    let mut messages: Vec<ChatCompletionRequestMessage> = vec![
        ChatCompletionRequestSystemMessage::from(conversation.prompt.system.as_str()).into(),
        ChatCompletionRequestUserMessage::from(conversation.prompt.user.as_str()).into(),
    ];
    let mut offer = conversation.runner.is_some()
        && conversation.max_steps > 0
        && !conversation.prompt.tools.is_empty();
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let (mut steps, mut total): (usize, Option<Usage>) = (0, None);
    loop {
        let with_tools = offer && steps < conversation.max_steps;
        let tools = with_tools.then(|| conversation.prompt.tools.clone());
        let turn = match request(&client, settings, &messages, tools, stream, tx).await {
            // Some local models reject the tools parameter outright: ask again without it.
            Err(Error::LlmApi {
                code: 400, detail, ..
            }) if with_tools && detail.to_lowercase().contains("tool") => {
                tracing::info!("the model does not support tools; asking without them");
                offer = false;
                continue;
            }
            other => other?,
        };
        if let Some(u) = turn.usage {
            let t = total.get_or_insert_with(Usage::default);
            t.prompt_tokens += u.prompt_tokens;
            t.completion_tokens += u.completion_tokens;
        }
        let runner = conversation.runner.as_ref().filter(|_| with_tools);
        match (turn.calls.is_empty(), runner) {
            (true, _) | (false, None) if turn.text => {
                let _ = tx
                    .send(Ok(Chunk::Done {
                        model: turn.model,
                        usage: total,
                    }))
                    .await;
                return Ok(());
            }
            (false, Some(runner)) => {
                steps += 1;
                answer_calls(runner, turn.calls, &mut seen, &mut messages, tx).await;
            }
            _ => {
                return Err(Error::LlmMalformed {
                    detail: if turn.calls.is_empty() {
                        "the reply holds no answer text".into()
                    } else {
                        "the model called tools it was not offered".into()
                    },
                });
            }
        }
    }
}

/// Adds the model's tool calls and the runner's answers to the conversation; a call already in
/// `seen` is refused instead of run again. Each call the runner answered goes to the channel.
async fn answer_calls(
    runner: &ToolRunner,
    calls: Vec<Call>,
    seen: &mut HashSet<(String, String)>,
    messages: &mut Vec<ChatCompletionRequestMessage>,
    tx: &mpsc::Sender<Result<Chunk, Error>>,
) {
    let made: Vec<ChatCompletionMessageToolCalls> = calls
        .iter()
        .map(|c| {
            ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                id: c.id.clone(),
                function: FunctionCall {
                    name: c.name.clone(),
                    arguments: c.arguments.clone(),
                },
            })
        })
        .collect();
    messages.push(
        ChatCompletionRequestAssistantMessage {
            tool_calls: Some(made),
            ..Default::default()
        }
        .into(),
    );
    for call in calls {
        let fresh = seen.insert((call.name.clone(), call.arguments.clone()));
        tracing::info!(
            tool = call.name,
            arguments = call.arguments,
            fresh,
            "tool call"
        );
        let result = if fresh {
            let reply = runner(&call.name, &call.arguments);
            let called = ToolCall {
                name: call.name.clone(),
                arguments: call.arguments.clone(),
            };
            let _ = tx.send(Ok(Chunk::Called(called))).await;
            reply
        } else {
            "This exact call was already answered above. Answer from the evidence you have."
                .to_string()
        };
        messages.push(
            ChatCompletionRequestToolMessage {
                content: result.into(),
                tool_call_id: call.id,
            }
            .into(),
        );
    }
}

/// One request; text goes to the channel as it arrives, tool calls are gathered.
async fn request<C: Config + Send + Sync + 'static>(
    client: &Client<C>,
    settings: &LlmSettings,
    messages: &[ChatCompletionRequestMessage],
    tools: Option<Vec<async_openai::types::chat::ChatCompletionTools>>,
    stream: bool,
    tx: &mpsc::Sender<Result<Chunk, Error>>,
) -> Result<Turn, Error> {
    let mut args = CreateChatCompletionRequestArgs::default();
    args.model(settings.model.clone())
        .messages(messages.to_vec())
        .temperature(0.2);
    if let Some(tools) = tools {
        args.tools(tools);
    }
    if stream {
        request_streamed(client, settings, args, tx).await
    } else {
        request_whole(client, settings, args, tx).await
    }
}

/// The error of a request (or, streaming, of a chunk) that took longer than the timeout.
fn timed_out(settings: &LlmSettings) -> Error {
    Error::LlmTimeout {
        endpoint: settings.provider.endpoint(),
        seconds: settings.timeout.as_secs(),
    }
}

/// One request answered in one piece: its text goes to the channel once it is all there.
async fn request_whole<C: Config + Send + Sync + 'static>(
    client: &Client<C>,
    settings: &LlmSettings,
    args: CreateChatCompletionRequestArgs,
    tx: &mpsc::Sender<Result<Chunk, Error>>,
) -> Result<Turn, Error> {
    let fail = |e: OpenAIError| map_error(e, settings);
    let request = args.build().map_err(fail)?;
    let response = tokio::time::timeout(settings.timeout, client.chat().create(request))
        .await
        .map_err(|_| timed_out(settings))?
        .map_err(fail)?;
    let message = response.choices.into_iter().next().map(|c| c.message);
    let text = message
        .as_ref()
        .and_then(|m| m.content.clone())
        .filter(|t| !t.is_empty());
    let calls = message
        .and_then(|m| m.tool_calls)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| match c {
            ChatCompletionMessageToolCalls::Function(f) => Some(Call {
                id: f.id,
                name: f.function.name,
                arguments: f.function.arguments,
            }),
            ChatCompletionMessageToolCalls::Custom(_) => None,
        })
        .collect();
    if let Some(t) = &text {
        let _ = tx.send(Ok(Chunk::Text(t.clone()))).await;
    }
    let usage = response.usage.map(|u| Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
    });
    Ok(Turn {
        text: text.is_some(),
        calls,
        model: response.model,
        usage,
    })
}

/// One request streamed: text goes to the channel chunk by chunk, tool calls are put together
/// from their pieces.
async fn request_streamed<C: Config + Send + Sync + 'static>(
    client: &Client<C>,
    settings: &LlmSettings,
    mut args: CreateChatCompletionRequestArgs,
    tx: &mpsc::Sender<Result<Chunk, Error>>,
) -> Result<Turn, Error> {
    let fail = |e: OpenAIError| map_error(e, settings);
    args.stream_options(ChatCompletionStreamOptions {
        include_usage: Some(true),
        ..Default::default()
    });
    let request = args.build().map_err(fail)?;
    let mut events = tokio::time::timeout(settings.timeout, client.chat().create_stream(request))
        .await
        .map_err(|_| timed_out(settings))?
        .map_err(fail)?;
    let mut turn = Turn {
        text: false,
        calls: Vec::new(),
        model: settings.model.clone(),
        usage: None,
    };
    loop {
        // The timeout is per chunk: a slow but steady answer is fine, silence is not.
        let next = tokio::time::timeout(settings.timeout, events.next())
            .await
            .map_err(|_| timed_out(settings))?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(fail)?;
        turn.model = chunk.model;
        if let Some(u) = chunk.usage {
            turn.usage = Some(Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
            });
        }
        for choice in chunk.choices {
            for piece in choice.delta.tool_calls.unwrap_or_default() {
                let i = piece.index as usize;
                if turn.calls.len() <= i {
                    turn.calls.resize(i + 1, Call::default());
                }
                let call = &mut turn.calls[i];
                if let Some(id) = piece.id {
                    call.id = id;
                }
                if let Some(f) = piece.function {
                    call.name.push_str(f.name.as_deref().unwrap_or_default());
                    call.arguments
                        .push_str(f.arguments.as_deref().unwrap_or_default());
                }
            }
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                turn.text = true;
                if tx.send(Ok(Chunk::Text(text))).await.is_err() {
                    return Ok(turn);
                }
            }
        }
    }
    Ok(turn)
}

/// async-openai is built without a TLS crypto provider so it cannot collide with kube's; both then
/// use ring, installed once for the process.
pub(crate) fn install_crypto() {
    static CRYPTO: std::sync::Once = std::sync::Once::new();
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The one line for an endpoint error, as `doctor` reports it.
pub(crate) fn describe_error(e: OpenAIError, settings: &LlmSettings) -> String {
    map_error(e, settings).to_string()
}

fn map_error(e: OpenAIError, settings: &LlmSettings) -> Error {
    let endpoint = settings.provider.endpoint();
    match e {
        OpenAIError::ApiError(resp) => {
            let code = resp.status_code.as_u16();
            let detail = resp.api_error.message.clone();
            let kind = resp.api_error.code.clone().unwrap_or_default();
            match code {
                401 | 403 => Error::LlmUnauthorized { endpoint, code },
                404 => Error::LlmModel {
                    model: settings.model.clone(),
                    endpoint,
                    detail,
                },
                429 => Error::LlmRateLimited { endpoint, detail },
                400 if kind == "context_length_exceeded"
                    || detail.contains("maximum context length") =>
                {
                    Error::LlmContextLength {
                        model: settings.model.clone(),
                        detail,
                    }
                }
                _ => Error::LlmApi {
                    endpoint,
                    code,
                    detail,
                },
            }
        }
        OpenAIError::Reqwest(e) if e.is_timeout() => Error::LlmTimeout {
            endpoint,
            seconds: settings.timeout.as_secs(),
        },
        OpenAIError::Reqwest(e) => Error::LlmUnreachable {
            endpoint,
            detail: root_cause(&e),
        },
        OpenAIError::JSONDeserialize(e, _) => Error::LlmMalformed {
            detail: e.to_string(),
        },
        OpenAIError::StreamError(e) => Error::LlmMalformed {
            detail: format!("the stream broke off: {e}"),
        },
        other => Error::LlmMalformed {
            detail: other.to_string(),
        },
    }
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Half of what did not fit, for the one retry after a context-length refusal.
pub(crate) fn smaller_budget(budget: usize) -> usize {
    (budget / 2).max(1000)
}
