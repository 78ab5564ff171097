//! What recommendations are about: objects as the user wrote them (manifest files, stdin) or as a
//! cluster holds them, in one shape.
//!
//! Rules read objects as JSON values so the same rule works on a file that has never met a cluster
//! and on a live Deployment; a file object remembers where it was written (file, first line) so
//! SARIF and GitHub annotations point at it and `--fix --write` can rewrite just that document.
//! A live cluster adds what files cannot know: pod states and metrics.k8s.io usage.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, OnceLock};

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use regex::Regex;
use serde_json::{Value, json};

use crate::context::{Context, ObjectRef};
use crate::error::Error;
use crate::{quantity, selector};

pub(crate) use super::tree::At;
use super::tree::{Interner, Reader, Tree};

/// Where an object came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A manifest: the file as given on the command line (`-` for stdin), the index of its YAML
    /// document, and the 1-based line the document's content starts on.
    File {
        path: String,
        doc: usize,
        line: usize,
    },
    /// Read from the cluster or a snapshot.
    Cluster,
}

/// One object, as data.
#[derive(Debug, Clone)]
pub(crate) struct Object {
    pub value: Tree,
    pub oref: ObjectRef,
    pub origin: Origin,
}

impl Object {
    pub(crate) fn new(mut value: Tree, origin: Origin, default_namespace: &str) -> Option<Object> {
        let kind = value.get("kind")?.as_str()?.to_string();
        let name = value.at("/metadata/name")?.as_str()?.to_string();
        let namespaced = crate::cluster::kinds::is_namespaced(&kind);
        let namespace = namespaced.then(|| {
            value
                .at("/metadata/namespace")
                .and_then(Tree::as_str)
                .unwrap_or(default_namespace)
                .to_string()
        });
        if kind == "Secret" {
            // Recommendations need which keys a Secret has, never their values.
            for field in ["data", "stringData"] {
                if let Some(Tree::Object(map)) = value.get_mut(field) {
                    map.values_mut().for_each(|v| *v = Tree::Null);
                }
            }
        }
        Some(Object {
            oref: ObjectRef::new(&kind, namespace.as_deref(), &name),
            value,
            origin,
        })
    }

    pub(crate) fn kind(&self) -> &str {
        &self.oref.kind
    }

    pub(crate) fn namespace(&self) -> &str {
        self.oref.namespace.as_deref().unwrap_or_default()
    }

    pub(crate) fn annotation(&self, key: &str) -> Option<&str> {
        self.value.at("/metadata/annotations")?.get(key)?.as_str()
    }

    /// A partial object naming this one, with `fields` beside its identity: a server-side apply
    /// intent that changes only those fields.
    pub(crate) fn intent(&self, fields: Value) -> Value {
        let mut v = json!({
            "apiVersion": self.value.get("apiVersion").map_or(json!("v1"), Tree::to_value),
            "kind": self.oref.kind,
            "metadata": { "name": self.oref.name },
        });
        if let Some(ns) = &self.oref.namespace {
            v["metadata"]["namespace"] = json!(ns);
        }
        if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), fields) {
            obj.extend(extra);
        }
        v
    }

    pub(crate) fn file_line(&self) -> Option<(&str, usize)> {
        match &self.origin {
            Origin::File { path, line, .. } => Some((path, *line)),
            Origin::Cluster => None,
        }
    }
}

/// A workload's pod template, read once for every rule.
#[derive(Debug)]
pub(crate) struct Workload<'a> {
    pub object: &'a Object,
    pub spec: PodSpec,
    /// Labels its pods carry.
    pub labels: BTreeMap<String, String>,
    /// JSON path segments from the object to its pod spec.
    pub pod_path: &'static [&'static str],
    /// Declared replicas (absent means 1 for the kinds that have the field).
    pub replicas: Option<i32>,
    /// Runs until stopped (not a Job, CronJob or a Pod that restarts never or only on
    /// failure), so probes and network exposure matter.
    pub long_running: bool,
    /// Ephemeral containers, read as containers (the same fields, minus a few).
    pub ephemeral: Vec<Container>,
}

