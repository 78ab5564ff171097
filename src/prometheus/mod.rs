//! Prometheus as a source of usage history: CPU, memory, OOM kills, throttling and restarts over
//! days, where metrics.k8s.io only knows this minute.
//!
//! [`connect`] resolves where it is ([`settings`]: a URL, or [`discover`] in the cluster through
//! the API server's service proxy); [`queries`] asks a bounded number of PromQL questions per
//! namespace; [`history`] holds the answers per container; [`evidence`] turns them into lines for
//! `diagnose` and `ask`. Without Prometheus every command works as before, on one sample.

pub(crate) mod client;
pub(crate) mod discover;
pub(crate) mod evidence;
pub(crate) mod history;
pub(crate) mod queries;
pub(crate) mod settings;

use std::time::Duration;

use crate::context::Context;
use crate::error::Error;
use crate::session::Session;
use client::{Prometheus, Transport};
use settings::Location;
pub(crate) use settings::{PrometheusArgs, PrometheusFile};

/// What [`connect`] found.
pub(crate) enum Connection {
    Ready(Prometheus),
    /// `--prometheus off`, or a snapshot (history of today says nothing about the day of a dump).
    Off,
    /// Discovery found no Service of a known install.
    NotFound,
    /// A Prometheus was asked for but cannot be used: the one line to show.
    Failed(String),
}

/// Resolves the settings and, for `auto`, looks for Prometheus in the cluster.
pub(crate) async fn connect(session: &Session) -> Result<Connection, Error> {
    connect_for(session, None).await
}

/// As [`connect`], for a command that has already read `ctx` from the cluster: discovery goes
/// through its client (no second connection) and, when it holds every namespace's Services,
/// looks among those without a request.
pub(crate) async fn connect_for(
    session: &Session,
    ctx: Option<&Context>,
) -> Result<Connection, Error> {
    let s = session.prometheus_settings()?;
    let timeout = if session.request_timeout.is_zero() {
        Duration::from_secs(3600)
    } else {
        session.request_timeout
    };
    match s.location {
        Location::Off => Ok(Connection::Off),
        Location::Url(base) => {
            let http = http_client(timeout, s.ca_pem.as_deref())?;
            let describe = base.as_str().trim_end_matches('/').to_string();
            let transport = Transport::Direct {
                base,
                http,
                token: s.token,
            };
            Ok(Connection::Ready(Prometheus::new(
                transport, describe, timeout,
            )))
        }
        Location::Auto if !session.is_live() => Ok(Connection::Off),
        Location::Auto => {
            let client = match ctx.and_then(|c| c.live.as_ref()) {
                Some(live) => live.client.clone(),
                None => session.live_cluster("Prometheus discovery").await?.0.client,
            };
            match discover::find(&client, ctx).await {
                Ok(Some(found)) => {
                    let describe = format!(
                        "service {}/{}:{} (through the API server)",
                        found.namespace, found.name, found.port
                    );
                    let transport = Transport::Proxy {
                        client,
                        path: found.proxy_path(),
                    };
                    Ok(Connection::Ready(Prometheus::new(transport, describe, timeout)))
                }
                Ok(None) => Ok(Connection::NotFound),
                Err(kube::Error::Api(s)) if s.code == 403 => Ok(Connection::Failed(
                    "cannot look for Prometheus: not allowed to list Services in all namespaces (pass --prometheus URL)".into(),
                )),
                Err(e) => Ok(Connection::Failed(format!(
                    "cannot look for Prometheus: {}",
                    chain(&e)
                ))),
            }
        }
    }
}

fn http_client(timeout: Duration, ca: Option<&[u8]>) -> Result<reqwest::Client, Error> {
    crate::llm::install_crypto();
    let mut b = reqwest::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("kubectl-ai/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = ca {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| Error::Usage(format!("--prometheus-ca: not a PEM certificate ({e})")))?;
        if certs.is_empty() {
            return Err(Error::Usage(
                "--prometheus-ca: no certificate in the file".into(),
            ));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build()
        .map_err(|e| Error::Usage(format!("cannot build the Prometheus client: {}", chain(&e))))
}

/// Unix seconds now: where every window ends.
pub(crate) fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// An error and its sources on one line.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_a_certificate_is_a_usage_error() {
        let e = http_client(Duration::from_secs(1), Some(b"not a certificate\n")).unwrap_err();
        assert!(e.to_string().starts_with("--prometheus-ca:"), "{e}");
        assert!(http_client(Duration::from_secs(1), None).is_ok());
    }
}
