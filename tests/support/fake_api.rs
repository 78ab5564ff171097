//! A fake Kubernetes API server that speaks the real wire protocol, for the integration tests and
//! the benchmark.
//!
//! It is stateful and loaded from a scenario directory in `kubectl cluster-info dump` layout (the
//! same directory the snapshot source reads), and serves what kubectl-ai and kubectl need:
//! discovery (`/version`, `/api`, `/apis`, resource lists), list and get with label and field
//! selectors and limit/continue paging, pod logs (container, previous, tailLines, limitBytes),
//! metrics.k8s.io, the custom kinds of installed CRDs, `Status` errors, and server-side apply / merge patch / create / delete with
//! `dryRun`. Knobs inject latency, faults and RBAC refusals, and a journal records every request.
//!
//! It is checked against the real kubectl (tests/kubectl.rs) so it stays faithful.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use k8s_openapi::jiff::Timestamp;
use kubectl_ai::testing::{Kind, kinds};
use serde_json::{Value, json};

use super::server::Server;

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: String,
}

impl Recorded {
    pub fn is_mutation(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }

    pub fn param(&self, name: &str) -> Option<String> {
        query_pairs(&self.query).remove(name)
    }
}

/// A fault to inject: requests whose method matches and whose path contains `path` get `status`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Option<String>,
    pub path: String,
    pub status: u16,
    pub times: usize,
    /// Only requests that would really change something (not `dryRun=All`).
    pub real_only: bool,
}

/// Faults at a rate: each request that matches fails with probability `rate` (drawn from a
/// seeded generator, so a run is reproducible), at most `limit` times.
#[derive(Debug, Clone)]
pub struct Flaky {
    /// Methods it applies to; empty means every method.
    pub methods: Vec<String>,
    /// A substring of the path; empty means every path.
    pub path: String,
    /// The status to answer with; 0 drops the connection without an answer (a reset).
    pub status: u16,
    pub rate: f64,
    pub limit: usize,
    /// Only requests that would really change something (no dry runs, no access reviews).
    pub writes_only: bool,
    /// The change is made before the failure is answered: the write landed, its answer was lost.
    pub commit: bool,
}

impl Flaky {
    /// Every real write (POST, PUT, PATCH, DELETE) fails with `status` at `rate`.
    pub fn writes(status: u16, rate: f64) -> Flaky {
        Flaky {
            methods: vec![],
            path: String::new(),
            status,
            rate,
            limit: usize::MAX,
            writes_only: true,
            commit: false,
        }
    }

    /// Every request fails with `status` at `rate`.
    pub fn all(status: u16, rate: f64) -> Flaky {
        Flaky {
            writes_only: false,
            ..Flaky::writes(status, rate)
        }
    }

    pub fn on(mut self, method: &str, path: &str) -> Flaky {
        self.methods = vec![method.to_string()];
        self.path = path.to_string();
        self
    }
}

/// One answer the fault knobs gave instead of the server's.
#[derive(Debug, Clone)]
pub struct Injected {
    pub method: String,
    pub path: String,
    pub query: String,
    /// 0 for a dropped connection.
    pub status: u16,
}

/// (namespace, pod, container)
type ContainerId = (String, String, String);
/// (current, previous)
type Logs = (Option<String>, Option<String>);

#[derive(Default)]
struct Store {
    /// (group, plural) -> objects, each with metadata.namespace for namespaced kinds.
    objects: BTreeMap<(String, String), Vec<Value>>,
    logs: HashMap<ContainerId, Logs>,
    /// Each collection as lists serve it, built on its first list after a change (`items`
    /// drops it): a page then costs its own objects, not a sort and copy of the collection.
    listings: HashMap<(String, String), Listing>,
}

/// One collection in list order, each object serialized once.
struct Listing {
    /// Positions in the collection, in (namespace, name) order.
    order: Vec<usize>,
    /// By position in the collection: the object as a list sends it.
    json: Vec<Arc<str>>,
    /// Pods by `spec.nodeName` (the API server indexes it for the kubelet): positions in `order`.
    nodes: HashMap<String, Vec<usize>>,
}

impl Listing {
    fn build(items: &[Value]) -> Listing {
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by(|&a, &b| {
            let key = |i: usize| (meta(&items[i], "namespace"), meta(&items[i], "name"));
            key(a).cmp(&key(b))
        });
        let mut nodes: HashMap<String, Vec<usize>> = HashMap::new();
        for (at, &i) in order.iter().enumerate() {
            if let Some(node) = items[i].pointer("/spec/nodeName").and_then(Value::as_str) {
                nodes.entry(node.to_string()).or_default().push(at);
            }
        }
        let json = items
            .iter()
            .map(|o| Arc::from(serde_json::to_string(o).expect("json")))
            .collect();
        Listing { order, json, nodes }
    }

    /// The positions in `order` a list can match: a namespace's (contiguous, as the API server
    /// keeps them) or, for `spec.nodeName=N`, that node's.
    fn candidates(
        &self,
        items: &[Value],
        namespace: Option<&str>,
        node: Option<&str>,
    ) -> Vec<usize> {
        if let Some(node) = node {
            return self.nodes.get(node).cloned().unwrap_or_default();
        }
        let Some(ns) = namespace else {
            return (0..self.order.len()).collect();
        };
        let ns_of = |at: usize| meta(&items[self.order[at]], "namespace").unwrap_or("");
        let start = self
            .order
            .partition_point(|&i| meta(&items[i], "namespace").unwrap_or("") < ns);
        let end = start
            + (start..self.order.len())
                .take_while(|&at| ns_of(at) == ns)
                .count();
        (start..end).collect()
    }
}

struct Inner {
    store: Mutex<Store>,
    journal: Mutex<Vec<Recorded>>,
    faults: Mutex<Vec<Fault>>,
    flaky: Mutex<Vec<Flaky>>,
    injected: Mutex<Vec<Injected>>,
    /// State of the generator that decides which requests a `Flaky` fault hits.
    seed: AtomicU64,
    /// Requests are accepted and never answered (a hung API server).
    silent: std::sync::atomic::AtomicBool,
    /// Resources (plural, or "plural.group" for aggregated APIs) that RBAC forbids listing.
    forbidden: Mutex<HashSet<String>>,
    /// Rollouts never complete (a controller that is stuck).
    stalled: std::sync::atomic::AtomicBool,
    /// Resources access reviews deny (writes), even where reads are allowed.
    denied: Mutex<HashSet<String>>,
    /// Image references containing one of these cannot be pulled: their workloads never become
    /// ready and their pods wait in ImagePullBackOff.
    failing_images: Mutex<Vec<String>>,
    latency_ms: AtomicU64,
    metrics_served: bool,
    /// CustomResourceDefinitions installed: their kinds (from `kinds::CUSTOM`) are served.
    crds: Mutex<Vec<Value>>,
    resource_version: AtomicU64,
    requests: AtomicUsize,
    port: AtomicU64,
    /// Services whose proxy forwards to a real server: (namespace, name) -> base URL.
    upstreams: Mutex<HashMap<(String, String), String>>,
}

/// A running fake API server; stops when dropped.
pub struct FakeApi {
    pub url: String,
    inner: Arc<Inner>,
    _server: Server,
}

impl Drop for FakeApi {
    /// A silent server answers again so its handlers end and it can shut down.
    fn drop(&mut self) {
        self.inner.silent.store(false, Ordering::Relaxed);
    }
}

/// The URL of a port nothing listens on: a dead API server.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("http://{}", listener.local_addr().expect("addr"))
}

