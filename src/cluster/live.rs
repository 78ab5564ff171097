//! The live source: a kube client from kubeconfig (or in-cluster config) and a bounded, concurrent
//! collection of everything one diagnosis reads.
//!
//! Collection is two phases, each fully concurrent: every list (paged with limit/continue), then
//! the logs that the lists show are worth reading. Latency is therefore about
//! `max(pages of one list) + 1` round trips, not the sum of all requests. A 403 or a missing API
//! on one kind becomes a note; only failures that make the whole answer meaningless (cluster
//! unreachable, credentials rejected, pods unreadable) stop the run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryFutureExt, stream};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, LogParams};
use kube::client::ClientBuilder;
use kube::config::KubeConfigOptions;
use kube::{Client, Config};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tower::buffer::BufferLayer;
use tower::retry::RetryLayer;

use super::kinds::{self, Kind};
use super::logs::{self, LogTarget, Tail};
use crate::context::{ContainerKey, Context, Scope, Unavailable};
use crate::error::Error;

/// How to reach the cluster: kubectl's own flags.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub request_timeout: Option<Duration>,
}

/// A connected client and what the user should be told about it.
pub struct Cluster {
    pub client: Client,
    /// The kubeconfig context's namespace (or the pod's, in cluster): used when `-n` is absent.
    pub default_namespace: String,
    /// "context minikube (https://192.168.49.2:8443)".
    pub description: String,
    server: String,
}

impl Cluster {
    /// Builds a client the way kubectl resolves its configuration: `--kubeconfig`, else the
    /// merged `KUBECONFIG` paths, else `~/.kube/config`, else the in-cluster service account.
    pub async fn connect(opts: &ConnectOptions) -> Result<Cluster, Error> {
        let options = KubeConfigOptions {
            context: opts.context.clone(),
            ..Default::default()
        };
        let kubeconfig = super::kubeconfig::load(opts.kubeconfig.as_deref())?;
        let (mut config, context_name) = match kubeconfig {
            Some(kc) => {
                let name = opts
                    .context
                    .clone()
                    .or_else(|| kc.current_context.clone())
                    .unwrap_or_default();
                if let Some(wanted) = &opts.context
                    && !kc.contexts.iter().any(|c| &c.name == wanted)
                {
                    return Err(Error::UnknownContext(wanted.clone()));
                }
                let config = Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| Error::Kubeconfig(one_line(&e)))?;
                (config, format!("context {name}"))
            }
            None if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
                let config = Config::incluster().map_err(|e| Error::Kubeconfig(one_line(&e)))?;
                (config, "in-cluster service account".to_string())
            }
            None => return Err(Error::NoKubeconfig),
        };
        config.connect_timeout = Some(Duration::from_secs(10));
        if let Some(t) = opts.request_timeout {
            config.read_timeout = Some(t);
            config.write_timeout = Some(t);
        }
        // kube retries 429/503/504 up to 15 times with delays growing toward minutes, which is
        // right for a controller and wrong for a command someone is waiting on: our own policy
        // (super::retry) retries a few times, and only what is safe to send twice.
        config.default_retry = false;
        let server = config.cluster_url.to_string();
        let default_namespace = config.default_namespace.clone();
        let client = ClientBuilder::try_from(config)
            .map_err(|e| Error::Kubeconfig(one_line(&e)))?
            // Retry clones the service per attempt; the buffer makes kube's boxed stack cloneable.
            .with_layer(&BufferLayer::new(1024))
            .with_layer(&RetryLayer::new(super::retry::Policy::default()))
            .build();
        Ok(Cluster {
            client,
            default_namespace,
            description: format!("{context_name} ({})", server.trim_end_matches('/')),
            server,
        })
    }

    /// The API server's URL, as the kubeconfig names it.
    pub fn server_host(&self) -> &str {
        &self.server
    }

    /// Collects one context. `chunk` is the page size for lists, as kubectl's `--chunk-size`.
    pub async fn collect(&self, scope: Scope, tail: Tail, chunk: u32) -> Result<Context, Error> {
        let started = Instant::now();
        let c = Collector {
            cluster: self,
            scope: scope.clone(),
            chunk,
            requests: AtomicUsize::new(0),
            unavailable: Mutex::new(BTreeMap::new()),
        };
        let mut ctx = Context::empty(self.description.clone(), scope, Timestamp::now());
        // Normal events ("Pulled", "Started", "Scheduled") are most of any event list and never
        // the evidence of a problem; the snapshot reader drops them the same way.
        let events = ListParams::default().fields("type!=Normal");
        let all = ListParams::default;
        (
            ctx.pods,
            ctx.events,
            ctx.services,
            ctx.endpoints,
            ctx.deployments,
            ctx.replica_sets,
            ctx.stateful_sets,
            ctx.daemon_sets,
            ctx.replication_controllers,
            ctx.jobs,
            ctx.cron_jobs,
            ctx.pvcs,
            ctx.ingresses,
            ctx.hpas,
            ctx.network_policies,
            ctx.pdbs,
            ctx.config_maps,
            ctx.secrets,
            ctx.namespaces,
            ctx.nodes,
            ctx.pvs,
            ctx.storage_classes,
            ctx.ingress_classes,
            ctx.pod_metrics,
            ctx.node_metrics,
        ) = tokio::try_join!(
            c.required(&kinds::PODS),
            c.list(&kinds::EVENTS, events),
            c.list(&kinds::SERVICES, all()),
            c.list(&kinds::ENDPOINTS, all()),
            c.list(&kinds::DEPLOYMENTS, all()),
            c.list(&kinds::REPLICA_SETS, all()),
            c.list(&kinds::STATEFUL_SETS, all()),
            c.list(&kinds::DAEMON_SETS, all()),
            c.list(&kinds::REPLICATION_CONTROLLERS, all()),
            c.list(&kinds::JOBS, all()),
            c.list(&kinds::CRON_JOBS, all()),
            c.list(&kinds::PVCS, all()),
            c.list(&kinds::INGRESSES, all()),
            c.list(&kinds::HPAS, all()),
            c.list(&kinds::NETWORK_POLICIES, all()),
            c.list(&kinds::PDBS, all()),
            c.list(&kinds::CONFIG_MAPS, all()),
            c.list(&kinds::SECRETS, all()),
            c.list(&kinds::NAMESPACES, all()),
            c.list(&kinds::NODES, all()),
            c.list(&kinds::PVS, all()),
            c.list(&kinds::STORAGE_CLASSES, all()),
            c.list(&kinds::INGRESS_CLASSES, all()),
            c.optional(&kinds::POD_METRICS),
            c.optional(&kinds::NODE_METRICS),
        )?;
        let listed = started.elapsed();

        // A zero tail asks for the objects alone (no log requests at all).
        let targets = if tail.lines == 0 {
            Vec::new()
        } else {
            logs::targets(&ctx, tail)
        };
        let fetched: Vec<(LogTarget, Option<String>)> = stream::iter(targets)
            .map(|t| c.log(t, tail))
            .buffer_unordered(LOG_CONCURRENCY)
            .collect()
            .await;
        for (target, text) in fetched {
            let Some(text) = text else { continue };
            let entry = ctx
                .logs
                .entry(ContainerKey {
                    namespace: target.namespace,
                    pod: target.pod,
                    container: target.container,
                })
                .or_default();
            if target.previous {
                entry.previous = Some(text);
            } else {
                entry.current = Some(text);
            }
        }
        ctx.unavailable = c.unavailable.into_inner().expect("poisoned");
        tracing::info!(
            requests = c.requests.load(Ordering::Relaxed),
            lists_ms = listed.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "collected cluster context"
        );
        Ok(ctx.finish())
    }
}

