//! The live source: a kube client from kubeconfig (or in-cluster config) and a bounded, concurrent
//! collection of everything one diagnosis reads.
//!
//! Collection is two phases: every list, then the logs that the lists show are worth reading.
//! Lists run side by side, and a list whose first page shows more is cut into parts the API server
//! filters itself (pods by namespace, then by node; events by namespace, then by reason: see
//! `parts`), whose pages are fetched side by side too. Wall time is therefore a few round trips
//! plus the pages of the largest part, not the sum of all pages. At most [`MAX_IN_FLIGHT`]
//! requests are in flight at once, and pages are parsed off the async threads, slimmed as they
//! arrive. A 403 or a missing API on one kind becomes a note; only failures that make the whole
//! answer meaningless (cluster unreachable, credentials rejected, pods unreadable) stop the run.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::future::{self, BoxFuture};
use futures::{AsyncBufReadExt, FutureExt, StreamExt, TryFutureExt, stream};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, LogParams};
use kube::client::ClientBuilder;
use kube::config::KubeConfigOptions;
use kube::{Client, Config};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, SeqAccess, Visitor};
use tokio::sync::{Semaphore, SemaphorePermit, watch};
use tower::buffer::BufferLayer;
use tower::retry::RetryLayer;

use super::item::{ListItem, list_order};
use super::kinds::{self, Kind};
use super::logs::{self, LogTarget, Tail};
use super::parts::{Cut, Names, Part};
use crate::context::{ContainerKey, Context, Live, Scope, Unavailable};
use crate::error::Error;
use crate::ui;

/// How to reach the cluster: kubectl's own flags.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub request_timeout: Option<Duration>,
    /// The variables kubectl reads (`KUBECONFIG`, `HOME`, in-cluster, proxies), from the Session.
    pub env: super::kubeconfig::Environment,
}

/// A connected client and what the user should be told about it.
pub(crate) struct Cluster {
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
    pub(crate) async fn connect(opts: &ConnectOptions) -> Result<Cluster, Error> {
        let options = KubeConfigOptions {
            context: opts.context.clone(),
            ..Default::default()
        };
        let kubeconfig = super::kubeconfig::load(opts.kubeconfig.as_deref(), &opts.env)?;
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
            None if opts.env.in_cluster => {
                let config = Config::incluster().map_err(|e| Error::Kubeconfig(one_line(&e)))?;
                (config, "in-cluster service account".to_string())
            }
            None => return Err(Error::NoKubeconfig),
        };
        if super::kubeconfig::env_proxy_skipped(&config, &opts.env) {
            config.proxy_url = None;
        }
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
    pub(crate) fn server_host(&self) -> &str {
        &self.server
    }

    /// Collects one context. `chunk` is the page size for lists, as kubectl's `--chunk-size`.
    pub(crate) async fn collect(
        &self,
        scope: Scope,
        tail: Tail,
        chunk: u32,
    ) -> Result<Context, Error> {
        let started = Instant::now();
        let c = Collector {
            cluster: self,
            scope: scope.clone(),
            chunk,
            requests: AtomicUsize::new(0),
            unavailable: Mutex::new(BTreeMap::new()),
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
            parsing: Semaphore::new(std::thread::available_parallelism().map_or(1, usize::from)),
            page_bytes: Mutex::new(BTreeMap::new()),
            nodes: Pending::new(),
            namespaces: Pending::new(),
            arrived: Mutex::new(BTreeMap::new()),
        };
        let mut ctx = Context::empty(self.description.clone(), scope, Timestamp::now());
        c.lists(&mut ctx).await?;
        let listed = started.elapsed();
        c.logs(&mut ctx, &tail).await;
        // A log where the API server refuses a ServiceAccount: one more small wave, for what the
        // account is granted.
        let refused = super::rbac::namespaces_to_read(&ctx);
        if !refused.is_empty() {
            ctx.rbac = c.rbac(refused).await?;
        }
        ctx.unavailable = c.unavailable.into_inner().expect("poisoned");
        ctx.live = Some(Live {
            client: self.client.clone(),
        });
        tracing::info!(
            requests = c.requests.load(Ordering::Relaxed),
            lists_ms = listed.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "collected cluster context"
        );
        Ok(ctx.finish())
    }
}