impl FakeApi {
    /// Starts a server holding the scenario in `dir`.
    pub fn start(dir: &Path) -> FakeApi {
        let (store, metrics_served) = load(dir);
        Self::with_store(store, metrics_served)
    }

    /// Starts a server with no objects (for tests that build their own).
    pub fn empty() -> FakeApi {
        Self::with_store(Store::default(), false)
    }

    fn with_store(store: Store, metrics_served: bool) -> FakeApi {
        let inner = Arc::new(Inner {
            store: Mutex::new(store),
            journal: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            flaky: Mutex::new(Vec::new()),
            injected: Mutex::new(Vec::new()),
            seed: AtomicU64::new(0x9e37_79b9_7f4a_7c15),
            silent: std::sync::atomic::AtomicBool::new(false),
            forbidden: Mutex::new(HashSet::new()),
            denied: Mutex::new(HashSet::new()),
            failing_images: Mutex::new(Vec::new()),
            stalled: std::sync::atomic::AtomicBool::new(false),
            latency_ms: AtomicU64::new(0),
            metrics_served,
            crds: Mutex::new(Vec::new()),
            resource_version: AtomicU64::new(10_000),
            requests: AtomicUsize::new(0),
            port: AtomicU64::new(0),
            upstreams: Mutex::new(HashMap::new()),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let server = Server::start(app, 2);
        inner
            .port
            .store(server.addr.port() as u64, Ordering::Relaxed);
        FakeApi {
            url: format!("http://{}", server.addr),
            inner,
            _server: server,
        }
    }

    /// Installs CustomResourceDefinitions: from then on their kinds are served (those of
    /// `kinds::CUSTOM`, the ones kubectl-ai applies), with discovery, as the API server does.
    pub fn install_crds(&self, crds: Vec<Value>) {
        self.inner.crds.lock().unwrap().extend(crds);
    }

    /// Makes the service proxy of `namespace/service` forward to a real server (a Prometheus).
    pub fn proxy_to(&self, namespace: &str, service: &str, upstream: &str) {
        self.inner.upstreams.lock().unwrap().insert(
            (namespace.to_string(), service.to_string()),
            upstream.to_string(),
        );
    }

    /// Adds this much delay to every request, as a slow or distant API server would.
    pub fn set_latency(&self, latency: Duration) {
        self.inner
            .latency_ms
            .store(latency.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn inject(&self, fault: Fault) {
        self.inner.faults.lock().unwrap().push(fault);
    }

    /// Adds a fault at a rate; `seed` makes which requests it hits reproducible.
    pub fn flaky(&self, fault: Flaky, seed: u64) {
        self.inner.seed.store(seed | 1, Ordering::Relaxed);
        self.inner.flaky.lock().unwrap().push(fault);
    }

    /// Removes every fault at a rate (the server recovers).
    pub fn heal(&self) {
        self.inner.flaky.lock().unwrap().clear();
    }

    /// The answers the fault knobs gave instead of the server's, in order.
    pub fn injected(&self) -> Vec<Injected> {
        self.inner.injected.lock().unwrap().clone()
    }

    /// From now on requests are accepted and never answered.
    pub fn go_silent(&self) {
        self.inner.silent.store(true, Ordering::Relaxed);
    }

    /// Every object of one kind, as stored.
    pub fn objects(&self, kind: &Kind) -> Vec<Value> {
        let store = self.inner.store.lock().unwrap();
        store.objects.get(&key(kind)).cloned().unwrap_or_default()
    }

    /// From now on, changed workloads never finish rolling out.
    /// Images whose reference contains `needle` fail to pull from now on.
    pub fn fail_image(&self, needle: &str) {
        self.inner
            .failing_images
            .lock()
            .unwrap()
            .push(needle.to_string());
    }

    pub fn stall_rollouts(&self) {
        self.inner.stalled.store(true, Ordering::Relaxed);
    }

    /// RBAC: every access review about this resource ("deployments") is denied, while reads stay
    /// allowed, as for a user who may look but not change.
    pub fn deny(&self, resource: &str) {
        self.inner
            .denied
            .lock()
            .unwrap()
            .insert(resource.to_string());
    }

    /// RBAC: listing this resource ("secrets", "pods.metrics.k8s.io") returns 403.
    pub fn forbid(&self, resource: &str) {
        self.inner
            .forbidden
            .lock()
            .unwrap()
            .insert(resource.to_string());
    }

    pub fn journal(&self) -> Vec<Recorded> {
        self.inner.journal.lock().unwrap().clone()
    }

    pub fn mutations(&self) -> Vec<Recorded> {
        self.journal()
            .into_iter()
            .filter(Recorded::is_mutation)
            .collect()
    }

    /// Requests that changed (or tried to change) cluster state: not dry runs, not access reviews.
    pub fn real_mutations(&self) -> Vec<Recorded> {
        self.mutations()
            .into_iter()
            .filter(|r| {
                r.param("dryRun").as_deref() != Some("All")
                    && !(r.body.contains("\"dryRun\"") && r.body.contains("\"All\""))
                    && !r.path.contains("selfsubjectaccessreviews")
            })
            .collect()
    }

    pub fn request_count(&self) -> usize {
        self.inner.requests.load(Ordering::Relaxed)
    }

    pub fn reset_journal(&self) {
        self.inner.journal.lock().unwrap().clear();
        self.inner.requests.store(0, Ordering::Relaxed);
    }

    /// The stored object, as a GET would return it.
    pub fn object(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let store = self.inner.store.lock().unwrap();
        store
            .objects
            .get(&(group.to_string(), plural.to_string()))?
            .iter()
            .find(|o| {
                meta(o, "name") == Some(name)
                    && (namespace.is_none() || meta(o, "namespace") == namespace)
            })
            .cloned()
    }

    /// Adds objects of one kind (used by the benchmark to build large clusters).
    pub fn insert(&self, kind: &Kind, items: Vec<Value>) {
        let mut store = self.inner.store.lock().unwrap();
        store.items(kind).extend(items);
    }

    pub fn insert_log(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        current: Option<String>,
        previous: Option<String>,
    ) {
        self.inner.store.lock().unwrap().logs.insert(
            (namespace.into(), pod.into(), container.into()),
            (current, previous),
        );
    }

    /// A kubeconfig pointing at this server, with `namespace` as the context's namespace.
    pub fn write_kubeconfig(&self, dir: &Path, namespace: &str) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\n    namespace: {namespace}\n- name: other\n  context:\n    cluster: fake\n    user: tester\n    namespace: default\ncurrent-context: fake\nusers:\n- name: tester\n  user:\n    token: fake-token\n",
            url = self.url
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }
}

/// A kind's place in the store: (group, plural).
fn key(kind: &Kind) -> (String, String) {
    (kind.group.to_string(), kind.plural.to_string())
}

/// metrics.k8s.io's kinds: served only when the scenario has metrics, and read-only.
fn is_metrics(kind: &Kind) -> bool {
    kind.group == kinds::POD_METRICS.group
}

fn meta<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

// ---- loading -------------------------------------------------------------------------------

fn read_list(path: &Path) -> Option<Vec<Value>> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some(
        v.get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    )
}

/// Moves every RFC 3339 timestamp in the scenario by the same amount, so that its newest moment
/// is now: a scenario served live then says "3 minutes ago" exactly where its snapshot does.
fn shift_to_now(store: &mut Store) {
    fn visit(v: &mut Value, f: &mut dyn FnMut(&mut Value)) {
        match v {
            Value::Object(m) => m.values_mut().for_each(|v| visit(v, f)),
            Value::Array(a) => a.iter_mut().for_each(|v| visit(v, f)),
            Value::String(_) => f(v),
            _ => {}
        }
    }
    let parse = |v: &Value| -> Option<Timestamp> {
        let s = v.as_str()?;
        (s.len() >= 20 && s.as_bytes()[10] == b'T')
            .then(|| s.parse().ok())
            .flatten()
    };
    let mut newest: Option<Timestamp> = None;
    for items in store.objects.values_mut() {
        for item in items.iter_mut() {
            visit(item, &mut |v| newest = newest.max(parse(v)));
        }
    }
    let Some(newest) = newest else { return };
    let delta = Timestamp::now().duration_since(newest);
    for items in store.objects.values_mut() {
        for item in items.iter_mut() {
            visit(item, &mut |v| {
                if let Some(t) = parse(v) {
                    *v = json!(
                        t.checked_add(delta)
                            .expect("in range")
                            .strftime("%Y-%m-%dT%H:%M:%SZ")
                            .to_string()
                    );
                }
            });
        }
    }
}

fn load(dir: &Path) -> (Store, bool) {
    let mut store = Store::default();
    let mut metrics = false;
    let namespaces: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    for kind in kinds::ALL {
        let key = key(kind);
        let mut found = if kind.namespaced {
            None
        } else {
            read_list(&dir.join(kind.file))
        };
        if kind.namespaced {
            if is_metrics(kind) {
                found = read_list(&dir.join(kind.file));
            }
            for ns in &namespaces {
                let mut items = read_list(&dir.join(ns).join(kind.file));
                if items.is_none() && *kind == kinds::REPLICATION_CONTROLLERS {
                    items = read_list(&dir.join(ns).join(kinds::REPLICATION_CONTROLLERS_ALT_FILE));
                }
                if let Some(items) = items {
                    found.get_or_insert_with(Vec::new).extend(items);
                }
            }
        }
        if is_metrics(kind) && found.is_some() {
            metrics = true;
        }
        store
            .objects
            .entry(key)
            .or_default()
            .extend(found.unwrap_or_default());
    }
    // A namespace directory is a namespace even when namespaces.json is absent.
    let ns_key = key(&kinds::NAMESPACES);
    for ns in &namespaces {
        let list = store.objects.entry(ns_key.clone()).or_default();
        if !list.iter().any(|o| meta(o, "name") == Some(ns)) {
            list.push(json!({"metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}));
        }
    }
    for ns in &namespaces {
        let Ok(pods) = std::fs::read_dir(dir.join(ns)) else {
            continue;
        };
        for pod in pods
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        {
            let pod_name = pod.file_name().into_string().unwrap_or_default();
            for (file, previous) in [("logs.txt", false), ("previous-logs.txt", true)] {
                let Ok(text) = std::fs::read_to_string(pod.path().join(file)) else {
                    continue;
                };
                for (container, body) in kubectl_ai::testing::parse_dump(&text) {
                    let entry = store
                        .logs
                        .entry((ns.clone(), pod_name.clone(), container))
                        .or_default();
                    if previous {
                        entry.1 = Some(body);
                    } else {
                        entry.0 = Some(body);
                    }
                }
            }
        }
    }
    shift_to_now(&mut store);
    (store, metrics)
}

// ---- serving -------------------------------------------------------------------------------

type Shared = Arc<Inner>;

fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code
    });
    let mut resp = (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response();
    if code == 429 {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

fn not_found(what: &str, name: &str) -> Response {
    status(404, "NotFound", format!("{what} \"{name}\" not found"))
}

fn json_response(code: StatusCode, v: Value) -> Response {
    (code, axum::Json(v)).into_response()
}

fn query_pairs(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                out.push(
                    u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?, 16).ok()?,
                );
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

async fn handle(State(inner): State<Shared>, req: Request) -> Response {
    inner.requests.fetch_add(1, Ordering::Relaxed);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let headers = req.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body: Bytes = axum::body::to_bytes(req.into_body(), 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    inner.journal.lock().unwrap().push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type: content_type.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let latency = inner.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    while inner.silent.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let params = query_pairs(&query);
    let answer = || {
        route(
            &inner,
            &method,
            &path,
            &params,
            &headers,
            &content_type,
            &body,
        )
    };
    if let Some(injected) = flaky_hit(&inner, &method, &path, &query) {
        if injected.commit {
            // The write lands; only its answer is lost.
            answer();
        }
        if injected.status == 0 {
            // Unwinding out of the handler drops the connection without an answer, as a reset
            // does; `resume_unwind` skips the panic hook, so nothing is printed.
            std::panic::resume_unwind(Box::new("injected connection reset"));
        }
        return status(
            injected.status,
            reason(injected.status),
            format!("injected fault {} on {path}", injected.status),
        );
    }
    {
        let mut faults = inner.faults.lock().unwrap();
        if let Some(f) = faults.iter_mut().find(|f| {
            f.times > 0
                && !(f.real_only && query.contains("dryRun=All"))
                && path.contains(&f.path)
                && f.method.as_deref().is_none_or(|m| m == method.as_str())
        }) {
            f.times -= 1;
            return status(
                f.status,
                reason(f.status),
                format!("injected fault {} on {path}", f.status),
            );
        }
    }
    if let Some((upstream, rest)) = upstream_for(&inner, &path) {
        let target = if query.is_empty() {
            rest
        } else {
            format!("{rest}?{query}")
        };
        let answer =
            tokio::task::spawn_blocking(move || super::server::http_get(&upstream, &target))
                .await
                .expect("forward");
        return match answer {
            Ok((code, body)) => (StatusCode::from_u16(code).unwrap(), body).into_response(),
            Err(e) => status(
                503,
                "ServiceUnavailable",
                format!("error trying to reach service: {e}"),
            ),
        };
    }
    answer()
}

/// `/api/v1/namespaces/NS/services/[http:]NAME[:PORT]/proxy/REST` of a forwarded Service:
/// (upstream base URL, `/REST`).
fn upstream_for(inner: &Inner, path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/api/v1/namespaces/")?;
    let (ns, rest) = rest.split_once("/services/")?;
    let (service, rest) = rest.split_once("/proxy")?;
    let service = service
        .strip_prefix("http:")
        .or_else(|| service.strip_prefix("https:"))
        .unwrap_or(service);
    let name = service.split(':').next()?;
    let upstreams = inner.upstreams.lock().unwrap();
    let upstream = upstreams.get(&(ns.to_string(), name.to_string()))?;
    Some((upstream.clone(), rest.to_string()))
}

fn reason(code: u16) -> &'static str {
    match code {
        409 => "Conflict",
        429 => "TooManyRequests",
        500 => "InternalError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        403 => "Forbidden",
        404 => "NotFound",
        _ => "Unknown",
    }
}

/// A number in [0, 1) from the seeded generator (xorshift64*: reproducible, spread enough).
fn draw(seed: &AtomicU64) -> f64 {
    let mut x = seed.load(Ordering::Relaxed);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    seed.store(x, Ordering::Relaxed);
    (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
}

/// Whether a `Flaky` fault hits this request, and which (recorded in `injected`).
fn flaky_hit(inner: &Inner, method: &Method, path: &str, query: &str) -> Option<Flaky> {
    let write = matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
        && !query.contains("dryRun=All")
        && !path.contains("selfsubjectaccessreviews");
    let mut rules = inner.flaky.lock().unwrap();
    // Each matching rule draws in turn; the first that hits answers.
    let rule = rules.iter_mut().find(|f| {
        f.limit > 0
            && (!f.writes_only || write)
            && path.contains(&f.path)
            && (f.methods.is_empty() || f.methods.iter().any(|m| m == method.as_str()))
            && draw(&inner.seed) < f.rate
    })?;
    rule.limit -= 1;
    inner.injected.lock().unwrap().push(Injected {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        status: rule.status,
    });
    Some(rule.clone())
}

/// The answer to one request: discovery and the OpenAPI documents, else a resource.
fn route(
    inner: &Inner,
    method: &Method,
    path: &str,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    content_type: &str,
    body: &[u8],
) -> Response {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(answer) = discovery(inner, &segs) {
        return answer;
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", group, version, rest @ ..] if served(inner, group, version) => {
            (*group, *version, rest)
        }
        _ => return not_served(),
    };
    resource(
        inner,
        method,
        group,
        version,
        rest,
        params,
        headers,
        content_type,
        body,
    )
}

/// The 404 of a path the server does not serve.
fn not_served() -> Response {
    status(
        404,
        "NotFound",
        "the server could not find the requested resource".into(),
    )
}

fn served(inner: &Inner, group: &str, version: &str) -> bool {
    served_groups(inner)
        .iter()
        .any(|(g, v)| g == group && v == version)
}

/// `/version`, `/api`, `/apis`, the resource lists and `/openapi/...`; `None` for the rest.
fn discovery(inner: &Inner, segs: &[&str]) -> Option<Response> {
    let answer = match segs {
        ["version"] => json_response(
            StatusCode::OK,
            json!({"major": "1", "minor": "33", "emulationMajor": "1", "emulationMinor": "33", "minCompatibilityMajor": "1", "minCompatibilityMinor": "32",
                   "gitVersion": "v1.33.1", "gitCommit": "8adc0f041b8e7ad1d30e29cc59c6ae7a15e19828", "gitTreeState": "clean",
                   "buildDate": "2025-05-15T08:19:08Z", "goVersion": "go1.24.2", "compiler": "gc", "platform": "linux/amd64"}),
        ),
        ["api"] => json_response(
            StatusCode::OK,
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("127.0.0.1:{}", inner.port.load(Ordering::Relaxed))}]}),
        ),
        ["apis"] => json_response(StatusCode::OK, group_list(inner)),
        ["api", "v1"] => json_response(StatusCode::OK, resource_list(inner, "", "v1")),
        ["apis", group, version] if served(inner, group, version) => {
            json_response(StatusCode::OK, resource_list(inner, group, version))
        }
        ["apis", _, _] => not_served(),
        ["openapi", "v2"] => json_response(
            StatusCode::OK,
            json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.33.1"},
                   "paths": {}, "definitions": openapi_schemas("#/definitions/")}),
        ),
        ["openapi", "v3"] => json_response(StatusCode::OK, openapi_v3_paths(inner)),
        ["openapi", "v3", ..] => json_response(
            StatusCode::OK,
            json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.1"}, "paths": {},
                   "components": {"schemas": openapi_schemas("#/components/schemas/")}}),
        ),
        ["openapi", ..] => not_served(),
        _ => return None,
    };
    Some(answer)
}

