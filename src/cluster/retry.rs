//! Which API requests are tried again, and when.
//!
//! A command someone waits on should ride out a blip (one 500 from an API server restarting its
//! etcd connection, a load balancer resetting a connection) and then say what is wrong, not retry
//! for minutes as a controller does. So: a few quick retries with jittered, growing delays, and
//! only where repeating the request cannot change anything twice. Reads (GET), dry runs and access
//! reviews are retried on 500, 502, 503, 504 and dropped connections. A real write is not: its
//! answer may be lost after it landed, so the plan pipeline re-reads the object and decides
//! (src/plan/execute.rs). 429 means the server refused before doing anything, so every request
//! waits as its `Retry-After` asks and tries again.

use std::error::Error as StdError;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use tower::BoxError;
use tower::retry::Policy as TowerPolicy;

/// Retries after the first attempt.
const RETRIES: u32 = 4;
/// The first delay; each next one doubles, up to `MAX_DELAY`, then each is jittered down to half.
const BASE_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(2);
/// The longest `Retry-After` honoured: past it the user hears about the rate limit instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// The retry policy of every request the live client sends.
#[derive(Clone, Default)]
pub(crate) struct Policy {
    attempt: u32,
}

impl Policy {
    fn delay(&self) -> Duration {
        backoff(self.attempt)
    }
}

/// The jittered delay before retry number `attempt` (0-based): within [d/2, d] of
/// `BASE_DELAY * 2^attempt`, capped at `MAX_DELAY`, so clients that failed together do not
/// retry together.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let full = BASE_DELAY
        .saturating_mul(1 << attempt.min(10))
        .min(MAX_DELAY);
    let jitter = getrandom::u32().unwrap_or(u32::MAX / 2) as f64 / u32::MAX as f64;
    full.mul_f64(0.5 + jitter / 2.0)
}

/// Whether sending the request again cannot change anything twice.
fn idempotent<B>(req: &Request<B>) -> bool {
    let method = req.method();
    if method == Method::GET || method == Method::HEAD {
        return true;
    }
    let dry_run = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "dryRun=All"));
    // An access review is a question the server answers; it stores nothing.
    dry_run || req.uri().path().ends_with("/selfsubjectaccessreviews")
}

/// A status that says the server (or something in front of it) failed this once.
pub(crate) fn transient_status(code: u16) -> bool {
    matches!(code, 500 | 502 | 503 | 504)
}

/// A connection that closed or reset before the answer came: the request may be sent again
/// if it is idempotent. A refused connection is not transient (nothing listens there) and a
/// timeout has already made the user wait.
pub(crate) fn dropped_connection(err: &(dyn StdError + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(h) = e.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_canceled())
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return true;
        }
        cur = e.source();
    }
    false
}

/// Whether a request that failed with this error may have failed only this once: a server
/// error status or a dropped connection.
pub(crate) fn transient(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(s) => transient_status(s.code),
        other => dropped_connection(other),
    }
}

fn retry_after<B>(resp: &Response<B>) -> Option<Duration> {
    let secs: u64 = resp
        .headers()
        .get("Retry-After")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

impl<Res> TowerPolicy<Request<Body>, Response<Res>, BoxError> for Policy {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        req: &mut Request<Body>,
        result: &mut Result<Response<Res>, BoxError>,
    ) -> Option<Self::Future> {
        if self.attempt >= RETRIES {
            return None;
        }
        let delay = match result {
            Ok(resp) if resp.status() == StatusCode::TOO_MANY_REQUESTS => {
                retry_after(resp).unwrap_or_else(|| self.delay())
            }
            Ok(resp) if transient_status(resp.status().as_u16()) && idempotent(req) => self.delay(),
            Err(e) if dropped_connection(e.as_ref()) && idempotent(req) => self.delay(),
            _ => return None,
        };
        tracing::debug!(
            method = %req.method(),
            path = req.uri().path(),
            attempt = self.attempt + 1,
            delay_ms = delay.as_millis() as u64,
            "retrying"
        );
        self.attempt += 1;
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, req: &Request<Body>) -> Option<Request<Body>> {
        // Only bodies held in memory can be sent twice; kube's requests all are.
        let body = req.body().try_clone()?;
        let mut clone = Request::builder()
            .method(req.method().clone())
            .uri(req.uri().clone())
            .version(req.version())
            .body(body)
            .ok()?;
        *clone.headers_mut() = req.headers().clone();
        *clone.extensions_mut() = req.extensions().clone();
        Some(clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, uri: &str) -> Request<Body> {
        Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap()
    }

    fn answer(code: u16) -> Result<Response<()>, BoxError> {
        Ok(Response::builder().status(code).body(()).unwrap())
    }

    #[tokio::test]
    async fn reads_and_dry_runs_are_retried_on_server_errors_writes_are_not() {
        let get = || request(Method::GET, "/api/v1/namespaces/a/pods");
        let dry = || {
            request(
                Method::PATCH,
                "/apis/apps/v1/deployments/x?dryRun=All&force=true",
            )
        };
        let write = || request(Method::PATCH, "/apis/apps/v1/deployments/x?force=true");
        for code in [500, 502, 503, 504] {
            assert!(
                Policy::default()
                    .retry(&mut get(), &mut answer(code))
                    .is_some()
            );
            assert!(
                Policy::default()
                    .retry(&mut dry(), &mut answer(code))
                    .is_some()
            );
            assert!(
                Policy::default()
                    .retry(&mut write(), &mut answer(code))
                    .is_none()
            );
        }
        for code in [200, 400, 403, 404, 409, 422] {
            assert!(
                Policy::default()
                    .retry(&mut get(), &mut answer(code))
                    .is_none()
            );
        }
        // The server refused before doing anything: a write may be sent again.
        assert!(
            Policy::default()
                .retry(&mut write(), &mut answer(429))
                .is_some()
        );
        let mut p = Policy::default();
        let retried = (0..10)
            .filter(|_| p.retry(&mut get(), &mut answer(503)).is_some())
            .count();
        assert_eq!(retried, RETRIES as usize, "bounded");
    }

    #[test]
    fn delays_grow_are_jittered_and_capped() {
        for attempt in 0..8 {
            let d = backoff(attempt);
            let full = BASE_DELAY.saturating_mul(1 << attempt).min(MAX_DELAY);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
        let spread: std::collections::BTreeSet<Duration> = (0..20).map(|_| backoff(3)).collect();
        assert!(spread.len() > 1, "jittered");
    }

    #[test]
    fn a_reset_connection_is_transient_a_refused_one_is_not() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(dropped_connection(&reset));
        assert!(!dropped_connection(&refused));
    }
}
