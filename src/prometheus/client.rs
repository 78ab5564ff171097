//! The Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`), reached directly or through
//! the API server's service proxy. Every request has a deadline; errors say what to do in one line.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

/// How requests reach Prometheus.
#[derive(Clone)]
pub(crate) enum Transport {
    /// A URL the user gave, with an optional bearer token.
    Direct {
        base: Url,
        http: reqwest::Client,
        token: Option<String>,
    },
    /// `/api/v1/namespaces/NS/services/http:NAME:PORT/proxy`, with the kubeconfig's credentials.
    Proxy { client: kube::Client, path: String },
}

/// One Prometheus, and how to describe it in notes.
#[derive(Clone)]
pub(crate) struct Prometheus {
    transport: Transport,
    /// "http://prometheus:9090" or "service monitoring/prometheus-operated:9090 (through the API server)".
    pub(crate) describe: String,
    timeout: Duration,
}

/// Why Prometheus gave no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PromError {
    #[error("cannot reach Prometheus at {at}: {detail}")]
    Unreachable { at: String, detail: String },
    #[error(
        "Prometheus at {at} refused the request ({code}): give a bearer token with --prometheus-token-file or KUBECTL_AI_PROMETHEUS_TOKEN"
    )]
    Unauthorized { at: String, code: u16 },
    #[error("Prometheus at {at} did not answer within {secs}s")]
    Timeout { at: String, secs: u64 },
    #[error("Prometheus at {at} answered {detail}")]
    Bad { at: String, detail: String },
}

/// One series of an instant query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

/// One series of a range query: (unix seconds, value), oldest first.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) points: Vec<(f64, f64)>,
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    result: Vec<Value>,
}

impl Prometheus {
    pub(crate) fn new(transport: Transport, describe: String, timeout: Duration) -> Prometheus {
        Prometheus {
            transport,
            describe,
            timeout,
        }
    }

    /// An instant query evaluated at `at` (unix seconds).
    pub(crate) async fn query(&self, promql: &str, at: f64) -> Result<Vec<Sample>, PromError> {
        let params = [("query", promql.to_string()), ("time", format!("{at:.3}"))];
        let result = self.get("query", &params).await?;
        Ok(result
            .iter()
            .filter_map(|r| {
                let value = number(r.get("value")?.get(1)?)?;
                Some(Sample {
                    labels: labels(r),
                    value,
                })
            })
            .collect())
    }

    /// A range query from `start` to `end` every `step` seconds.
    pub(crate) async fn query_range(
        &self,
        promql: &str,
        start: f64,
        end: f64,
        step: u64,
    ) -> Result<Vec<Series>, PromError> {
        let params = [
            ("query", promql.to_string()),
            ("start", format!("{start:.3}")),
            ("end", format!("{end:.3}")),
            ("step", step.to_string()),
        ];
        let result = self.get("query_range", &params).await?;
        Ok(result
            .iter()
            .map(|r| Series {
                labels: labels(r),
                points: r
                    .get("values")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|p| Some((p.get(0)?.as_f64()?, number(p.get(1)?)?)))
                    .collect(),
            })
            .collect())
    }

    async fn get(
        &self,
        endpoint: &str,
        params: &[(&str, String)],
    ) -> Result<Vec<Value>, PromError> {
        let mut params = params.to_vec();
        // Prometheus stops evaluating at its own deadline too, so a heavy query frees the server.
        params.push(("timeout", format!("{}s", self.timeout.as_secs().max(1))));
        let query = {
            let mut u = Url::parse("http://query/").expect("a valid URL");
            u.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
            u.query().unwrap_or_default().to_string()
        };
        let body = tokio::time::timeout(self.timeout, self.fetch(endpoint, &query))
            .await
            .map_err(|_| PromError::Timeout {
                at: self.describe.clone(),
                secs: self.timeout.as_secs(),
            })??;
        let answer: Answer = serde_json::from_str(&body).map_err(|e| PromError::Bad {
            at: self.describe.clone(),
            detail: format!("something that is not the Prometheus API ({e})"),
        })?;
        if answer.status != "success" {
            return Err(PromError::Bad {
                at: self.describe.clone(),
                detail: format!("an error: {}", answer.error.unwrap_or_default()),
            });
        }
        Ok(answer.data.map(|d| d.result).unwrap_or_default())
    }

    /// The body of a 200 answer; anything else becomes a [`PromError`].
    async fn fetch(&self, endpoint: &str, query: &str) -> Result<String, PromError> {
        let at = || self.describe.clone();
        match &self.transport {
            Transport::Direct { base, http, token } => {
                let mut url = base.clone();
                let path = format!("{}/api/v1/{endpoint}", base.path().trim_end_matches('/'));
                url.set_path(&path);
                url.set_query(Some(query));
                let mut req = http.get(url);
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let resp = req.send().await.map_err(|e| PromError::Unreachable {
                    at: at(),
                    detail: crate::prometheus::chain(&e),
                })?;
                let code = resp.status().as_u16();
                let text = resp.text().await.map_err(|e| PromError::Unreachable {
                    at: at(),
                    detail: crate::prometheus::chain(&e),
                })?;
                status_of(code, text, at())
            }
            Transport::Proxy { client, path } => {
                let req = http::Request::get(format!("{path}/api/v1/{endpoint}?{query}"))
                    .body(Vec::new())
                    .map_err(|e| PromError::Bad {
                        at: at(),
                        detail: e.to_string(),
                    })?;
                match client.request_text(req).await {
                    Ok(text) => Ok(text),
                    Err(kube::Error::Api(s)) => status_of(s.code, s.message, at()),
                    Err(e) => Err(PromError::Unreachable {
                        at: at(),
                        detail: crate::prometheus::chain(&e),
                    }),
                }
            }
        }
    }
}

fn status_of(code: u16, text: String, at: String) -> Result<String, PromError> {
    match code {
        200..=299 => Ok(text),
        401 | 403 => Err(PromError::Unauthorized { at, code }),
        // A query error comes back as 400/422 with the API's own error body.
        400 | 422 => Ok(text),
        _ => Err(PromError::Bad {
            at,
            detail: format!(
                "HTTP {code}: {}",
                text.lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect::<String>()
            ),
        }),
    }
}

fn labels(r: &Value) -> BTreeMap<String, String> {
    r.get("metric")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Prometheus writes sample values as strings ("0.25", "NaN", "+Inf"); only finite ones count.
fn number(v: &Value) -> Option<f64> {
    v.as_str()?.parse::<f64>().ok().filter(|x| x.is_finite())
}