/// Logs are fetched this many at a time: enough to finish in one or two round trips for a badly
/// broken namespace, few enough not to look like a flood to the API server.
const LOG_CONCURRENCY: usize = 32;

/// The server may return up to this much for one log before we keep our own tail of it; larger
/// than the kept tail so the end of the log, where the error is, survives the cut.
const LOG_FETCH_LIMIT: i64 = 256 * 1024;

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: DeserializeOwned"))]
struct Page<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
    #[serde(default)]
    metadata: ListMeta,
}

struct Collector<'a> {
    cluster: &'a Cluster,
    scope: Scope,
    chunk: u32,
    requests: AtomicUsize,
    unavailable: Mutex<BTreeMap<String, Unavailable>>,
}

impl Collector<'_> {
    fn namespace_for(&self, kind: &Kind) -> Option<&str> {
        match &self.scope {
            Scope::Namespace(ns) if kind.namespaced => Some(ns),
            _ => None,
        }
    }

    async fn pages<T: DeserializeOwned>(
        &self,
        kind: &Kind,
        params: &ListParams,
    ) -> Result<Vec<T>, kube::Error> {
        let request = kube::core::Request::new(kind.path(self.namespace_for(kind)));
        let mut params = params.clone().limit(self.chunk);
        let mut out = Vec::new();
        loop {
            let req = request.list(&params).map_err(kube::Error::BuildRequest)?;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let page: Page<T> = self.cluster.client.request(req).await?;
            out.extend(page.items);
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => return Ok(out),
            }
        }
    }

    /// A list whose refusal or absence is a note, not a failure.
    async fn list<T: DeserializeOwned>(
        &self,
        kind: &Kind,
        params: ListParams,
    ) -> Result<Vec<T>, Error> {
        Ok(self.optional_with(kind, &params).await?.unwrap_or_default())
    }

    async fn optional<T: DeserializeOwned>(&self, kind: &Kind) -> Result<Option<Vec<T>>, Error> {
        self.optional_with(kind, &ListParams::default()).await
    }

    async fn optional_with<T: DeserializeOwned>(
        &self,
        kind: &Kind,
        params: &ListParams,
    ) -> Result<Option<Vec<T>>, Error> {
        match self.pages(kind, params).await {
            Ok(items) => Ok(Some(items)),
            Err(kube::Error::Api(status)) if matches!(status.code, 403 | 404) => {
                let why = if status.code == 403 {
                    Unavailable::Forbidden(status.message.clone())
                } else if kind.group.is_empty() || kind.group.ends_with(".k8s.io") {
                    Unavailable::NotServed(not_served_hint(kind))
                } else {
                    Unavailable::NotServed(status.message.clone())
                };
                tracing::debug!(resource = kind.resource(), code = status.code, "skipped");
                self.unavailable
                    .lock()
                    .expect("poisoned")
                    .insert(kind.resource(), why);
                Ok(None)
            }
            Err(e) => Err(self.cluster.error(e, kind)),
        }
    }

    /// Pods are the one list diagnosis cannot do without.
    async fn required<T: DeserializeOwned>(&self, kind: &Kind) -> Result<Vec<T>, Error> {
        self.pages(kind, &ListParams::default())
            .await
            .map_err(|e| self.cluster.error(e, kind))
    }

    /// Fetches one log; a container that cannot serve one (still waiting, already gone) yields
    /// `None`, a refusal is noted once.
    async fn log(&self, target: LogTarget, tail: Tail) -> (LogTarget, Option<String>) {
        let params = LogParams {
            container: Some(target.container.clone()),
            previous: target.previous,
            tail_lines: Some(tail.lines as i64),
            limit_bytes: Some(LOG_FETCH_LIMIT.max(tail.bytes as i64)),
            ..Default::default()
        };
        let path = kinds::PODS.path(Some(&target.namespace));
        let result = match kube::core::Request::new(path).logs(&target.pod, &params) {
            Ok(req) => {
                self.requests.fetch_add(1, Ordering::Relaxed);
                self.cluster
                    .client
                    .request_text(req)
                    .map_ok(|text| tail.apply(&text))
                    .await
            }
            Err(e) => Err(kube::Error::BuildRequest(e)),
        };
        match result {
            Ok(text) => (target, Some(text)),
            Err(kube::Error::Api(status)) if status.code == 403 => {
                self.unavailable.lock().expect("poisoned").insert(
                    "pods/log".into(),
                    Unavailable::Forbidden(status.message.clone()),
                );
                (target, None)
            }
            Err(e) => {
                tracing::debug!(pod = target.pod, container = target.container, error = %e, "no log");
                (target, None)
            }
        }
    }
}

