//! A fake OCI registry on loopback, speaking the distribution API as Docker Hub and GHCR do:
//! `HEAD`/`GET /v2/<name>/manifests/<reference>`, a 404 `MANIFEST_UNKNOWN` for what it does not
//! hold, and (in token mode) a 401 with a `WWW-Authenticate: Bearer realm=...,service=...,scope=...`
//! challenge answered by its `/token` endpoint, which refuses private repositories as GHCR does.
//! Every request is recorded.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::server::Server;

const TOKEN: &str = "djE6ZmFrZS1yZWdpc3RyeTphbm9ueW1vdXM=";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// One request as the registry saw it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Inner {
    tokens: bool,
    /// (repository, tag or digest) pairs it serves.
    manifests: Mutex<Vec<(String, String)>>,
    private: Mutex<Vec<String>>,
    journal: Mutex<Vec<Hit>>,
}

pub struct FakeRegistry {
    /// `127.0.0.1:PORT`, the registry part of its image references.
    pub host: String,
    inner: Arc<Inner>,
    _server: Server,
}

impl FakeRegistry {
    /// A registry that answers anyone, like a local `registry:2`.
    pub fn open() -> FakeRegistry {
        Self::start(false)
    }

    /// A registry that hands out anonymous pull tokens first, like Docker Hub and GHCR.
    pub fn with_tokens() -> FakeRegistry {
        Self::start(true)
    }

    fn start(tokens: bool) -> FakeRegistry {
        let inner = Arc::new(Inner {
            tokens,
            ..Inner::default()
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let server = Server::start(app, 1);
        FakeRegistry {
            host: server.addr.to_string(),
            inner,
            _server: server,
        }
    }

    /// Serves `repository:tag` (as pushed).
    pub fn push(&self, repository: &str, tag: &str) {
        self.inner
            .manifests
            .lock()
            .unwrap()
            .push((repository.to_string(), tag.to_string()));
    }

    /// Its token endpoint refuses anonymous pulls of this repository.
    pub fn make_private(&self, repository: &str) {
        self.inner
            .private
            .lock()
            .unwrap()
            .push(repository.to_string());
    }

    /// The full reference of `repository` here: `127.0.0.1:PORT/repository`.
    pub fn image(&self, repository: &str) -> String {
        format!("{}/{repository}", self.host)
    }

    pub fn journal(&self) -> Vec<Hit> {
        self.inner.journal.lock().unwrap().clone()
    }
}

fn errors(code: StatusCode, kind: &str, message: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"errors": [{"code": kind, "message": message}]}).to_string(),
    )
        .into_response()
}

async fn handle(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let header_of = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let authorization = header_of(header::AUTHORIZATION);
    let accept = header_of(header::ACCEPT).unwrap_or_default();
    let host = header_of(header::HOST).unwrap_or_default();
    inner.journal.lock().unwrap().push(Hit {
        method: req.method().to_string(),
        path: path.clone(),
        query: query.clone(),
        authorization: authorization.clone(),
    });
    if path == "/token" {
        return token(&inner, &query);
    }
    let Some((name, reference)) = path
        .strip_prefix("/v2/")
        .and_then(|p| p.split_once("/manifests/"))
    else {
        return errors(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        );
    };
    if inner.tokens && authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        let challenge = format!(
            r#"Bearer realm="http://{host}/token",service="fake-registry",scope="repository:{name}:pull""#
        );
        let mut r = errors(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge.parse().unwrap());
        return r;
    }
    let known = inner
        .manifests
        .lock()
        .unwrap()
        .iter()
        .any(|(n, r)| n == name && r == reference);
    if !known {
        return errors(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown",
        );
    }
    // Multi-platform images are indexes: a client that does not accept one gets none, as on GHCR.
    if !accept.contains(INDEX) {
        return errors(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "OCI index found, but Accept header does not support OCI indexes",
        );
    }
    manifest(req.method())
}

fn token(inner: &Inner, query: &str) -> Response {
    let scope = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("scope="))
        .unwrap_or_default()
        .replace("%3A", ":")
        .replace("%2F", "/");
    let repository = scope
        .strip_prefix("repository:")
        .and_then(|s| s.rsplit_once(':'))
        .map(|(r, _)| r.to_string())
        .unwrap_or_default();
    if inner.private.lock().unwrap().contains(&repository) {
        return errors(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
        );
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"token": TOKEN, "access_token": TOKEN, "expires_in": 300, "issued_at": "2026-12-01T21:00:00Z"})
            .to_string(),
    )
        .into_response()
}

/// A two-platform OCI index, as `docker buildx` pushes one.
fn manifest(method: &Method) -> Response {
    let body = json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1609,
             "digest": "sha256:3f1e5b0c3a1b4b6b8f7c1f0a0d3e9c2b7a6d5e4f3c2b1a09f8e7d6c5b4a39281",
             "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1609,
             "digest": "sha256:9a8b7c6d5e4f30211f2e3d4c5b6a79880f1e2d3c4b5a69788796a5b4c3d2e1f0",
             "platform": {"architecture": "arm64", "os": "linux"}}
        ]
    })
    .to_string();
    let length = body.len().to_string();
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body)
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, INDEX)
        .header(header::CONTENT_LENGTH, length)
        .header(
            "Docker-Content-Digest",
            "sha256:b5f0c2d4e6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0",
        )
        .body(body)
        .unwrap()
}
