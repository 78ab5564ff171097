//! The LLM: one OpenAI-compatible chat endpoint (or Azure OpenAI), reached through async-openai.
//!
//! Replies stream through a channel to whoever renders them, so the renderer can stop a spinner at
//! the first token and Ctrl-C can drop everything at once. async-openai already retries 429 and 5xx
//! honouring Retry-After; what still fails is mapped to one line and exit code 4.

pub mod prompt;
pub mod redact;

use async_openai::Client;
use async_openai::config::{AzureConfig, Config, OpenAIConfig};
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, ChatCompletionStreamOptions, CreateChatCompletionRequestArgs,
};
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::config::{LlmSettings, Provider};
use crate::error::Error;
use prompt::Prompt;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// What the model sends, piece by piece.
#[derive(Debug)]
pub enum Chunk {
    Text(String),
    /// The end: the model that answered and what it counted.
    Done {
        model: String,
        usage: Option<Usage>,
    },
}

/// Starts one completion; chunks (or the one error that ends it) arrive on the returned channel.
pub fn complete(
    settings: &LlmSettings,
    prompt: &Prompt,
    stream: bool,
) -> mpsc::Receiver<Result<Chunk, Error>> {
    install_crypto();
    let (tx, rx) = mpsc::channel(64);
    let settings = settings.clone();
    let prompt = prompt.clone();
    tokio::spawn(async move {
        let result = match &settings.provider {
            Provider::None => Err(Error::LlmMalformed {
                detail: "no LLM configured".into(),
            }),
            Provider::OpenAi { base_url, api_key } => {
                let mut config = OpenAIConfig::new().with_api_base(base_url.trim_end_matches('/'));
                // Local servers need no key; async-openai would otherwise read OPENAI_API_KEY
                // itself, so set it explicitly either way.
                config = config.with_api_key(api_key.clone().unwrap_or_default());
                run(Client::with_config(config), &settings, &prompt, stream, &tx).await
            }
            Provider::Azure {
                endpoint,
                deployment,
                api_version,
                api_key,
            } => {
                let config = AzureConfig::new()
                    .with_api_base(endpoint.trim_end_matches('/'))
                    .with_deployment_id(deployment)
                    .with_api_version(api_version)
                    .with_api_key(api_key);
                run(Client::with_config(config), &settings, &prompt, stream, &tx).await
            }
        };
        if let Err(e) = result {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

async fn run<C: Config + Send + Sync + 'static>(
    client: Client<C>,
    settings: &LlmSettings,
    prompt: &Prompt,
    stream: bool,
    tx: &mpsc::Sender<Result<Chunk, Error>>,
) -> Result<(), Error> {
    let messages: Vec<ChatCompletionRequestMessage> = vec![
        ChatCompletionRequestSystemMessage::from(prompt.system.as_str()).into(),
        ChatCompletionRequestUserMessage::from(prompt.user.as_str()).into(),
    ];
    let mut request = CreateChatCompletionRequestArgs::default();
    request
        .model(settings.model.clone())
        .messages(messages)
        .temperature(0.2);
    let fail = |e: OpenAIError| map_error(e, settings);
    let timeout = settings.timeout;
    let timed_out = || Error::LlmTimeout {
        endpoint: settings.provider.endpoint(),
        seconds: timeout.as_secs(),
    };
    if !stream {
        let request = request.build().map_err(fail)?;
        let response = tokio::time::timeout(timeout, client.chat().create(request))
            .await
            .map_err(|_| timed_out())?
            .map_err(fail)?;
        let text = response
            .choices
            .first()
            .and_then(|c| c.message.content.clone())
            .ok_or_else(|| Error::LlmMalformed {
                detail: "the reply has no message content".into(),
            })?;
        let _ = tx.send(Ok(Chunk::Text(text))).await;
        let usage = response.usage.map(|u| Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        });
        let _ = tx
            .send(Ok(Chunk::Done {
                model: response.model,
                usage,
            }))
            .await;
        return Ok(());
    }
    request.stream_options(ChatCompletionStreamOptions {
        include_usage: Some(true),
        ..Default::default()
    });
    let request = request.build().map_err(fail)?;
    let mut events = tokio::time::timeout(timeout, client.chat().create_stream(request))
        .await
        .map_err(|_| timed_out())?
        .map_err(fail)?;
    let (mut model, mut usage, mut any) = (settings.model.clone(), None, false);
    loop {
        // The timeout is per chunk: a slow but steady answer is fine, silence is not.
        let next = tokio::time::timeout(timeout, events.next())
            .await
            .map_err(|_| timed_out())?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(fail)?;
        model = chunk.model;
        if let Some(u) = chunk.usage {
            usage = Some(Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
            });
        }
        for choice in chunk.choices {
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                any = true;
                if tx.send(Ok(Chunk::Text(text))).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    if !any {
        return Err(Error::LlmMalformed {
            detail: "the stream ended without any answer text".into(),
        });
    }
    let _ = tx.send(Ok(Chunk::Done { model, usage })).await;
    Ok(())
}

/// async-openai is built without a TLS crypto provider so it cannot collide with kube's; both then
/// use ring, installed once for the process.
pub fn install_crypto() {
    static CRYPTO: std::sync::Once = std::sync::Once::new();
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The one line for an endpoint error, as `doctor` reports it.
pub fn describe_error(e: OpenAIError, settings: &LlmSettings) -> String {
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
pub fn smaller_budget(budget: usize) -> usize {
    (budget / 2).max(1000)
}
