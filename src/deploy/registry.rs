//! Does a registry serve this image? One manifest HEAD through the OCI distribution API, with the
//! anonymous bearer-token flow Docker Hub and GHCR use. No credentials are ever sent: a registry
//! that wants them only tells us it cannot be verified anonymously.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};

use super::images::ImageRef;

/// Every manifest type a kubelet can pull, so a registry answers for indexes and single manifests.
const MANIFEST_TYPES: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// What the registry said about one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Found,
    /// 404: the registry has no such repository or tag.
    NotFound,
    /// 401/403 even to the anonymous token flow: private, or (for GHCR and Docker Hub) absent.
    NeedsCredentials,
    /// No usable answer: connection refused, timeout, 5xx, or an unexpected challenge.
    Unreachable(String),
}

/// Loopback registries are spoken to over plain HTTP, as `docker` treats `localhost` registries as
/// insecure; every other registry only over HTTPS.
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn base_url(image: &ImageRef) -> String {
    let host = image.api_host();
    let without_port = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let scheme = if is_loopback(without_port) {
        "http"
    } else {
        "https"
    };
    format!("{scheme}://{host}")
}

pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    crate::llm::install_crypto();
    reqwest::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("kubectl-ai/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Asks for the manifest; on a bearer challenge, fetches an anonymous token and asks again.
pub(crate) async fn probe(client: &reqwest::Client, image: &ImageRef) -> Answer {
    let url = format!(
        "{}/v2/{}/manifests/{}",
        base_url(image),
        image.path,
        image.reference()
    );
    let first = match head(client, &url, None).await {
        Ok(r) => r,
        Err(e) => return Answer::Unreachable(e),
    };
    let challenge = first
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match (first.status(), challenge) {
        (StatusCode::UNAUTHORIZED, Some(c)) if c.trim_start().starts_with("Bearer") => {
            let token = match token(client, &c, image).await {
                Ok(t) => t,
                Err(a) => return a,
            };
            match head(client, &url, Some(&token)).await {
                Ok(r) => status_answer(r.status()),
                Err(e) => Answer::Unreachable(e),
            }
        }
        (status, _) => status_answer(status),
    }
}

fn status_answer(status: StatusCode) -> Answer {
    match status {
        s if s.is_success() => Answer::Found,
        StatusCode::NOT_FOUND => Answer::NotFound,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Answer::NeedsCredentials,
        s => Answer::Unreachable(format!("HTTP {}", s.as_u16())),
    }
}

async fn head(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> Result<reqwest::Response, String> {
    let mut request = client.head(url).header(ACCEPT, MANIFEST_TYPES);
    if let Some(t) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    request.send().await.map_err(|e| describe(&e))
}

/// The anonymous token the challenge's realm hands out for pulling this repository.
async fn token(
    client: &reqwest::Client,
    challenge: &str,
    image: &ImageRef,
) -> Result<String, Answer> {
    let params = challenge_params(challenge);
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    let realm = get("realm")
        .ok_or_else(|| Answer::Unreachable("a token challenge without a realm".into()))?;
    let mut url = Url::parse(&realm)
        .map_err(|_| Answer::Unreachable(format!("an invalid token realm {realm:?}")))?;
    if !safe_realm(&url) {
        return Err(Answer::Unreachable(format!(
            "an insecure token realm {realm:?}"
        )));
    }
    let scope = get("scope").unwrap_or_else(|| format!("repository:{}:pull", image.path));
    {
        let mut q = url.query_pairs_mut();
        if let Some(service) = get("service") {
            q.append_pair("service", &service);
        }
        q.append_pair("scope", &scope);
    }
    let reply = client
        .get(url)
        .send()
        .await
        .map_err(|e| Answer::Unreachable(describe(&e)))?;
    match reply.status() {
        s if s.is_success() => {}
        s => return Err(status_answer(s)),
    }
    let body = reply
        .text()
        .await
        .map_err(|e| Answer::Unreachable(describe(&e)))?;
    let v: serde_json::Value = serde_json::from_str(&body)
        .map_err(|_| Answer::Unreachable("the token endpoint's reply is not JSON".into()))?;
    v["token"]
        .as_str()
        .or_else(|| v["access_token"].as_str())
        .map(str::to_string)
        .ok_or_else(|| Answer::Unreachable("the token endpoint's reply holds no token".into()))
}

/// A token is only fetched over HTTPS, or from a loopback host (a local registry).
fn safe_realm(url: &Url) -> bool {
    url.scheme() == "https" || (url.scheme() == "http" && url.host_str().is_some_and(is_loopback))
}

/// `Bearer realm="...",service="...",scope="..."` as key/value pairs; quoted values may hold commas.
fn challenge_params(challenge: &str) -> Vec<(String, String)> {
    let rest = challenge.trim_start().trim_start_matches("Bearer").trim();
    let mut pairs = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars
            .by_ref()
            .skip_while(|c| *c == ',' || c.is_whitespace())
            .take_while(|c| *c != '=')
            .collect();
        if key.is_empty() {
            return pairs;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut escaped = false;
            for c in chars.by_ref() {
                match (escaped, c) {
                    (false, '\\') => escaped = true,
                    (false, '"') => break,
                    _ => {
                        value.push(c);
                        escaped = false;
                    }
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        pairs.push((key.trim().to_string(), value.trim().to_string()));
    }
}

/// One short phrase for a transport error, without reqwest's nested Debug output.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text = s.to_string();
            source = s.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_quoted_commas() {
        let p = challenge_params(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push""#,
        );
        assert_eq!(
            p,
            [
                (
                    "realm".to_string(),
                    "https://auth.docker.io/token".to_string()
                ),
                ("service".to_string(), "registry.docker.io".to_string()),
                (
                    "scope".to_string(),
                    "repository:library/nginx:pull,push".to_string()
                ),
            ]
        );
    }

    #[test]
    fn tokens_come_only_from_https_or_loopback_realms() {
        let safe = |u: &str| safe_realm(&Url::parse(u).unwrap());
        assert!(safe("https://auth.docker.io/token"));
        assert!(safe("http://127.0.0.1:5000/token"));
        assert!(safe("http://localhost:5000/token"));
        assert!(!safe("http://auth.example.com/token"));
        assert!(!safe("http://127.0.0.1.nip.io/token"));
        assert!(!safe("file:///etc/passwd"));
    }

    #[test]
    fn only_loopback_registries_are_plain_http() {
        let url = |s: &str| base_url(&ImageRef::parse(s).unwrap());
        assert_eq!(url("nginx"), "https://registry-1.docker.io");
        assert_eq!(url("ghcr.io/example/todo-backend:1.4.2"), "https://ghcr.io");
        assert_eq!(url("localhost:5000/app:1"), "http://localhost:5000");
        assert_eq!(url("127.0.0.1:5000/app:1"), "http://127.0.0.1:5000");
        assert_eq!(url("[::1]:5000/app:1"), "http://[::1]:5000");
        assert_eq!(
            url("registry.local:5000/app:1"),
            "https://registry.local:5000"
        );
        assert_eq!(url("127.0.0.1.nip.io/app:1"), "https://127.0.0.1.nip.io");
    }
}