/// `/openapi/v3`: one document per served group version.
fn openapi_v3_paths(inner: &Inner) -> Value {
    let mut paths = serde_json::Map::new();
    for (group, version) in served_groups(inner) {
        let gv = if group.is_empty() {
            format!("api/{version}")
        } else {
            format!("apis/{group}/{version}")
        };
        paths.insert(
            gv.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{gv}?hash=4A2B")}),
        );
    }
    json!({"paths": paths})
}

/// The kinds served: the table's (metrics.k8s.io when its metrics are loaded), and the custom
/// kinds whose CRD is installed.
fn served_kinds(inner: &Inner) -> Vec<&'static Kind> {
    let crds = inner.crds.lock().unwrap();
    let installed = |k: &Kind| {
        crds.iter().any(|c| {
            c["spec"]["group"] == k.group
                && c["spec"]["names"]["plural"] == k.plural
                && c["spec"]["versions"].as_array().is_some_and(|vs| {
                    vs.iter()
                        .any(|v| v["name"] == k.version && v["served"] == true)
                })
        })
    };
    kinds::ALL
        .iter()
        .filter(|k| !is_metrics(k) || inner.metrics_served)
        .chain(kinds::CUSTOM.iter().filter(|k| installed(k)))
        .collect()
}

/// The (group, version) pairs served: every kind's, plus authorization for access reviews.
fn served_groups(inner: &Inner) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = served_kinds(inner)
        .into_iter()
        .filter(|k| !k.group.is_empty())
        .map(|k| (k.group.to_string(), k.version.to_string()))
        .collect();
    out.push(("authorization.k8s.io".into(), "v1".into()));
    out.sort();
    out.dedup();
    out
}

