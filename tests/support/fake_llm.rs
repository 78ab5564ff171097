//! A fake OpenAI-compatible chat endpoint with scripted replies that records every request, so a
//! test can assert on exactly what kubectl-ai sent.
//!
//! Serves `POST {base}/chat/completions` (OpenAI, Ollama, vLLM style, base `/v1`) and
//! `POST /openai/deployments/{deployment}/chat/completions?api-version=...` (Azure). Replies are
//! plain or streamed (SSE) as the request asks, or scripted errors, hangs, truncated streams and
//! malformed JSON.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::server::Server;

/// One scripted reply, used for one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// An answer, streamed in pieces if the request asks for a stream.
    Text(String),
    /// An error status with an OpenAI-style error body.
    Status {
        code: u16,
        message: String,
        kind: Option<String>,
        retry_after: Option<u64>,
    },
    /// Waits this long before answering.
    Hang(Duration, String),
    /// A stream that stops after these pieces, without `[DONE]`.
    Truncated(Vec<String>),
    /// A stream whose chunk is not JSON.
    Malformed,
    /// A call of one tool (streamed in two pieces if the request streams).
    ToolCall { name: String, arguments: String },
}

#[derive(Debug, Clone)]
pub struct LlmRequest {
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

impl LlmRequest {
    /// The text of every message, joined: what the model reads.
    pub fn text(&self) -> String {
        self.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["content"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn message(&self, role: &str) -> String {
        self.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["role"] == role)
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_string()
    }

    /// What the first turn of this request costs in prompt tokens as kubectl-ai counts them:
    /// system and user messages, and the tool definitions sent beside them.
    pub fn prompt_tokens(&self) -> usize {
        let count = kubectl_ai::testing::count_tokens;
        count(&self.message("system"))
            + count(&self.message("user"))
            + self.body.get("tools").map_or(0, |t| count(&t.to_string()))
    }
}

struct Inner {
    replies: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<LlmRequest>>,
}

pub struct FakeLlm {
    /// The OpenAI-style base URL (`http://127.0.0.1:PORT/v1`).
    pub url: String,
    /// The server root, for Azure's endpoint setting.
    pub root: String,
    inner: Arc<Inner>,
    _server: Server,
}

impl FakeLlm {
    pub fn start(replies: Vec<Reply>) -> FakeLlm {
        let inner = Arc::new(Inner {
            replies: Mutex::new(replies.into()),
            requests: Mutex::new(Vec::new()),
        });
        let server = Server::start(
            axum::Router::new()
                .fallback(handle)
                .with_state(inner.clone()),
            1,
        );
        FakeLlm {
            url: format!("http://{}/v1", server.addr),
            root: format!("http://{}", server.addr),
            inner,
            _server: server,
        }
    }

    pub fn requests(&self) -> Vec<LlmRequest> {
        self.inner.requests.lock().unwrap().clone()
    }
}

const MODEL: &str = "fake-model";

async fn handle(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body: Bytes = axum::body::to_bytes(req.into_body(), 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if path.ends_with("/models") {
        inner.requests.lock().unwrap().push(LlmRequest {
            path,
            query,
            headers,
            body: Value::Null,
        });
        let models: Vec<Value> = [MODEL, "gpt-4o-mini", "llama3.1:8b"]
            .iter()
            .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "test"}))
            .collect();
        return (
            StatusCode::OK,
            axum::Json(json!({"object": "list", "data": models})),
        )
            .into_response();
    }
    if !path.ends_with("/chat/completions") {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let stream = body["stream"] == true;
    inner.requests.lock().unwrap().push(LlmRequest {
        path,
        query,
        headers,
        body: body.clone(),
    });
    let reply = inner
        .replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| Reply::Text("(no scripted reply left)".into()));
    let prompt_tokens = body.to_string().len() as u64 / 4;
    match reply {
        Reply::Text(text) => answer(&text, stream, prompt_tokens),
        Reply::Hang(d, text) => {
            tokio::time::sleep(d).await;
            answer(&text, stream, prompt_tokens)
        }
        Reply::Status {
            code,
            message,
            kind,
            retry_after,
        } => {
            let err = json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": kind}});
            let mut resp = (StatusCode::from_u16(code).unwrap(), axum::Json(err)).into_response();
            if let Some(s) = retry_after {
                resp.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_str(&s.to_string()).unwrap(),
                );
            }
            resp
        }
        Reply::Truncated(pieces) => sse(pieces.iter().map(|p| chunk(p)).collect(), false),
        Reply::Malformed => sse(
            vec!["{\"id\": \"c1\", \"choices\": [ {oops".to_string()],
            true,
        ),
        Reply::ToolCall { name, arguments } => tool_call(&name, &arguments, stream),
    }
}

fn chunk(text: &str) -> String {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": MODEL,
           "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": null}]})
    .to_string()
}

fn tool_call(name: &str, arguments: &str, stream: bool) -> Response {
    let id = format!("call_{}", arguments.len());
    if !stream {
        let body = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}]},
                "finish_reason": "tool_calls"}]});
        return (StatusCode::OK, axum::Json(body)).into_response();
    }
    let (a, b) = arguments.split_at(arguments.len() / 2);
    let piece = |first: bool, args: &str| {
        let mut call = json!({"index": 0, "function": {"arguments": args}});
        if first {
            call["id"] = json!(id);
            call["type"] = json!("function");
            call["function"]["name"] = json!(name);
        }
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": MODEL,
               "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [call]}, "finish_reason": null}]})
        .to_string()
    };
    sse(vec![piece(true, a), piece(false, b)], true)
}

fn answer(text: &str, stream: bool, prompt_tokens: u64) -> Response {
    let completion_tokens = text.split_whitespace().count() as u64;
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens});
    if !stream {
        let body = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage});
        return (StatusCode::OK, axum::Json(body)).into_response();
    }
    let mut events: Vec<String> = text.split_inclusive(' ').map(chunk).collect();
    events.push(json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": MODEL, "choices": [], "usage": usage}).to_string());
    sse(events, true)
}

fn sse(events: Vec<String>, done: bool) -> Response {
    let mut body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    if done {
        body.push_str("data: [DONE]\n\n");
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from(body))
        .unwrap()
}