impl Cluster {
    /// Turns a client error into the one line a user needs.
    fn error(&self, err: kube::Error, kind: &Kind) -> Error {
        match err {
            kube::Error::Api(status) if status.code == 401 => Error::Unauthorized {
                server: self.server.clone(),
            },
            kube::Error::Api(status) if status.code == 403 => Error::Forbidden {
                resource: kind.resource(),
                message: status.message.clone(),
            },
            kube::Error::Api(status) => Error::Api {
                resource: kind.resource(),
                code: status.code,
                message: status.message.clone(),
            },
            kube::Error::SerdeError(e) => Error::Api {
                resource: kind.resource(),
                code: 200,
                message: format!("unexpected response: {e}"),
            },
            other => Error::Unreachable {
                server: self.server.clone(),
                detail: root_cause(&other),
            },
        }
    }
}

fn not_served_hint(kind: &Kind) -> String {
    if kind.group == "metrics.k8s.io" {
        "metrics-server is not installed; usage-based checks are skipped (minikube: `minikube addons enable metrics-server`)".into()
    } else {
        format!("the server does not serve {}", kind.api_version())
    }
}

/// The innermost cause of an error, which is the part that says what actually went wrong
/// ("Connection refused (os error 111)").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// The error and its causes on one line: parsers' multi-line snippets keep only their headline.
pub(crate) fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let headline = |e: &dyn std::error::Error| {
        e.to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let mut parts = vec![headline(err)];
    let mut cur = err;
    while let Some(next) = cur.source() {
        let s = headline(next);
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = next;
    }
    parts.join(": ")
}