fn group_list(inner: &Inner) -> Value {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (g, v) in served_groups(inner) {
        groups.entry(g).or_default().push(v);
    }
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                .collect();
            json!({"name": g, "versions": versions, "preferredVersion": versions[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(inner: &Inner, group: &str, version: &str) -> Value {
    let mut resources: Vec<Value> = served_kinds(inner)
        .into_iter()
        .filter(|k| k.group == group && k.version == version)
        .map(|k| {
            let verbs: Vec<&str> = if is_metrics(k) {
                vec!["get", "list"]
            } else {
                vec!["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
            };
            json!({"name": k.plural, "singularName": k.kind.to_lowercase(), "namespaced": k.namespaced, "kind": k.kind,
                   "verbs": verbs, "shortNames": k.short})
        })
        .collect();
    if group.is_empty() {
        resources.push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
        resources.push(json!({"name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get", "patch", "update"]}));
    }
    if group == "apps" {
        for p in [
            kinds::DEPLOYMENTS,
            kinds::STATEFUL_SETS,
            kinds::REPLICA_SETS,
        ]
        .map(|k| k.plural)
        {
            resources.push(json!({"name": format!("{p}/scale"), "singularName": "", "namespaced": true, "kind": "Scale", "group": "autoscaling", "version": "v1", "verbs": ["get", "patch", "update"]}));
        }
    }
    if group == "authorization.k8s.io" {
        resources.push(json!({"name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview", "namespaced": false, "kind": "SelfSubjectAccessReview", "verbs": ["create"]}));
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

#[allow(clippy::too_many_arguments)]
fn resource(
    inner: &Inner,
    method: &Method,
    group: &str,
    version: &str,
    rest: &[&str],
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    content_type: &str,
    body: &[u8],
) -> Response {
    // namespaces/{ns}/{plural}[/{name}[/{sub}]] or {plural}[/{name}[/{sub}]]
    let (namespace, rest): (Option<&str>, &[&str]) = match rest {
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(*ns), tail),
        other => (None, other),
    };
    let Some((plural, tail)) = rest.split_first() else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
        );
    };
    let Some(kind) = served_kinds(inner)
        .into_iter()
        .find(|k| k.group == group && k.version == version && k.plural == *plural)
    else {
        if group == "authorization.k8s.io"
            && *plural == "selfsubjectaccessreviews"
            && method == Method::POST
        {
            return access_review(inner, body);
        }
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
        );
    };
    let resource_name = kind.resource();
    match (method.as_str(), tail) {
        ("GET", []) => {
            if inner.forbidden.lock().unwrap().contains(&resource_name) {
                let ns_part = namespace
                    .map(|n| format!(" in the namespace \"{n}\""))
                    .unwrap_or_else(|| " at the cluster scope".into());
                return status(
                    403,
                    "Forbidden",
                    format!(
                        "{resource_name} is forbidden: User \"system:serviceaccount:default:tester\" cannot list resource \"{}\" in API group \"{}\"{ns_part}",
                        kind.plural, kind.group
                    ),
                );
            }
            list(inner, kind, namespace, params, headers)
        }
        ("GET", [name]) if *kind == kinds::ENDPOINTS => {
            endpoints(inner, namespace.unwrap_or(""), name)
        }
        ("GET", [name, "proxy", ..]) if *kind == kinds::SERVICES => {
            service_proxy(inner, namespace.unwrap_or(""), name)
        }
        ("GET", [name]) => get(inner, kind, namespace, name),
        ("GET", [name, "log"]) if *kind == kinds::PODS => {
            logs(inner, namespace.unwrap_or(""), name, params)
        }
        ("PATCH", [name]) => patch(inner, kind, namespace, name, params, content_type, body),
        ("POST", []) => create(inner, kind, namespace, params, body),
        ("PUT", [name]) => replace(inner, kind, namespace, name, params, body),
        ("DELETE", [name]) => delete(inner, kind, namespace, name, params, body),
        _ => status(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported on this path"),
        ),
    }
}

fn list_kind(kind: &Kind) -> String {
    format!("{}List", kind.kind)
}

fn list(
    inner: &Inner,
    kind: &Kind,
    namespace: Option<&str>,
    params: &HashMap<String, String>,
    _headers: &HeaderMap,
) -> Response {
    let labels = match params.get("labelSelector").filter(|s| !s.is_empty()) {
        None => None,
        Some(sel) => match LabelSelector::parse(sel) {
            Some(sel) => Some(sel),
            None => {
                return status(
                    400,
                    "BadRequest",
                    format!("unable to parse requirement: invalid label selector {sel:?}"),
                );
            }
        },
    };
    let fields = match params.get("fieldSelector").filter(|s| !s.is_empty()) {
        None => None,
        Some(sel) => match FieldSelector::parse(sel) {
            Some(sel) => Some(sel),
            None => return status(400, "BadRequest", format!("invalid field selector {sel:?}")),
        },
    };
    // A continue token is the position in the list's candidates where the next page starts.
    let start: usize = match params.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => match token.strip_prefix("offset-").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => {
                return status(
                    400,
                    "BadRequest",
                    "continue key is not valid: illegal base64 data".into(),
                );
            }
        },
        None => 0,
    };
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let (page, next, remaining) = {
        let mut store = inner.store.lock().unwrap();
        let (items, listing) = store.listing(kind);
        let node = fields.as_ref().and_then(|f| f.equals("spec.nodeName"));
        let candidates = listing.candidates(items, namespace, node);
        let matches = |at: &usize| {
            let o = &items[listing.order[*at]];
            namespace.is_none_or(|ns| meta(o, "namespace") == Some(ns))
                && labels
                    .as_ref()
                    .is_none_or(|s| s.matches(o.get("metadata").and_then(|m| m.get("labels"))))
                && fields.as_ref().is_none_or(|s| s.matches(o))
        };
        let mut rest = candidates.iter().skip(start).filter(|at| matches(at));
        let page: Vec<Arc<str>> = rest
            .by_ref()
            .take(limit)
            .map(|&at| listing.json[listing.order[at]].clone())
            .collect();
        let next = rest.next().map(|at| candidates.partition_point(|c| c < at));
        // As the API server: the count of what is left is only known without selectors.
        let remaining = next
            .filter(|_| labels.is_none() && fields.is_none())
            .map(|n| candidates.len() - n);
        (page, next, remaining)
    };
    let rv = inner.resource_version.load(Ordering::Relaxed).to_string();
    let mut metadata = json!({"resourceVersion": rv});
    if let Some(next) = next {
        metadata["continue"] = json!(format!("offset-{next}"));
    }
    if let Some(n) = remaining {
        metadata["remainingItemCount"] = json!(n);
    }
    let head =
        json!({"kind": list_kind(kind), "apiVersion": kind.api_version(), "metadata": metadata});
    let head = head.to_string();
    let body = format!(
        "{},\"items\":[{}]}}",
        &head[..head.len() - 1],
        page.join(",")
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn with_type(kind: &Kind, mut obj: Value) -> Value {
    obj["kind"] = json!(kind.kind);
    obj["apiVersion"] = json!(kind.api_version());
    obj
}

impl Store {
    fn items(&mut self, kind: &Kind) -> &mut Vec<Value> {
        let key = key(kind);
        self.listings.remove(&key);
        self.objects.entry(key).or_default()
    }

    /// The collection and its listing, built if a change dropped it.
    fn listing(&mut self, kind: &Kind) -> (&[Value], &Listing) {
        let key = key(kind);
        let items = self.objects.get(&key).map_or(&[][..], Vec::as_slice);
        let listing = self
            .listings
            .entry(key)
            .or_insert_with(|| Listing::build(items));
        (items, listing)
    }
}

/// Where the named object sits in its kind's list.
fn position(items: &[Value], kind: &Kind, namespace: Option<&str>, name: &str) -> Option<usize> {
    items.iter().position(|o| {
        meta(o, "name") == Some(name) && (!kind.namespaced || meta(o, "namespace") == namespace)
    })
}

fn find<'a>(
    store: &'a Store,
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
) -> Option<&'a Value> {
    store.objects.get(&key(kind))?.iter().find(|o| {
        meta(o, "name") == Some(name) && (!kind.namespaced || meta(o, "namespace") == namespace)
    })
}