/// Requests in flight at once, lists and logs together. An API server's priority and fairness
/// gives each user a share of its seats (a list of many objects takes several); a dozen or so at
/// a time stays inside a default share, so a big collection is queued behind nobody and never
/// crowds out the cluster's own controllers, while one request's latency hides behind the others.
const MAX_IN_FLIGHT: usize = 16;

/// The server may return up to this much for one log before we keep our own tail of it; larger
/// than the kept tail so the end of the log, where the error is, survives the cut.
const LOG_FETCH_LIMIT: i64 = 256 * 1024;

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Item"))]
struct Page<T> {
    /// Each item slimmed as soon as it is parsed: a page never holds its objects' full size.
    #[serde(default = "Vec::new", deserialize_with = "slimmed")]
    items: Vec<T>,
    #[serde(default)]
    metadata: ListMeta,
}

impl<T> Page<T> {
    fn next(&self) -> Option<String> {
        next(&self.metadata)
    }
}

/// A page's metadata alone, its items skipped.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    metadata: ListMeta,
}

fn next(meta: &ListMeta) -> Option<String> {
    meta.continue_.clone().filter(|t| !t.is_empty())
}

fn slimmed<'de, D: Deserializer<'de>, T: Item>(d: D) -> Result<Vec<T>, D::Error> {
    struct Each<T>(PhantomData<T>);
    impl<'de, T: Item> Visitor<'de> for Each<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a sequence")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            while let Some(mut item) = seq.next_element::<T>()? {
                item.slim();
                out.push(item);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(Each(PhantomData))
}

/// Names one list gives the cuts of another, once it is read (`None` inside when it could not
/// be read: no cut is made along it then).
struct Pending(watch::Sender<Option<Option<Vec<String>>>>);

impl Pending {
    fn new() -> Pending {
        Pending(watch::channel(None).0)
    }

    fn set(&self, names: Option<Vec<String>>) {
        self.0.send_replace(Some(names));
    }

    async fn get(&self) -> Option<Vec<String>> {
        let mut rx = self.0.subscribe();
        let known = rx.wait_for(Option::is_some).await.ok()?;
        known.clone().flatten()
    }
}

struct Collector<'a> {
    cluster: &'a Cluster,
    scope: Scope,
    chunk: u32,
    requests: AtomicUsize,
    unavailable: Mutex<BTreeMap<String, Unavailable>>,
    in_flight: Semaphore,
    /// Pages being parsed: one per core.
    parsing: Semaphore,
    /// The largest page read so far, in bytes, by resource.
    page_bytes: Mutex<BTreeMap<&'static str, usize>>,
    nodes: Pending,
    namespaces: Pending,
    /// Objects read so far, by resource, for the progress line.
    arrived: Mutex<BTreeMap<&'static str, usize>>,
}

type Listed<'s, T> = BoxFuture<'s, Result<Vec<T>, kube::Error>>;