impl Workload<'_> {
    /// A partial object setting `fields` on the pod spec.
    pub(crate) fn pod_intent(&self, fields: Value) -> Value {
        let nested = self.pod_path.iter().rev().fold(fields, |inner, key| {
            // Moved in, not `json!`, which would copy the whole inner value at every level.
            let mut level = serde_json::Map::with_capacity(1);
            level.insert((*key).to_string(), inner);
            Value::Object(level)
        });
        self.object.intent(nested)
    }

    /// A partial object setting `fields` on one container, in whichever list holds it (lists
    /// merge by container name).
    pub(crate) fn container_intent(&self, container: &str, fields: Value) -> Value {
        let mut c = json!({ "name": container });
        if let (Some(obj), Value::Object(extra)) = (c.as_object_mut(), fields) {
            obj.extend(extra);
        }
        let list = self
            .all_containers()
            .find(|(_, x)| x.name == container)
            .map_or("containers", |(list, _)| list);
        let mut fields = serde_json::Map::with_capacity(1);
        fields.insert(list.to_string(), Value::Array(vec![c]));
        self.pod_intent(Value::Object(fields))
    }

    /// Every container the pod can run, with the field of its list: init containers,
    /// containers, and ephemeral (debug) containers.
    pub(crate) fn all_containers(&self) -> impl Iterator<Item = (&'static str, &Container)> {
        let init = self.spec.init_containers.iter().flatten();
        init.map(|c| ("initContainers", c))
            .chain(self.spec.containers.iter().map(|c| ("containers", c)))
            .chain(self.ephemeral.iter().map(|c| ("ephemeralContainers", c)))
    }

    pub(crate) fn replicas_or_one(&self) -> i32 {
        self.replicas.unwrap_or(1)
    }
}

/// Everything one run of the rules looks at.
#[derive(Debug, Default)]
pub(crate) struct Inventory {
    /// "manifests (3 files)", "snapshot ./dump", "context minikube".
    pub source: String,
    pub objects: Vec<Object>,
    /// The live cluster behind the objects, for pod states and usage; `None` for manifests.
    pub live: Option<Context>,
    /// Plural resource names the inventory could not read: rules that need them stay quiet
    /// rather than report "missing" for what was merely unreadable.
    pub unknown: Vec<String>,
    /// Manifest inputs as read (path as given, text), for `--fix --write`.
    pub files: Vec<(String, String)>,
    /// The Kubernetes minor version (1.x) the manifests target, for apiVersion deprecations;
    /// `None` for a cluster, whose objects come back in the versions it serves.
    pub kubernetes_minor: Option<u32>,
    /// Built on first use, after which the objects do not change.
    pub(crate) index: OnceLock<Index>,
    /// Usage history from Prometheus and the strategy that sizes from it; `None` without one.
    pub(crate) sizing: Option<super::sizing::Sizing>,
}

/// Lookups the cross-object rules make for every workload, answered without scanning every
/// object: positions in `objects` by identity, by kind, and by the label pairs selectors name.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Positions ordered by (kind, namespace, name), then position: four bytes an object, where
    /// a map keyed by copies of the three strings took two hundred.
    by_name: Vec<u32>,
    by_kind: HashMap<String, Vec<usize>>,
    /// Services by (namespace, one pair of their selector): every pair of a selector must match,
    /// so a workload's pods can only be selected by Services indexed under one of their labels.
    services: HashMap<(String, String, String), Vec<usize>>,
    /// HPAs by (namespace, target kind, target name).
    hpas: HashMap<(String, String, String), Vec<usize>>,
    /// Objects with a label selector, by (kind, namespace), with the parsed selector.
    selectors: HashMap<(String, String), Selectors>,
}

/// The label selectors of one kind in one namespace.
#[derive(Debug, Default)]
struct Selectors {
    /// By one matchLabels pair (a selector that requires it).
    by_pair: HashMap<(String, String), Vec<(usize, LabelSelector)>>,
    /// Selectors without matchLabels (expressions only, or empty: everything).
    other: Vec<(usize, LabelSelector)>,
}

/// Where each selector-bearing kind keeps its pod selector.
fn selector_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "PodDisruptionBudget" => Some("/spec/selector"),
        "NetworkPolicy" => Some("/spec/podSelector"),
        _ => None,
    }
}