fn get(inner: &Inner, kind: &Kind, namespace: Option<&str>, name: &str) -> Response {
    let store = inner.store.lock().unwrap();
    match find(&store, kind, namespace, name) {
        Some(o) => json_response(StatusCode::OK, with_type(kind, o.clone())),
        None => not_found(&kind.resource_group_name(), name),
    }
}

trait GroupName {
    fn resource_group_name(&self) -> String;
}

impl GroupName for Kind {
    /// "deployments.apps", "pods": how the API server names a resource in NotFound messages.
    fn resource_group_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

/// `pods/NAME/log`: the container's current or previous log, cut as `tailLines` and
/// `limitBytes` ask; the API server's errors for a wrong container or a log that is not there.
fn logs(inner: &Inner, namespace: &str, pod: &str, params: &HashMap<String, String>) -> Response {
    let store = inner.store.lock().unwrap();
    let Some(obj) = find(&store, &kinds::PODS, Some(namespace), pod) else {
        return not_found(kinds::PODS.plural, pod);
    };
    let container = match log_container(obj, pod, params) {
        Ok(c) => c,
        Err(message) => return status(400, "BadRequest", message),
    };
    let previous = params.get("previous").is_some_and(|p| p == "true");
    let (current, prev) = store
        .logs
        .get(&(namespace.to_string(), pod.to_string(), container.clone()))
        .cloned()
        .unwrap_or_default();
    let text = match (previous, current, prev) {
        (true, _, Some(t)) | (false, Some(t), _) => t,
        (true, _, None) => {
            return status(
                400,
                "BadRequest",
                format!("previous terminated container \"{container}\" in pod \"{pod}\" not found"),
            );
        }
        (false, None, _) => return no_log_yet(obj, pod, &container),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        cut_log(text, params),
    )
        .into_response()
}

/// The container a log request names, or the only one the pod has; else the message of the 400
/// the API server gives.
fn log_container(
    obj: &Value,
    pod: &str,
    params: &HashMap<String, String>,
) -> Result<String, String> {
    let containers: Vec<String> = ["initContainers", "containers"]
        .iter()
        .flat_map(|f| obj["spec"][f].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let main: Vec<&str> = obj["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    match params.get("container") {
        Some(c) if containers.contains(c) => Ok(c.clone()),
        Some(c) => Err(format!("container {c} is not valid for pod {pod}")),
        None if main.len() == 1 => Ok(main[0].to_string()),
        None => Err(format!(
            "a container name must be specified for pod {pod}, choose one of: [{}]",
            main.join(" ")
        )),
    }
}

/// A container with no current log: waiting to start (a 400 saying why), else an empty log.
fn no_log_yet(obj: &Value, pod: &str, container: &str) -> Response {
    let waiting = ["initContainerStatuses", "containerStatuses"]
        .iter()
        .flat_map(|f| obj["status"][f].as_array().cloned().unwrap_or_default())
        .find(|s| s["name"] == container)
        .and_then(|s| s["state"]["waiting"]["reason"].as_str().map(str::to_string));
    match waiting {
        Some(reason) => status(
            400,
            "BadRequest",
            format!(
                "container \"{container}\" in pod \"{pod}\" is waiting to start: {}",
                waiting_text(&reason)
            ),
        ),
        None => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain")],
            String::new(),
        )
            .into_response(),
    }
}

/// The last `tailLines` lines, then at most `limitBytes` bytes (on a character boundary).
fn cut_log(mut text: String, params: &HashMap<String, String>) -> String {
    if let Some(n) = params
        .get("tailLines")
        .and_then(|n| n.parse::<usize>().ok())
    {
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        text = lines[lines.len().saturating_sub(n)..].concat();
    }
    if let Some(n) = params
        .get("limitBytes")
        .and_then(|n| n.parse::<usize>().ok())
        && text.len() > n
    {
        let mut cut = n;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

fn waiting_text(reason: &str) -> &'static str {
    match reason {
        "ImagePullBackOff" | "ErrImagePull" => "trying and failing to pull image",
        "CreateContainerConfigError" => "CreateContainerConfigError",
        _ => "ContainerCreating",
    }
}

fn dry_run(params: &HashMap<String, String>) -> bool {
    params.get("dryRun").is_some_and(|v| v == "All")
}

fn stamp_new(inner: &Inner, kind: &Kind, namespace: Option<&str>, obj: &mut Value) {
    let rv = inner.resource_version.fetch_add(1, Ordering::Relaxed) + 1;
    let name = meta(obj, "name").unwrap_or_default().to_string();
    let m = obj["metadata"].as_object_mut().expect("metadata");
    if kind.namespaced {
        m.insert("namespace".into(), json!(namespace.unwrap_or("default")));
    }
    m.entry("uid")
        .or_insert_with(|| json!(format!("00000000-0000-4000-8000-{:012}", rv)));
    m.entry("creationTimestamp")
        .or_insert_with(|| json!("2026-11-20T10:00:00Z"));
    m.insert("resourceVersion".into(), json!(rv.to_string()));
    m.entry("generation").or_insert(json!(1));
    let _ = name;
    obj.as_object_mut().unwrap().remove("kind");
    obj.as_object_mut().unwrap().remove("apiVersion");
}

/// JSON merge patch (RFC 7386); with `by_name`, lists of objects that all carry a `name` are merged
/// element by element as server-side apply merges `containers`, instead of being replaced.
fn merge(target: &mut Value, patch: &Value, by_name: bool) {
    let named = |a: &[Value]| {
        !a.is_empty()
            && a.iter()
                .all(|e| e.get("name").is_some_and(Value::is_string))
    };
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v, by_name);
                }
            }
        }
        (Value::Array(t), Value::Array(p)) if by_name && named(t) && named(p) => {
            for e in p {
                match t.iter_mut().find(|x| x.get("name") == e.get("name")) {
                    Some(existing) => merge(existing, e, by_name),
                    None => t.push(e.clone()),
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// The API's schemas as the API server publishes them in OpenAPI, derived from the Kubernetes
/// 1.33 definitions that ship with `kubernetes-validate` (a JSON Schema rendering of the same
/// OpenAPI): `$ref`s pointed at `prefix`, nullable types back to single types, no
/// `additionalProperties: false` (the real OpenAPI never says it), int-or-string as the server
/// writes it.
fn openapi_schemas(prefix: &str) -> Value {
    static DEFINITIONS: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
        let out = std::process::Command::new("python3")
            .args(["-c", "import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))"])
            .output()
            .expect("python3 with kubernetes-validate (installed by .ci/install-tools)");
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let path = format!("{dir}/kubernetes-json-schema/v1.33.0-local-strict/_definitions.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str::<Value>(&text).expect("definitions JSON")["$defs"].clone()
    });
    fn convert(v: &Value, prefix: &str) -> Value {
        match v {
            Value::Object(m) => {
                let one_of: Vec<&str> = m
                    .get("oneOf")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x["type"].as_array()?.first()?.as_str())
                    .collect();
                if one_of.contains(&"string") && one_of.contains(&"integer") {
                    return json!({"type": "string", "format": "int-or-string"});
                }
                if one_of.contains(&"string") && one_of.contains(&"number") {
                    return json!({"type": "string"});
                }
                let mut out = serde_json::Map::new();
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("$ref", Value::String(r)) => {
                            out.insert(k.clone(), json!(r.replace("#/$defs/", prefix)));
                        }
                        ("type", Value::Array(types)) => {
                            let t = types
                                .iter()
                                .find(|t| *t != "null")
                                .cloned()
                                .unwrap_or(Value::Null);
                            out.insert(k.clone(), t);
                        }
                        ("additionalProperties", Value::Bool(false)) => {}
                        _ => {
                            out.insert(k.clone(), convert(x, prefix));
                        }
                    }
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| convert(x, prefix)).collect()),
            other => other.clone(),
        }
    }
    convert(&DEFINITIONS, prefix)
}