impl Collector<'_> {
    /// Every list, side by side, into `ctx`.
    async fn lists(&self, ctx: &mut Context) -> Result<(), Error> {
        // Normal events ("Pulled", "Started", "Scheduled") are most of any event list and never
        // the evidence of a problem; the snapshot reader drops them the same way.
        let events = ListParams::default().fields("type!=Normal");
        let all = ListParams::default;
        (
            (ctx.pods, ctx.events),
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
            (ctx.namespaces, ctx.nodes),
            ctx.pvs,
            ctx.storage_classes,
            ctx.ingress_classes,
            ctx.pod_metrics,
            ctx.node_metrics,
        ) = tokio::try_join!(
            async {
                tokio::try_join!(
                    self.required(&kinds::PODS, &[Cut::Namespaces, Cut::Nodes]),
                    self.list(&kinds::EVENTS, events, &[Cut::Namespaces, Cut::Reasons]),
                )
            },
            self.list(&kinds::SERVICES, all(), &[]),
            self.list(&kinds::ENDPOINTS, all(), &[]),
            self.list(&kinds::DEPLOYMENTS, all(), &[]),
            self.list(&kinds::REPLICA_SETS, all(), &[]),
            self.list(&kinds::STATEFUL_SETS, all(), &[]),
            self.list(&kinds::DAEMON_SETS, all(), &[]),
            self.list(&kinds::REPLICATION_CONTROLLERS, all(), &[]),
            self.list(&kinds::JOBS, all(), &[]),
            self.list(&kinds::CRON_JOBS, all(), &[]),
            self.list(&kinds::PVCS, all(), &[]),
            self.list(&kinds::INGRESSES, all(), &[]),
            self.list(&kinds::HPAS, all(), &[]),
            self.list(&kinds::NETWORK_POLICIES, all(), &[]),
            self.list(&kinds::PDBS, all(), &[]),
            self.list(&kinds::CONFIG_MAPS, all(), &[]),
            self.list(&kinds::SECRETS, all(), &[]),
            async {
                tokio::try_join!(
                    self.names_of(&kinds::NAMESPACES, &self.namespaces),
                    self.names_of(&kinds::NODES, &self.nodes),
                )
            },
            self.list(&kinds::PVS, all(), &[]),
            self.list(&kinds::STORAGE_CLASSES, all(), &[]),
            self.list(&kinds::INGRESS_CLASSES, all(), &[]),
            self.optional(&kinds::POD_METRICS),
            self.optional(&kinds::NODE_METRICS),
        )?;
        Ok(())
    }

    /// The logs the lists show are worth reading, side by side, into `ctx`.
    async fn logs(&self, ctx: &mut Context, tail: &Tail) {
        // A zero tail asks for the objects alone (no log requests at all).
        let targets = if tail.lines == 0 {
            Vec::new()
        } else {
            logs::targets(ctx, tail)
        };
        let fetched: Vec<(LogTarget, Option<String>)> = stream::iter(targets)
            .map(|t| self.log(t, tail))
            .buffer_unordered(MAX_IN_FLIGHT)
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
    }

    fn namespace_for(&self, kind: &Kind) -> Option<&str> {
        match &self.scope {
            Scope::Namespace(ns) if kind.namespaced => Some(ns),
            _ => None,
        }
    }

    /// Every object of one part of a list. When its first page shows more, the part is cut
    /// along the first of `cuts` that applies and the parts are read side by side; otherwise the
    /// pages follow one another.
    fn gather<'s, T: Item>(
        &'s self,
        kind: &'s Kind,
        params: &'s ListParams,
        part: Part,
        cuts: &'s [Cut],
    ) -> Listed<'s, T> {
        async move {
            let body = self.fetch(kind, params, &part, None).await?;
            // A page that a cut would replace is never parsed into objects: where a cut may
            // apply, the list's metadata is read first (skipping the items is a fraction of
            // parsing them), and the items only when no cut is made.
            let (body, token) = if cuts.is_empty() {
                (body, None)
            } else {
                let Body { bytes, permit } = body;
                let (bytes, head) = self
                    .off_thread(move || {
                        let head = serde_json::from_slice::<Head>(&bytes);
                        (bytes, head)
                    })
                    .await;
                let token = next(&head.map_err(kube::Error::SerdeError)?.metadata);
                // The names a cut needs may still be in flight: their request needs the seat.
                let permit = if token.is_some() { None } else { permit };
                (Body { bytes, permit }, token)
            };
            if token.is_some() {
                for (i, cut) in cuts.iter().enumerate() {
                    let names = self.names_for(*cut, &part).await;
                    if let Some(parts) = part.cut(*cut, &names) {
                        drop(body);
                        let lists = future::try_join_all(
                            parts
                                .into_iter()
                                .map(|p| self.gather::<T>(kind, params, p, &cuts[i + 1..])),
                        )
                        .await?;
                        let mut items = concat(lists);
                        list_order(&mut items);
                        items.shrink_to_fit();
                        return Ok(items);
                    }
                }
            }
            let first = self.parse::<T>(body).await?;
            let Some(mut token) = first.next() else {
                self.arrived(kind, first.items.len());
                return Ok(first.items);
            };
            let mut out = first.items;
            out.reserve(first.metadata.remaining_item_count.unwrap_or(0).max(0) as usize);
            self.arrived(kind, out.len());
            loop {
                let body = self.fetch(kind, params, &part, Some(&token)).await?;
                let page = self.parse::<T>(body).await?;
                self.arrived(kind, page.items.len());
                let next = page.next();
                out.extend(page.items);
                match next {
                    Some(t) => token = t,
                    None => return Ok(out),
                }
            }
        }
        .boxed()
    }

    async fn names_for(&self, cut: Cut, part: &Part) -> Names {
        match cut {
            Cut::Namespaces if part.namespace.is_none() => Names {
                namespaces: self.namespaces.get().await,
                ..Names::default()
            },
            Cut::Nodes => Names {
                nodes: self.nodes.get().await,
                ..Names::default()
            },
            _ => Names::default(),
        }
    }

    /// The body of one page of one part.
    async fn fetch(
        &self,
        kind: &Kind,
        params: &ListParams,
        part: &Part,
        token: Option<&str>,
    ) -> Result<Body<'_>, kube::Error> {
        let mut params = part.params(params).limit(self.chunk);
        if let Some(token) = token {
            params = params.continue_token(token);
        }
        let req = kube::core::Request::new(kind.path(part.namespace.as_deref()))
            .list(&params)
            .map_err(kube::Error::BuildRequest)?;
        let permit = self.in_flight.acquire().await.expect("never closed");
        self.requests.fetch_add(1, Ordering::Relaxed);
        // A kind's pages are of a size: sized by the largest so far, a page's bytes are written
        // once, not copied up through every doubling of its buffer (fresh pages each time).
        let seen = self
            .page_bytes
            .lock()
            .expect("poisoned")
            .get(kind.plural)
            .copied();
        let mut bytes = Vec::with_capacity(seen.map_or(0, |n| n + n / 8));
        let stream = self.cluster.client.request_stream(req).await?;
        let mut stream = std::pin::pin!(stream);
        loop {
            // Chunk by chunk as they arrive (AsyncReadExt::read_to_end would zero the spare
            // capacity it reads into first).
            let chunk = stream
                .fill_buf()
                .await
                .map_err(|e| kube::Error::Service(e.into()))?;
            if chunk.is_empty() {
                break;
            }
            bytes.extend_from_slice(chunk);
            let n = chunk.len();
            stream.consume_unpin(n);
        }
        let mut sizes = self.page_bytes.lock().expect("poisoned");
        let largest = sizes.entry(kind.plural).or_default();
        *largest = (*largest).max(bytes.len());
        drop(sizes);
        Ok(Body {
            bytes,
            permit: Some(permit),
        })
    }

    /// One page parsed off the async threads (a page of pods is milliseconds of CPU), with what
    /// no analyzer reads already dropped.
    async fn parse<T: Item>(&self, body: Body<'_>) -> Result<Page<T>, kube::Error> {
        let Body { bytes, permit } = body;
        let page = self
            .off_thread(move || serde_json::from_slice::<Page<T>>(&bytes))
            .await;
        drop(permit);
        page.map_err(kube::Error::SerdeError)
    }

    /// Runs `f` on tokio's blocking threads, as many at once as there are cores: more would
    /// only share them, each thread with its own half-parsed page and malloc arena.
    async fn off_thread<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let _core = self.parsing.acquire().await.expect("never closed");
        tokio::task::spawn_blocking(f)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    fn arrived(&self, kind: &Kind, n: usize) {
        let mut arrived = self.arrived.lock().expect("poisoned");
        *arrived.entry(kind.plural).or_default() += n;
        ui::progress(&ui::counts(&arrived));
    }

    /// A list whose refusal or absence is a note, not a failure.
    async fn list<T: Item>(
        &self,
        kind: &Kind,
        params: ListParams,
        cuts: &[Cut],
    ) -> Result<Vec<T>, Error> {
        Ok(self
            .optional_with(kind, &params, cuts)
            .await?
            .unwrap_or_default())
    }

    /// A list whose names the cuts of other lists use, published as soon as it is read.
    async fn names_of<T: Item + k8s_openapi::Metadata<Ty = ObjectMeta>>(
        &self,
        kind: &Kind,
        pending: &Pending,
    ) -> Result<Vec<T>, Error> {
        let listed = self.optional_with(kind, &ListParams::default(), &[]).await;
        let names = listed.as_ref().ok().and_then(Option::as_ref).map(|items| {
            items
                .iter()
                .filter_map(|o: &T| o.metadata().name.clone())
                .collect()
        });
        pending.set(names);
        Ok(listed?.unwrap_or_default())
    }

    async fn optional<T: Item>(&self, kind: &Kind) -> Result<Option<Vec<T>>, Error> {
        self.optional_with(kind, &ListParams::default(), &[]).await
    }

    async fn optional_with<T: Item>(
        &self,
        kind: &Kind,
        params: &ListParams,
        cuts: &[Cut],
    ) -> Result<Option<Vec<T>>, Error> {
        let whole = Part::whole(self.namespace_for(kind));
        self.optional_part(kind, params, whole, cuts).await
    }

    /// RoleBindings and Roles of `namespaces`, ClusterRoleBindings and ClusterRoles, side by
    /// side; a refusal of any is a note.
    async fn rbac(&self, namespaces: Vec<String>) -> Result<super::rbac::Rbac, Error> {
        let all = ListParams::default();
        let (role_bindings, roles, cluster_role_bindings, cluster_roles) = tokio::try_join!(
            self.in_namespaces(&kinds::ROLE_BINDINGS, &namespaces, &all),
            self.in_namespaces(&kinds::ROLES, &namespaces, &all),
            self.optional_part(&kinds::CLUSTER_ROLE_BINDINGS, &all, Part::whole(None), &[]),
            self.optional_part(&kinds::CLUSTER_ROLES, &all, Part::whole(None), &[]),
        )?;
        Ok(super::rbac::Rbac {
            namespaces,
            role_bindings,
            roles,
            cluster_role_bindings: cluster_role_bindings.unwrap_or_default(),
            cluster_roles: cluster_roles.unwrap_or_default(),
        })
    }

    async fn in_namespaces<T: Item>(
        &self,
        kind: &Kind,
        namespaces: &[String],
        params: &ListParams,
    ) -> Result<Vec<T>, Error> {
        let lists = future::try_join_all(
            namespaces
                .iter()
                .map(|ns| self.optional_part(kind, params, Part::whole(Some(ns)), &[])),
        )
        .await?;
        Ok(lists.into_iter().flatten().flatten().collect())
    }

    async fn optional_part<T: Item>(
        &self,
        kind: &Kind,
        params: &ListParams,
        part: Part,
        cuts: &[Cut],
    ) -> Result<Option<Vec<T>>, Error> {
        match self.gather(kind, params, part, cuts).await {
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
    async fn required<T: Item>(&self, kind: &Kind, cuts: &[Cut]) -> Result<Vec<T>, Error> {
        let whole = Part::whole(self.namespace_for(kind));
        self.gather(kind, &ListParams::default(), whole, cuts)
            .await
            .map_err(|e| self.cluster.error(e, kind))
    }

    /// Fetches one log; a container that cannot serve one (still waiting, already gone) yields
    /// `None`, a refusal is noted once.
    async fn log(&self, target: LogTarget, tail: &Tail) -> (LogTarget, Option<String>) {
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
                let _permit = self.in_flight.acquire().await.expect("never closed");
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

/// What a list can hold: parsed on a blocking thread, slimmed as it is read.
trait Item: DeserializeOwned + ListItem + Send + 'static {}

impl<T: DeserializeOwned + ListItem + Send + 'static> Item for T {}

/// A page's bytes, holding its request's seat in [`MAX_IN_FLIGHT`] until it is parsed: pages
/// arrive faster than two cores parse them, and the seat keeps the waiting ones few (a page of
/// 500 pods is megabytes) where the network would otherwise have fetched every page ahead.
struct Body<'a> {
    bytes: Vec<u8>,
    permit: Option<SemaphorePermit<'a>>,
}

/// The parts' objects as one list, moved into the largest part's allocation.
fn concat<T>(mut lists: Vec<Vec<T>>) -> Vec<T> {
    let Some(largest) = (0..lists.len()).max_by_key(|&i| lists[i].len()) else {
        return Vec::new();
    };
    let mut out = lists.swap_remove(largest);
    out.reserve_exact(lists.iter().map(Vec::len).sum());
    for list in lists {
        out.extend(list);
    }
    out
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