impl Index {
    fn new(objects: &[Object]) -> Index {
        let mut ix = Index {
            by_name: (0..objects.len() as u32).collect(),
            ..Index::default()
        };
        // Stable, so equal identities stay in input order and a lookup finds the last of them.
        ix.by_name
            .sort_by(|&a, &b| identity(&objects[a as usize]).cmp(&identity(&objects[b as usize])));
        let mut services = Vec::new();
        let mut selectors = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            let ns = o.namespace().to_string();
            ix.by_kind.entry(o.kind().to_string()).or_default().push(i);
            match o.kind() {
                "Service" => services.push((i, ns, service_selector(o))),
                "HorizontalPodAutoscaler" => {
                    let at = |p: &str| o.value.at(p).and_then(Tree::as_str);
                    if let (Some(kind), Some(name)) = (
                        at("/spec/scaleTargetRef/kind"),
                        at("/spec/scaleTargetRef/name"),
                    ) {
                        ix.hpas
                            .entry((ns, kind.to_string(), name.to_string()))
                            .or_default()
                            .push(i);
                    }
                }
                kind => {
                    if let Some(sel) = selector_pointer(kind)
                        .and_then(|p| o.value.at(p))
                        .and_then(Tree::read::<LabelSelector>)
                    {
                        selectors.push((i, (kind.to_string(), ns), sel));
                    }
                }
            }
        }
        // Each selector is filed under its rarest pair, so that pairs every object carries (a
        // Helm release's instance label) do not gather every selector into one bucket.
        let mut seen: HashMap<(String, String, String), usize> = HashMap::new();
        for (_, ns, sel) in &services {
            for (k, v) in sel {
                *seen.entry((ns.clone(), k.clone(), v.clone())).or_default() += 1;
            }
        }
        for (i, ns, sel) in services {
            let rarest = sel
                .into_iter()
                .map(|(k, v)| (ns.clone(), k, v))
                .min_by_key(|key| seen.get(key).copied().unwrap_or(0));
            if let Some(key) = rarest {
                ix.services.entry(key).or_default().push(i);
            }
        }
        let mut seen: HashMap<(&(String, String), &String, &String), usize> = HashMap::new();
        for (_, at, sel) in &selectors {
            for (k, v) in sel.match_labels.iter().flatten() {
                *seen.entry((at, k, v)).or_default() += 1;
            }
        }
        let rarest: Vec<Option<(String, String)>> = selectors
            .iter()
            .map(|(_, at, sel)| {
                sel.match_labels
                    .iter()
                    .flatten()
                    .min_by_key(|(k, v)| seen.get(&(at, *k, *v)).copied().unwrap_or(0))
                    .map(|(k, v)| (k.clone(), v.clone()))
            })
            .collect();
        drop(seen);
        for ((i, at, sel), pair) in selectors.into_iter().zip(rarest) {
            let entry = ix.selectors.entry(at).or_default();
            match pair {
                Some(pair) => entry.by_pair.entry(pair).or_default().push((i, sel)),
                None => entry.other.push((i, sel)),
            }
        }
        ix
    }
}

/// What [`Inventory::find`] looks an object up by.
fn identity(o: &Object) -> (&str, &str, &str) {
    (o.kind(), o.namespace(), &o.oref.name)
}

/// A Service's selector as label pairs (empty when it has none).
pub(crate) fn service_selector(svc: &Object) -> BTreeMap<String, String> {
    svc.value
        .at("/spec/selector")
        .and_then(Tree::read)
        .unwrap_or_default()
}

impl Inventory {
    fn index(&self) -> &Index {
        self.index.get_or_init(|| Index::new(&self.objects))
    }