/// As the API server: nothing is created in a namespace that does not exist (when the store
/// knows any namespaces at all).
fn missing_namespace(store: &Store, kind: &Kind, namespace: Option<&str>) -> Option<Response> {
    let ns = namespace.filter(|_| kind.namespaced)?;
    let known = store
        .objects
        .get(&key(&kinds::NAMESPACES))
        .filter(|n| !n.is_empty())?;
    if known.iter().any(|n| meta(n, "name") == Some(ns)) {
        return None;
    }
    Some(status(
        404,
        "NotFound",
        format!("namespaces \"{ns}\" not found"),
    ))
}

/// As the API server: a Secret's stringData is write-only, stored base64-encoded in data.
fn encode_string_data(kind: &Kind, obj: &mut Value) {
    if *kind != kinds::SECRETS {
        return;
    }
    let Some(Value::Object(plain)) = obj.as_object_mut().and_then(|o| o.remove("stringData"))
    else {
        return;
    };
    use base64::Engine as _;
    for (k, v) in plain {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or_default());
        obj["data"][k] = json!(encoded);
    }
}

fn failing_image(inner: &Inner, obj: &Value) -> Option<String> {
    let needles = inner.failing_images.lock().unwrap();
    obj.pointer("/spec/template/spec/containers")?
        .as_array()?
        .iter()
        .filter_map(|c| c["image"].as_str())
        .find(|image| needles.iter().any(|n| image.contains(n.as_str())))
        .map(str::to_string)
}

/// A workload whose image cannot be pulled: updated, never ready.
fn cannot_pull(obj: &mut Value, _image: &str) {
    if obj["status"].is_object() {
        obj["status"]["readyReplicas"] = json!(0);
        obj["status"]["availableReplicas"] = json!(0);
        obj["status"]["unavailableReplicas"] = obj["spec"]["replicas"].clone();
    }
}

/// What the controllers would create for a workload: a StatefulSet's claims, and for an image
/// that cannot be pulled, its waiting pods and the kubelet's Warning event.
fn materialize(store: &mut Store, kind: &Kind, obj: &Value, failing: Option<&str>) {
    let ns = meta(obj, "namespace").unwrap_or_default().to_string();
    let name = meta(obj, "name").unwrap_or_default().to_string();
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .cloned()
        .unwrap_or(json!({}));
    if *kind == kinds::STATEFUL_SETS {
        let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
        for tpl in obj["spec"]["volumeClaimTemplates"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            for i in 0..replicas {
                let claim = format!("{}-{name}-{i}", meta(&tpl, "name").unwrap_or("data"));
                let pvcs = store.items(&kinds::PVCS);
                if position(pvcs, &kinds::PVCS, Some(&ns), &claim).is_none() {
                    pvcs.push(json!({
                        "metadata": {"name": claim, "namespace": ns, "labels": selector,
                                     "uid": format!("uid-{claim}"), "resourceVersion": "1",
                                     "creationTimestamp": "2026-11-20T10:00:00Z"},
                        "spec": tpl["spec"],
                        "status": {"phase": "Bound"},
                    }));
                }
            }
        }
    }
    let Some(image) = failing else { return };
    let labels = obj
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    let container = obj
        .pointer("/spec/template/spec/containers/0/name")
        .and_then(Value::as_str)
        .unwrap_or("app")
        .to_string();
    let pod = format!("{name}-7d9f8b6c5-x2x4q");
    let pods = store.items(&kinds::PODS);
    pods.retain(|p| meta(p, "name") != Some(pod.as_str()));
    pods.push(json!({
        "metadata": {"name": pod, "namespace": ns, "labels": labels, "uid": format!("uid-{pod}"),
                     "creationTimestamp": "2026-11-20T10:00:00Z",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind.kind, "name": name,
                                          "uid": "owner", "controller": true}]},
        "spec": obj["spec"]["template"]["spec"],
        "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}],
                   "containerStatuses": [{"name": container, "ready": false, "restartCount": 0,
                       "image": image, "imageID": "",
                       "state": {"waiting": {"reason": "ImagePullBackOff",
                                             "message": format!("Back-off pulling image \"{image}\"")}}}]},
    }));
    let events = store.items(&kinds::EVENTS);
    events.push(json!({
        "metadata": {"name": format!("{pod}.pull"), "namespace": ns, "uid": format!("uid-ev-{pod}")},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": ns},
        "type": "Warning", "reason": "Failed", "count": 3,
        "message": format!("Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": not found"),
        "firstTimestamp": "2026-11-20T10:00:00Z", "lastTimestamp": "2026-11-20T10:01:00Z",
        "source": {"component": "kubelet"},
    }));
}

/// The endpoints controller: a stored Endpoints object, or one built from the workloads whose
/// pods the Service selects, with their ready replicas as addresses.
fn ready_endpoints(store: &Store, namespace: &str, service: &str) -> Option<Value> {
    if let Some(e) = find(store, &kinds::ENDPOINTS, Some(namespace), service) {
        return Some(e.clone());
    }
    let svc = find(store, &kinds::SERVICES, Some(namespace), service)?;
    let selector = svc.pointer("/spec/selector")?.as_object()?.clone();
    let mut addresses = Vec::new();
    for kind in [&kinds::DEPLOYMENTS, &kinds::STATEFUL_SETS] {
        let Some(items) = store.objects.get(&key(kind)) else {
            continue;
        };
        for w in items
            .iter()
            .filter(|w| meta(w, "namespace") == Some(namespace))
        {
            let labels = w
                .pointer("/spec/template/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            if selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                for i in 0..w["status"]["readyReplicas"].as_i64().unwrap_or(0) {
                    addresses.push(json!({"ip": format!("10.244.0.{}", addresses.len() + 10), "targetRef": {"kind": "Pod", "name": format!("{}-{i}", meta(w, "name").unwrap_or_default())}}));
                }
            }
        }
    }
    let mut subset = json!({"ports": svc["spec"]["ports"].as_array().cloned().unwrap_or_default().iter()
        .map(|p| json!({"name": p["name"], "port": p["port"], "protocol": "TCP"})).collect::<Vec<_>>()});
    if !addresses.is_empty() {
        subset["addresses"] = json!(addresses);
    }
    Some(json!({"metadata": {"name": service, "namespace": namespace}, "subsets": [subset]}))
}

fn endpoints(inner: &Inner, namespace: &str, name: &str) -> Response {
    let store = inner.store.lock().unwrap();
    match ready_endpoints(&store, namespace, name) {
        Some(e) => json_response(StatusCode::OK, with_type(&kinds::ENDPOINTS, e)),
        None => not_found(kinds::ENDPOINTS.plural, name),
    }
}

/// The API server's service proxy: a 200 from the app when the Service has a ready endpoint, the
/// apiserver's 503 when it has none.
fn service_proxy(inner: &Inner, namespace: &str, name: &str) -> Response {
    let service = name.split(':').next().unwrap_or(name);
    let store = inner.store.lock().unwrap();
    let ready = ready_endpoints(&store, namespace, service).is_some_and(|e| {
        e["subsets"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["addresses"].is_array())
    });
    if ready {
        json_response(StatusCode::OK, json!({"status": "ready"}))
    } else {
        status(
            503,
            "ServiceUnavailable",
            format!("no endpoints available for service \"{service}\""),
        )
    }
}

/// Stands in for the workload controllers: a changed spec gets a new generation, and the rollout
/// completes at once (every replica updated and ready).
fn reconcile(kind: &Kind, before: Option<&Value>, obj: &mut Value) {
    if *kind != kinds::DEPLOYMENTS && *kind != kinds::STATEFUL_SETS {
        return;
    }
    let generation = obj["metadata"]["generation"].as_i64().unwrap_or(1);
    if before.is_some_and(|b| b["spec"] != obj["spec"]) {
        obj["metadata"]["generation"] = json!(generation + 1);
    }
    let generation = obj["metadata"]["generation"].as_i64().unwrap_or(1);
    let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
    let status = obj["status"]
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut status = Value::Object(status);
    for field in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        status[field] = json!(replicas);
    }
    status["observedGeneration"] = json!(generation);
    obj["status"] = status;
}

fn parse_body(body: &[u8], yaml: bool) -> Result<Value, Box<Response>> {
    let text = String::from_utf8_lossy(body);
    let parsed = if yaml {
        serde_saphyr::from_str::<Value>(&text).map_err(|e| e.to_string())
    } else {
        serde_json::from_str::<Value>(&text).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        Box::new(status(
            400,
            "BadRequest",
            format!("error decoding patch: {e}"),
        ))
    })
}