    pub(crate) fn of_kind<'a>(&'a self, kind: &str) -> impl Iterator<Item = &'a Object> + 'a {
        self.index()
            .by_kind
            .get(kind)
            .into_iter()
            .flatten()
            .map(|&i| &self.objects[i])
    }

    pub(crate) fn knows(&self, resource: &str) -> bool {
        !self.unknown.iter().any(|r| r == resource)
    }

    pub(crate) fn find(&self, kind: &str, namespace: &str, name: &str) -> Option<&Object> {
        let by_name = &self.index().by_name;
        let end = by_name
            .partition_point(|&i| identity(&self.objects[i as usize]) <= (kind, namespace, name));
        let i = *by_name[..end].last()? as usize;
        (identity(&self.objects[i]) == (kind, namespace, name)).then(|| &self.objects[i])
    }

    /// Every workload with a pod template, once: Pods and ReplicaSets and Jobs that a controller
    /// owns are described by their controller.
    pub(crate) fn workloads(&self) -> Vec<Workload<'_>> {
        const TEMPLATE: &[&str] = &["spec", "template", "spec"];
        const CRON: &[&str] = &["spec", "jobTemplate", "spec", "template", "spec"];
        const POD: &[&str] = &["spec"];
        let mut out = Vec::new();
        for object in &self.objects {
            let owned = object
                .value
                .at("/metadata/ownerReferences")
                .and_then(Tree::as_array)
                .is_some_and(|o| !o.is_empty());
            let (pod_path, long_running) = match object.kind() {
                "Deployment" | "StatefulSet" | "DaemonSet" => (TEMPLATE, true),
                "ReplicaSet" | "ReplicationController" if !owned => (TEMPLATE, true),
                "Job" if !owned => (TEMPLATE, false),
                "CronJob" => (CRON, false),
                "Pod" if !owned => {
                    let restart = object.value.at("/spec/restartPolicy");
                    let runs_on = restart.and_then(Tree::as_str).is_none_or(|r| r == "Always");
                    (POD, runs_on)
                }
                _ => continue,
            };
            let spec_pointer = format!("/{}", pod_path.join("/"));
            let Some(spec) = object
                .value
                .at(&spec_pointer)
                .and_then(Tree::read::<PodSpec>)
            else {
                continue;
            };
            let labels_pointer = if pod_path.len() == 1 {
                "/metadata/labels".to_string()
            } else {
                format!(
                    "/{}/metadata/labels",
                    pod_path[..pod_path.len() - 1].join("/")
                )
            };
            let labels = object
                .value
                .at(&labels_pointer)
                .and_then(Tree::read)
                .unwrap_or_default();
            let replicas = match object.kind() {
                "DaemonSet" | "Job" | "CronJob" | "Pod" => None,
                _ => Some(
                    object
                        .value
                        .at("/spec/replicas")
                        .and_then(Tree::as_i64)
                        .unwrap_or(1) as i32,
                ),
            };
            let ephemeral = object
                .value
                .at(&format!("{spec_pointer}/ephemeralContainers"))
                .and_then(Tree::read)
                .unwrap_or_default();
            out.push(Workload {
                object,
                spec,
                labels,
                pod_path,
                replicas,
                long_running,
                ephemeral,
            });
        }
        out
    }

    /// One container's history across a workload's pods (today's and those a rollout replaced).
    pub(crate) fn history(
        &self,
        w: &Workload<'_>,
        container: &str,
    ) -> Option<crate::prometheus::history::Usage> {
        let sizing = self.sizing.as_ref()?;
        let current: Vec<String> = self
            .live
            .iter()
            .flat_map(|ctx| {
                ctx.pods
                    .iter()
                    .filter(|p| ctx.owner_of(p) == w.object.oref)
                    .filter_map(|p| p.metadata.name.clone())
            })
            .collect();
        let o = w.object;
        sizing
            .history
            .of_workload(o.namespace(), o.kind(), &o.oref.name, &current, container)
    }

    /// The highest usage metrics.k8s.io reported for one container across a workload's pods, as
    /// (millicores, bytes); `None` without a live cluster or without metrics.
    pub(crate) fn usage(&self, w: &Workload<'_>, container: &str) -> Option<(u64, u64)> {
        let ctx = self.live.as_ref()?;
        let metrics = ctx.pod_metrics.as_ref()?;
        let mut seen: Option<(u64, u64)> = None;
        for pod in ctx.pods.iter().filter(|p| ctx.owner_of(p) == w.object.oref) {
            let Some(m) = metrics.iter().find(|m| {
                m.metadata.namespace == pod.metadata.namespace
                    && Some(&m.metadata.name) == pod.metadata.name.as_ref()
            }) else {
                continue;
            };
            let Some(c) = m.containers.iter().find(|c| c.name == container) else {
                continue;
            };
            let cpu = c
                .usage
                .get("cpu")
                .and_then(|q| quantity::millicores(q))
                .unwrap_or(0);
            let mem = c
                .usage
                .get("memory")
                .and_then(|q| quantity::bytes(q))
                .unwrap_or(0);
            let entry = seen.get_or_insert((0, 0));
            *entry = (entry.0.max(cpu), entry.1.max(mem));
        }
        seen
    }

    /// Services selecting a workload's pods.
    pub(crate) fn services_for<'a>(
        &'a self,
        w: &'a Workload<'_>,
    ) -> impl Iterator<Item = &'a Object> {
        let ns = w.object.namespace();
        let ix = self.index();
        w.labels
            .iter()
            .filter_map(move |(k, v)| ix.services.get(&(ns.to_string(), k.clone(), v.clone())))
            .flatten()
            .map(|&i| &self.objects[i])
            .filter(|s| selector::pairs_hold(&service_selector(s), &w.labels))
    }

    /// HorizontalPodAutoscalers whose target is this workload.
    pub(crate) fn hpas_for<'a>(&'a self, w: &'a Workload<'_>) -> impl Iterator<Item = &'a Object> {
        let key = (
            w.object.namespace().to_string(),
            w.object.kind().to_string(),
            w.object.oref.name.clone(),
        );
        self.index()
            .hpas
            .get(&key)
            .into_iter()
            .flatten()
            .map(|&i| &self.objects[i])
    }

    /// Objects of `kind` (PodDisruptionBudgets, NetworkPolicies) in the workload's namespace whose
    /// pod selector selects the workload's pods.
    pub(crate) fn selecting<'a>(
        &'a self,
        kind: &str,
        w: &'a Workload<'_>,
    ) -> impl Iterator<Item = &'a Object> + 'a {
        let sels = self
            .index()
            .selectors
            .get(&(kind.to_string(), w.object.namespace().to_string()));
        let by_label = sels.into_iter().flat_map(move |s| {
            w.labels
                .iter()
                .filter_map(|(k, v)| s.by_pair.get(&(k.clone(), v.clone())))
                .flatten()
                .chain(&s.other)
        });
        by_label
            .filter(|(_, sel)| selector::selects(sel, &w.labels))
            .map(|(i, _)| &self.objects[*i])
    }
}

/// Reads manifests: files, directories (recursively, `.yaml`/`.yml`/`.json`), or `-` for stdin.
pub(crate) fn from_manifests(
    paths: &[PathBuf],
    default_namespace: &str,
) -> Result<Inventory, Error> {
    let mut objects = Vec::new();
    let mut files = Vec::new();
    for path in paths {
        for (name, text) in read_inputs(path)? {
            objects.extend(parse_documents(&name, &text, default_namespace)?);
            files.push((name, text));
        }
    }
    Ok(Inventory {
        source: format!(
            "manifests ({} file{})",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        ),
        objects,
        live: None,
        unknown: vec![],
        files,
        kubernetes_minor: None,
        index: OnceLock::new(),
        sizing: None,
    })
}

/// Manifests passed as text (an assistant's inline YAML or JSON), named `name` in locations.
pub(crate) fn from_text(
    name: &str,
    text: &str,
    default_namespace: &str,
) -> Result<Inventory, Error> {
    Ok(Inventory {
        source: format!("manifests ({name})"),
        objects: parse_documents(name, text, default_namespace)?,
        live: None,
        unknown: vec![],
        files: vec![(name.to_string(), text.to_string())],
        kubernetes_minor: None,
        index: OnceLock::new(),
        sizing: None,
    })
}

fn manifest_error(path: &str, detail: impl Into<String>) -> Error {
    Error::Manifest {
        path: path.to_string(),
        detail: detail.into(),
    }
}

/// Every manifest file under `path` with its text, in a stable order.
pub(crate) fn read_inputs(path: &Path) -> Result<Vec<(String, String)>, Error> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| manifest_error("-", format!("reading stdin: {e}")))?;
        return Ok(vec![("-".into(), text)]);
    }
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| manifest_error(&shown, e.to_string()))?;
    if meta.is_file() {
        let text =
            std::fs::read_to_string(path).map_err(|e| manifest_error(&shown, e.to_string()))?;
        return Ok(vec![(shown, text)]);
    }
    let mut found = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        // A chart's templates are not YAML until Helm renders them.
        if dir.join("Chart.yaml").is_file() {
            eprintln!(
                "note: skipping Helm chart {}: check it with `helm template NAME {} | kubectl ai recommend -f -`",
                dir.display(),
                dir.display()
            );
            continue;
        }
        let entries = std::fs::read_dir(&dir).map_err(|e| manifest_error(&shown, e.to_string()))?;
        for entry in entries {
            let p = entry
                .map_err(|e| manifest_error(&shown, e.to_string()))?
                .path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
            {
                found.push(p);
            }
        }
    }
    found.sort();
    if found.is_empty() {
        return Err(manifest_error(
            &shown,
            "no .yaml, .yml or .json files in it",
        ));
    }
    found
        .into_iter()
        .map(|p| {
            let name = p.display().to_string();
            std::fs::read_to_string(&p)
                .map(|t| (name.clone(), t))
                .map_err(|e| manifest_error(&name, e.to_string()))
        })
        .collect()
}