fn patch(
    inner: &Inner,
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
    params: &HashMap<String, String>,
    content_type: &str,
    body: &[u8],
) -> Response {
    let apply = content_type.starts_with("application/apply-patch");
    let json_patch = content_type.starts_with("application/json-patch");
    let strategic = content_type.starts_with("application/strategic-merge-patch");
    let patch = match parse_body(body, apply) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    if apply && params.get("fieldManager").is_none_or(|m| m.is_empty()) {
        return status(
            400,
            "BadRequest",
            "PATCH, fieldManager: Required value: is required for apply patch".into(),
        );
    }
    let mut store = inner.store.lock().unwrap();
    if let Some(r) = missing_namespace(&store, kind, namespace) {
        return r;
    }
    let items = store.items(kind);
    let pos = position(items, kind, namespace, name);
    let (mut obj, created) = match pos {
        Some(i) => (items[i].clone(), false),
        None if apply => {
            let mut o = patch.clone();
            stamp_new(inner, kind, namespace, &mut o);
            (o, true)
        }
        None => return not_found(&kind.resource_group_name(), name),
    };
    if !created {
        let mut p = patch.clone();
        if let Some(o) = p.as_object_mut() {
            o.remove("kind");
            o.remove("apiVersion");
        }
        if json_patch {
            let ops: json_patch::Patch = match serde_json::from_value(patch.clone()) {
                Ok(ops) => ops,
                Err(e) => return status(400, "BadRequest", format!("invalid JSON patch: {e}")),
            };
            if let Err(e) = json_patch::patch(&mut obj, &ops) {
                return status(
                    422,
                    "Invalid",
                    format!("the JSON patch does not apply: {e}"),
                );
            }
        } else {
            // Strategic merge is approximated by merging named lists (containers) by name.
            merge(&mut obj, &p, apply || strategic);
        }
        let rv = inner.resource_version.fetch_add(1, Ordering::Relaxed) + 1;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    }
    encode_string_data(kind, &mut obj);
    if !inner.stalled.load(Ordering::Relaxed) {
        reconcile(kind, pos.map(|i| &items[i]), &mut obj);
    }
    let failing = failing_image(inner, &obj);
    if let Some(image) = &failing {
        cannot_pull(&mut obj, image);
    }
    if !dry_run(params) {
        match pos {
            Some(i) => items[i] = obj.clone(),
            None => items.push(obj.clone()),
        }
        materialize(&mut store, kind, &obj, failing.as_deref());
    }
    json_response(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        with_type(kind, obj),
    )
}

fn create(
    inner: &Inner,
    kind: &Kind,
    namespace: Option<&str>,
    params: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    let mut obj = match parse_body(body, false) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let name = meta(&obj, "name").unwrap_or_default().to_string();
    let mut store = inner.store.lock().unwrap();
    if let Some(r) = missing_namespace(&store, kind, namespace) {
        return r;
    }
    encode_string_data(kind, &mut obj);
    if find(&store, kind, namespace, &name).is_some() {
        return status(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", kind.resource_group_name()),
        );
    }
    stamp_new(inner, kind, namespace, &mut obj);
    if !dry_run(params) {
        store.items(kind).push(obj.clone());
    }
    json_response(StatusCode::CREATED, with_type(kind, obj))
}

fn replace(
    inner: &Inner,
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
    params: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    let mut obj = match parse_body(body, false) {
        Ok(o) => o,
        Err(r) => return *r,
    };
    let mut store = inner.store.lock().unwrap();
    let items = store.items(kind);
    let Some(i) = position(items, kind, namespace, name) else {
        return not_found(&kind.resource_group_name(), name);
    };
    let current_rv = meta(&items[i], "resourceVersion").map(str::to_string);
    if let Some(rv) = meta(&obj, "resourceVersion")
        && Some(rv) != current_rv.as_deref()
    {
        return status(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                kind.resource_group_name()
            ),
        );
    }
    let rv = inner.resource_version.fetch_add(1, Ordering::Relaxed) + 1;
    obj["metadata"]["resourceVersion"] = json!(rv.to_string());
    if let Some(o) = obj.as_object_mut() {
        o.remove("kind");
        o.remove("apiVersion");
    }
    encode_string_data(kind, &mut obj);
    if !inner.stalled.load(Ordering::Relaxed) {
        reconcile(kind, Some(&items[i]), &mut obj);
    }
    if !dry_run(params) {
        items[i] = obj.clone();
    }
    json_response(StatusCode::OK, with_type(kind, obj))
}

fn delete(
    inner: &Inner,
    kind: &Kind,
    namespace: Option<&str>,
    name: &str,
    params: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    // DeleteOptions may carry dryRun in the body (client-go and kube-rs send it there).
    let body_dry_run = serde_json::from_slice::<Value>(body).is_ok_and(|o| {
        o["dryRun"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x == "All"))
    });
    let mut store = inner.store.lock().unwrap();
    let items = store.items(kind);
    let Some(i) = position(items, kind, namespace, name) else {
        return not_found(&kind.resource_group_name(), name);
    };
    let obj = if dry_run(params) || body_dry_run {
        items[i].clone()
    } else {
        items.remove(i)
    };
    json_response(StatusCode::OK, with_type(kind, obj))
}

/// Allows everything except the verbs on resources made forbidden with [`FakeApi::forbid`].
fn access_review(inner: &Inner, body: &[u8]) -> Response {
    let Ok(mut review) = serde_json::from_slice::<Value>(body) else {
        return status(400, "BadRequest", "invalid SelfSubjectAccessReview".into());
    };
    let resource = review["spec"]["resourceAttributes"]["resource"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let denied = inner.forbidden.lock().unwrap().contains(&resource)
        || inner.denied.lock().unwrap().contains(&resource);
    review["status"] = json!({"allowed": !denied, "reason": if denied { "forbidden by the test's RBAC" } else { "allowed by the test's RBAC" }});
    json_response(StatusCode::CREATED, review)
}

// ---- selectors -----------------------------------------------------------------------------

/// Label selectors as the API server parses them: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
/// `a notin (x)`, `a`, `!a`, comma-separated.
#[derive(Debug)]
pub struct LabelSelector(Vec<Requirement>);

#[derive(Debug)]
enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

impl LabelSelector {
    pub fn parse(s: &str) -> Option<LabelSelector> {
        let mut reqs = Vec::new();
        for term in split_top(s)
            .into_iter()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let set = |rest: &str| -> Option<Vec<String>> {
                let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
                Some(inner.split(',').map(|v| v.trim().to_string()).collect())
            };
            let req = if let Some((k, v)) = term.split_once("!=") {
                Requirement::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("==") {
                Requirement::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once('=') {
                Requirement::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = term.split_once(" notin ") {
                Requirement::NotIn(k.trim().into(), set(rest)?)
            } else if let Some((k, rest)) = term.split_once(" in ") {
                Requirement::In(k.trim().into(), set(rest)?)
            } else if let Some(k) = term.strip_prefix('!') {
                Requirement::NotExists(k.trim().into())
            } else if term
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                Requirement::Exists(term.into())
            } else {
                return None;
            };
            reqs.push(req);
        }
        Some(LabelSelector(reqs))
    }

    pub fn matches(&self, labels: Option<&Value>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEq(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|l| !vs.iter().any(|v| v == l)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        })
    }
}

/// Field selectors: `path=value`, `path==value`, `path!=value` over dotted JSON paths
/// (`metadata.name`, `involvedObject.uid`, `status.phase`, `type`), comma-separated.
#[derive(Debug)]
pub struct FieldSelector(Vec<(Vec<String>, bool, String)>);

impl FieldSelector {
    pub fn parse(s: &str) -> Option<FieldSelector> {
        let mut out = Vec::new();
        for term in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (path, eq, value) = if let Some((p, v)) = term.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = term.split_once("==") {
                (p, true, v)
            } else {
                let (p, v) = term.split_once('=')?;
                (p, true, v)
            };
            out.push((
                path.trim().split('.').map(str::to_string).collect(),
                eq,
                value.trim().to_string(),
            ));
        }
        Some(FieldSelector(out))
    }

    /// The value a `path=value` term requires, if there is one.
    pub fn equals(&self, path: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(p, eq, _)| *eq && p.join(".") == path)
            .map(|(_, _, v)| v.as_str())
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(path, eq, value)| {
            let mut cur = obj;
            for p in path {
                cur = cur.get(p).unwrap_or(&Value::Null);
            }
            let actual = match cur {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (actual == *value) == *eq
        })
    }
}