/// One YAML document of a file: its text and the line its content starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Document<'a> {
    pub text: &'a str,
    /// 1-based line of the first line that is neither blank nor a comment.
    pub line: usize,
    /// 1-based line of the document's first line (after the `---`).
    pub first_line: usize,
}

/// Splits a file into its YAML documents, keeping each document's text and position so a finding
/// can point at a line and a rewrite can replace one document and leave the rest untouched.
pub(crate) fn split_documents(text: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    let mut push = |from: usize, to: usize, first_line: usize| {
        let body = &text[from..to];
        let content = body
            .lines()
            .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        if let Some(i) = content {
            docs.push(Document {
                text: body,
                line: first_line + i,
                first_line,
            });
        }
    };
    for (line_no, line) in (1usize..).zip(text.split_inclusive('\n')) {
        let bare = line.trim_end();
        if bare == "---" || bare.starts_with("--- ") || bare == "..." {
            push(start, offset, start_line);
            start = offset + line.len();
            start_line = line_no + 1;
        }
        offset += line.len();
    }
    push(start, text.len(), start_line);
    docs
}

/// The parser counts lines within the document; the user needs them within the file.
fn yaml_error(path: &str, d: &Document<'_>, e: &dyn std::fmt::Display) -> Error {
    static AT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?:error: )?line (\d+) column (\d+): ").expect("valid pattern")
    });
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    match AT.captures(first) {
        Some(c) => {
            let line: usize = c[1].parse().unwrap_or(1);
            manifest_error(
                &format!("{path}:{}:{}", d.first_line + line - 1, &c[2]),
                format!("invalid YAML: {}", &first[c[0].len()..]),
            )
        }
        None => manifest_error(
            &format!("{path}:{}", d.first_line),
            format!("invalid YAML: {first}"),
        ),
    }
}

/// Parses a file's documents on every core: YAML parsing is most of a large run's time, and
/// documents are independent. Objects keep the file's order; the first error in it is returned.
fn parse_documents(path: &str, text: &str, default_namespace: &str) -> Result<Vec<Object>, Error> {
    /// Fewer documents than this per thread cost more to hand over than to parse.
    const MIN_PER_THREAD: usize = 256;
    let docs = split_documents(text);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(docs.len() / MIN_PER_THREAD).max(1);
    if threads == 1 {
        return parse_some(path, &docs, 0, default_namespace);
    }
    let chunk = docs.len().div_ceil(threads);
    let parsed: Vec<Result<Vec<Object>, Error>> = std::thread::scope(|s| {
        let parts: Vec<_> = docs
            .chunks(chunk)
            .enumerate()
            .map(|(i, part)| s.spawn(move || parse_some(path, part, i * chunk, default_namespace)))
            .collect();
        parts
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut objects = Vec::with_capacity(docs.len());
    for part in parsed {
        objects.extend(part?);
    }
    Ok(objects)
}

/// The objects of some of a file's documents, the first of which is document `first`.
fn parse_some(
    path: &str,
    docs: &[Document<'_>],
    first: usize,
    default_namespace: &str,
) -> Result<Vec<Object>, Error> {
    let mut objects = Vec::new();
    let mut reader = Reader::default();
    for (doc, d) in (first..).zip(docs) {
        let value = Tree::from_yaml(d.text, &mut reader).map_err(|e| yaml_error(path, d, &e))?;
        let items = match value {
            Tree::Null => continue,
            Tree::Object(ref m) if m.get("kind").and_then(Tree::as_str) == Some("List") => m
                .get("items")
                .and_then(Tree::as_array)
                .map(<[Tree]>::to_vec)
                .unwrap_or_default(),
            v => vec![v],
        };
        for item in items {
            let origin = Origin::File {
                path: path.to_string(),
                doc,
                line: d.line,
            };
            let object = Object::new(item, origin, default_namespace).ok_or_else(|| {
                manifest_error(
                    &format!("{path}:{}", d.line),
                    "not a Kubernetes object (it needs kind and metadata.name)",
                )
            })?;
            objects.push(object);
        }
    }
    Ok(objects)
}

/// The objects a cluster context holds that recommendations are about.
pub(crate) fn from_context(ctx: Context) -> Inventory {
    fn push<T: serde::Serialize>(objects: &mut Vec<Object>, items: &[T], strings: &mut Interner) {
        for item in items {
            if let Some(o) = serde_json::to_value(item).ok().and_then(|v| {
                Object::new(Tree::from_value(&v, strings), Origin::Cluster, "default")
            }) {
                objects.push(o);
            }
        }
    }
    let mut objects = Vec::new();
    let mut strings = Interner::default();
    push(&mut objects, &ctx.deployments, &mut strings);
    push(&mut objects, &ctx.stateful_sets, &mut strings);
    push(&mut objects, &ctx.daemon_sets, &mut strings);
    push(&mut objects, &ctx.replica_sets, &mut strings);
    push(&mut objects, &ctx.jobs, &mut strings);
    push(&mut objects, &ctx.cron_jobs, &mut strings);
    push(&mut objects, &ctx.pods, &mut strings);
    push(&mut objects, &ctx.services, &mut strings);
    push(&mut objects, &ctx.ingresses, &mut strings);
    push(&mut objects, &ctx.hpas, &mut strings);
    push(&mut objects, &ctx.pdbs, &mut strings);
    push(&mut objects, &ctx.network_policies, &mut strings);
    // Namespaces outside the scope are not the user's question, and kube-system is not theirs.
    objects.retain(|o| o.namespace() != "kube-system" && ctx.scope.includes(o.namespace()));
    let unknown = ctx.unavailable.keys().cloned().collect();
    Inventory {
        source: ctx.source.clone(),
        objects,
        live: Some(ctx),
        unknown,
        files: vec![],
        kubernetes_minor: None,
        index: OnceLock::new(),
        sizing: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_lines_and_skip_empty_ones() {
        let text =
            "# header\n---\napiVersion: v1\nkind: A\n---\n# only a comment\n---\n\n# c\nkind: B\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[0].line, docs[0].first_line), (3, 3));
        assert_eq!((docs[1].line, docs[1].first_line), (10, 8));
        assert!(docs[1].text.ends_with("kind: B\n"));
    }

    #[test]
    fn indexed_lookups_find_what_a_scan_would() {
        let text = r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app.kubernetes.io/instance: shop, app.kubernetes.io/name: web}}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app.kubernetes.io/instance: shop, app.kubernetes.io/name: api}}
---
apiVersion: v1
kind: Service
metadata: {name: all, namespace: shop}
spec: {selector: {app.kubernetes.io/instance: shop}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: other}
spec: {selector: {app.kubernetes.io/name: web}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: by-labels, namespace: shop}
spec: {maxUnavailable: 1, selector: {matchLabels: {app.kubernetes.io/name: web}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: by-expression, namespace: shop}
spec: {maxUnavailable: 1, selector: {matchExpressions: [{key: app.kubernetes.io/name, operator: In, values: [web, api]}]}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: for-api, namespace: shop}
spec: {maxUnavailable: 1, selector: {matchLabels: {app.kubernetes.io/name: api}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: web}}
  template:
    metadata: {labels: {app.kubernetes.io/instance: shop, app.kubernetes.io/name: web}}
    spec: {containers: [{name: web, image: web:1}]}
"#;
        let objects = parse_documents("shop.yaml", text, "default").unwrap();
        let inv = Inventory {
            objects,
            ..Default::default()
        };
        let workloads = inv.workloads();
        let names = |it: &mut dyn Iterator<Item = &Object>| {
            let mut v: Vec<String> = it.map(|o| o.oref.name.clone()).collect();
            v.sort();
            v
        };
        assert_eq!(names(&mut inv.services_for(&workloads[0])), ["all", "web"]);
        assert_eq!(
            names(&mut inv.selecting("PodDisruptionBudget", &workloads[0])),
            ["by-expression", "by-labels"]
        );
        assert_eq!(
            inv.find("Service", "other", "web").unwrap().namespace(),
            "other"
        );
        assert_eq!(inv.of_kind("PodDisruptionBudget").count(), 3);
    }

    #[test]
    fn secret_values_are_dropped_while_reading() {
        let objs = parse_documents(
            "s.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: hunter2}\n",
            "app",
        )
        .unwrap();
        assert_eq!(objs[0].oref, ObjectRef::new("Secret", Some("app"), "s"));
        assert!(!objs[0].value.to_value().to_string().contains("hunter2"));
    }
}
