//! The cluster facts one question needs, as plain data.
//!
//! A `Context` is filled by exactly one source (a live API server or a snapshot directory) and
//! then read by everything downstream. Nothing after this point knows or cares where the data
//! came from, which is what lets every analyzer be tested against fixtures without a server and
//! lets the same fixture run through both sources.
//!
//! Two rules hold for every context, whatever its source:
//! - Secret *values* are never here. Secrets and ConfigMaps are reduced to names and keys by
//!   [`KeyedObject`] the moment they are read.
//! - Events are normalized by [`Context::finish`]: duplicates merged, newest first.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    Endpoints, Namespace, Node, PersistentVolume, PersistentVolumeClaim, ReplicationController,
    Service,
};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::metrics::{NodeMetrics, PodMetrics};

mod event;
mod index;
pub(crate) mod meta;
mod objects;
mod pod;
pub(crate) use event::Event;
use index::{Index, Of};
pub(crate) use pod::{Container, ContainerStatus, Pod, PodSpec};

/// Which namespaces a context covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "type", content = "namespace")]
pub enum Scope {
    Namespace(String),
    AllNamespaces,
}

impl Scope {
    pub fn includes(&self, namespace: &str) -> bool {
        match self {
            Scope::Namespace(ns) => ns == namespace,
            Scope::AllNamespaces => true,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Namespace(ns) => write!(f, "namespace {ns}"),
            Scope::AllNamespaces => f.write_str("all namespaces"),
        }
    }
}

/// A Kubernetes object by identity: what findings point at and what targets name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: &str, namespace: Option<&str>, name: &str) -> Self {
        ObjectRef {
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }

    pub fn of(kind: &str, meta: &ObjectMeta) -> Self {
        ObjectRef::new(
            kind,
            meta.namespace.as_deref(),
            meta.name.as_deref().unwrap_or_default(),
        )
    }
}

impl fmt::Display for ObjectRef {
    /// `deployment/todo-backend` style, as kubectl prints it, with the namespace when known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.to_lowercase(), self.name)?;
        if let Some(ns) = &self.namespace {
            write!(f, " -n {ns}")?;
        }
        Ok(())
    }
}

/// A Secret or ConfigMap reduced to what diagnosis may know: that it exists and which keys it has.
///
/// Deserializing straight into this type discards every value while parsing (serde's
/// `IgnoredAny`), so secret values never exist as strings in this process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "KeysOnly")]
pub struct KeyedObject {
    pub namespace: String,
    pub name: String,
    pub keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeysOnly {
    metadata: NameOnly,
    #[serde(default)]
    data: BTreeMap<String, IgnoredAny>,
    #[serde(default)]
    binary_data: BTreeMap<String, IgnoredAny>,
    #[serde(default)]
    string_data: BTreeMap<String, IgnoredAny>,
}

#[derive(Deserialize)]
struct NameOnly {
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name: String,
}

impl From<KeysOnly> for KeyedObject {
    fn from(k: KeysOnly) -> Self {
        let mut keys: Vec<String> = [k.data, k.binary_data, k.string_data]
            .into_iter()
            .flat_map(BTreeMap::into_keys)
            .collect();
        keys.sort();
        keys.dedup();
        KeyedObject {
            namespace: k.metadata.namespace,
            name: k.metadata.name,
            keys,
        }
    }
}

/// Identifies one container's logs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerKey {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// The bounded tails of a container's current and previous logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerLogs {
    pub current: Option<String>,
    pub previous: Option<String>,
}

/// Everything collected for one diagnosis.
#[derive(Debug, Clone)]
pub struct Context {
    /// Where the data came from, for the reader ("snapshot ./dump", "context minikube").
    pub source: String,
    pub scope: Scope,
    /// The moment the data describes: wall-clock time for a live cluster, the newest timestamp
    /// inside a snapshot (so ages read the same today as on the day it was taken).
    pub observed_at: Timestamp,
    pub namespaces: Vec<Namespace>,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    /// Deduplicated and newest first (see [`Context::finish`]).
    pub events: Vec<Event>,
    pub services: Vec<Service>,
    pub endpoints: Vec<Endpoints>,
    pub deployments: Vec<Deployment>,
    pub replica_sets: Vec<ReplicaSet>,
    pub stateful_sets: Vec<StatefulSet>,
    pub daemon_sets: Vec<DaemonSet>,
    pub replication_controllers: Vec<ReplicationController>,
    pub jobs: Vec<Job>,
    pub cron_jobs: Vec<CronJob>,
    pub pvcs: Vec<PersistentVolumeClaim>,
    pub pvs: Vec<PersistentVolume>,
    pub storage_classes: Vec<StorageClass>,
    pub ingresses: Vec<Ingress>,
    pub ingress_classes: Vec<IngressClass>,
    pub hpas: Vec<HorizontalPodAutoscaler>,
    pub network_policies: Vec<NetworkPolicy>,
    pub pdbs: Vec<PodDisruptionBudget>,
    pub config_maps: Vec<KeyedObject>,
    pub secrets: Vec<KeyedObject>,
    pub logs: BTreeMap<ContainerKey, ContainerLogs>,
    /// Bindings and roles, read only when a log shows a ServiceAccount refused.
    pub rbac: crate::cluster::rbac::Rbac,
    /// `None` when metrics.k8s.io is not served (no metrics-server); then `notes` says so.
    pub pod_metrics: Option<Vec<PodMetrics>>,
    pub node_metrics: Option<Vec<NodeMetrics>>,
    /// Resources (by plural name) this context holds no data for, and why. Absent data must not
    /// read as "there are none": a Secret missing from an unreadable list is not a missing Secret.
    pub unavailable: BTreeMap<String, Unavailable>,
    /// The connection a live context was read through (`None` for a snapshot), so that later
    /// requests of the same command (Prometheus discovery and queries) reuse it rather than
    /// connecting again, which would run an exec credential plugin a second time.
    pub(crate) live: Option<Live>,
    /// Lookups by name, built on first use (see `index`).
    index: Index,
}

/// A live cluster's client, as [`Context::live`] keeps it.
#[derive(Clone)]
pub(crate) struct Live {
    pub(crate) client: kube::Client,
}

impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Live")
    }
}

/// Why a resource is absent from a context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "reason", content = "detail")]
pub enum Unavailable {
    /// The snapshot has no file for it: normal for `kubectl cluster-info dump`, so not reported.
    NotInSnapshot,
    /// The API server refused (403): the user's RBAC does not allow listing it.
    Forbidden(String),
    /// The API is not served by this cluster, e.g. metrics.k8s.io without metrics-server.
    NotServed(String),
}

impl Unavailable {
    /// A line worth showing the user, or `None` when the absence is expected.
    pub fn note(&self, resource: &str) -> Option<String> {
        match self {
            Unavailable::NotInSnapshot => None,
            Unavailable::Forbidden(msg) => Some(format!("{resource}: forbidden, skipped ({msg})")),
            Unavailable::NotServed(msg) => Some(format!("{resource}: not available ({msg})")),
        }
    }
}

impl Context {
    pub fn empty(source: impl Into<String>, scope: Scope, observed_at: Timestamp) -> Self {
        Context {
            source: source.into(),
            scope,
            observed_at,
            namespaces: vec![],
            nodes: vec![],
            pods: vec![],
            events: vec![],
            services: vec![],
            endpoints: vec![],
            deployments: vec![],
            replica_sets: vec![],
            stateful_sets: vec![],
            daemon_sets: vec![],
            replication_controllers: vec![],
            jobs: vec![],
            cron_jobs: vec![],
            pvcs: vec![],
            pvs: vec![],
            storage_classes: vec![],
            ingresses: vec![],
            ingress_classes: vec![],
            hpas: vec![],
            network_policies: vec![],
            pdbs: vec![],
            config_maps: vec![],
            secrets: vec![],
            logs: BTreeMap::new(),
            rbac: Default::default(),
            pod_metrics: None,
            node_metrics: None,
            unavailable: BTreeMap::new(),
            live: None,
            index: Index::default(),
        }
    }

    /// Brings a freshly filled context to the shape every consumer relies on, whatever the source:
    /// events merged and newest first, objects in a stable order.
    pub fn finish(mut self) -> Self {
        self.events = normalize_events(std::mem::take(&mut self.events));
        fn by_key<T>(items: &mut [T], meta: impl Fn(&T) -> &ObjectMeta) {
            items.sort_by(|a, b| {
                let (a, b) = (meta(a), meta(b));
                (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name))
            });
        }
        by_key(&mut self.pods, |o| &o.metadata);
        by_key(&mut self.nodes, |o| &o.metadata);
        by_key(&mut self.services, |o| &o.metadata);
        by_key(&mut self.deployments, |o| &o.metadata);
        by_key(&mut self.stateful_sets, |o| &o.metadata);
        by_key(&mut self.daemon_sets, |o| &o.metadata);
        by_key(&mut self.jobs, |o| &o.metadata);
        by_key(&mut self.pvcs, |o| &o.metadata);
        by_key(&mut self.ingresses, |o| &o.metadata);
        by_key(&mut self.hpas, |o| &o.metadata);
        // Positions change with the order: lookups are rebuilt from the final lists.
        self.index = Index::default();
        self
    }

    /// The workload a pod belongs to, following ownerReferences through the controllers Kubernetes
    /// puts in between (Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob). A bare pod owns
    /// itself.
    pub fn owner_of(&self, pod: &Pod) -> ObjectRef {
        let ns = pod.metadata.namespace.as_deref();
        let Some(owner) = controller_of(&pod.metadata) else {
            return ObjectRef::of("Pod", &pod.metadata);
        };
        let (ns_key, name) = (ns.unwrap_or_default(), owner.name.as_str());
        let parent = match owner.kind.as_str() {
            "ReplicaSet" => self
                .index
                .get(
                    Of::ReplicaSets,
                    || {
                        self.replica_sets
                            .iter()
                            .map(|o| index::key(&o.metadata))
                            .collect()
                    },
                    ns_key,
                    name,
                )
                .first()
                .and_then(|&i| controller_of(&self.replica_sets[i].metadata)),
            "Job" => self
                .index
                .get(
                    Of::Jobs,
                    || self.jobs.iter().map(|o| index::key(&o.metadata)).collect(),
                    ns_key,
                    name,
                )
                .first()
                .and_then(|&i| controller_of(&self.jobs[i].metadata)),
            _ => None,
        };
        // Only climb to kinds we know how to reason about; a ReplicaSet owned by some operator's
        // custom resource is still best described as the ReplicaSet.
        match parent {
            Some(p) if matches!(p.kind.as_str(), "Deployment" | "CronJob") => {
                ObjectRef::new(&p.kind, ns, &p.name)
            }
            _ => ObjectRef::new(&owner.kind, ns, &owner.name),
        }
    }

    /// Events about one object, newest first.
    pub fn events_for<'a>(
        &'a self,
        kind: &'a str,
        namespace: Option<&'a str>,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Event> + 'a {
        let about = |e: &'a Event| {
            let o = &e.involved_object;
            (
                o.kind.as_deref().unwrap_or_default(),
                o.name.as_deref().unwrap_or_default(),
            )
        };
        self.index
            .get(
                Of::Events,
                || self.events.iter().map(about).collect(),
                kind,
                name,
            )
            .iter()
            .map(|&i| &self.events[i])
            .filter(move |e| {
                namespace.is_none() || e.involved_object.namespace.as_deref() == namespace
            })
    }

    pub fn logs_of(&self, namespace: &str, pod: &str, container: &str) -> Option<&ContainerLogs> {
        self.logs.get(&ContainerKey {
            namespace: namespace.to_string(),
            pod: pod.to_string(),
            container: container.to_string(),
        })
    }

    /// Observed memory of a container in bytes, when metrics.k8s.io answered.
    pub fn container_memory(&self, namespace: &str, pod: &str, container: &str) -> Option<u64> {
        self.pod_metrics
            .as_ref()?
            .iter()
            .find(|m| m.metadata.namespace.as_deref() == Some(namespace) && m.metadata.name == pod)?
            .containers
            .iter()
            .find(|c| c.name == container)
            .and_then(|c| crate::quantity::bytes(c.usage.get("memory")?))
    }

    pub fn secret(&self, namespace: &str, name: &str) -> Option<&KeyedObject> {
        self.secrets
            .iter()
            .find(|s| s.namespace == namespace && s.name == name)
    }

    pub fn config_map(&self, namespace: &str, name: &str) -> Option<&KeyedObject> {
        self.config_maps
            .iter()
            .find(|c| c.namespace == namespace && c.name == name)
    }

    /// Pods whose labels satisfy a Service-style equality selector, in one namespace.
    pub fn pods_matching<'a>(
        &'a self,
        namespace: &'a str,
        selector: &'a BTreeMap<String, String>,
    ) -> impl Iterator<Item = &'a Pod> + 'a {
        let in_namespace = |p: &'a Pod| ("", p.metadata.namespace.as_deref().unwrap_or_default());
        self.index
            .get(
                Of::Pods,
                || self.pods.iter().map(in_namespace).collect(),
                "",
                namespace,
            )
            .iter()
            .map(|&i| &self.pods[i])
            .filter(move |p| crate::selector::map_selects(selector, p.metadata.labels.as_ref()))
    }

    /// The newest timestamp anywhere in the data: the moment a snapshot describes.
    pub fn latest_timestamp(&self) -> Option<Timestamp> {
        let events = self.events.iter().filter_map(event_time);
        let pods = self.pods.iter().flat_map(|p| {
            let status = p.status.as_ref();
            let conditions = status
                .and_then(|s| s.conditions.as_deref())
                .unwrap_or_default()
                .iter()
                .filter_map(|c| c.last_transition_time.as_ref().map(|t| t.0));
            let containers = status
                .and_then(|s| s.container_statuses.as_deref())
                .unwrap_or_default()
                .iter()
                .flat_map(|c| [c.state.as_ref(), c.last_state.as_ref()])
                .flatten()
                .flat_map(|s| {
                    [
                        s.running.as_ref().and_then(|r| r.started_at.as_ref()),
                        s.terminated.as_ref().and_then(|t| t.finished_at.as_ref()),
                    ]
                })
                .flatten()
                .map(|t| t.0);
            conditions
                .chain(containers)
                .chain(p.metadata.creation_timestamp.as_ref().map(|t| t.0))
                .collect::<Vec<_>>()
        });
        // A kubelet's heartbeat is the freshest clock in a quiet cluster's dump.
        let heartbeats = self.nodes.iter().flat_map(|n| {
            n.status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
                .filter_map(|c| c.last_heartbeat_time.as_ref().map(|t| t.0))
        });
        events.chain(pods).chain(heartbeats).max()
    }

    /// Whether this context holds data for a kind (it was readable, or its file was there).
    pub fn has(&self, kind: &crate::cluster::kinds::Kind) -> bool {
        !self.unavailable.contains_key(&kind.resource())
    }

    /// User-facing lines about data that could not be collected.
    pub fn notes(&self) -> Vec<String> {
        self.unavailable
            .iter()
            .filter_map(|(resource, why)| why.note(resource))
            .collect()
    }
}

fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    let owners = meta.owner_references.as_ref()?;
    owners
        .iter()
        .find(|o| o.controller == Some(true))
        .or_else(|| owners.first())
}

/// When an event last happened, from whichever of its several time fields the emitter filled.
pub(crate) fn event_time(event: &Event) -> Option<Timestamp> {
    event
        .last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| {
            event
                .series
                .as_ref()
                .and_then(|s| s.last_observed_time.as_ref())
                .map(|t| t.0)
        })
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
        .or_else(|| event.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

pub(crate) fn event_count(event: &Event) -> i32 {
    event
        .series
        .as_ref()
        .and_then(|s| s.count)
        .or(event.count)
        .unwrap_or(1)
        .max(1)
}

/// Keeps the events that can be evidence (everything but type Normal), merges those that say the
/// same thing about the same object (the kubelet re-emits "Back-off restarting failed container"
/// as new objects once its own aggregation window closes) and orders them newest first, so the
/// first event of an object is its latest word.
pub(crate) fn normalize_events(mut events: Vec<Event>) -> Vec<Event> {
    // In place: tens of thousands of events are common, and a second list of them was the
    // largest allocation of a diagnosis.
    events.retain(|e| e.type_.as_deref() != Some("Normal"));
    let mut first: HashMap<(String, String, String, String, String), usize> = HashMap::new();
    let mut merged = vec![false; events.len()];
    for i in 0..events.len() {
        let o = &events[i].involved_object;
        let key = (
            o.kind.clone().unwrap_or_default(),
            o.namespace.clone().unwrap_or_default(),
            o.name.clone().unwrap_or_default(),
            events[i].reason.clone().unwrap_or_default(),
            events[i].message.clone().unwrap_or_default(),
        );
        let Some(&kept) = first.get(&key) else {
            first.insert(key, i);
            continue;
        };
        let event = std::mem::take(&mut events[i]);
        merged[i] = true;
        let kept = &mut events[kept];
        let total = event_count(kept) + event_count(&event);
        let newer = event_time(&event) > event_time(kept);
        let first_seen = match (&kept.first_timestamp, &event.first_timestamp) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a.clone() } else { b.clone() }),
            (a, b) => a.clone().or(b.clone()),
        };
        if newer {
            *kept = event;
        }
        kept.count = Some(total);
        kept.series = None;
        kept.first_timestamp = first_seen;
    }
    let mut gone = merged.into_iter();
    events.retain(|_| !gone.next().unwrap_or(false));
    // Stable like `sort_by_key`, but its scratch space is the keys, not a copy of the events.
    events.sort_by_cached_key(|e| std::cmp::Reverse(event_time(e)));
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn event(name: &str, reason: &str, at: &str, count: i32) -> Event {
        Event {
            involved_object: ObjectReference {
                kind: Some("Pod".into()),
                namespace: Some("ns".into()),
                name: Some(name.into()),
                ..Default::default()
            },
            reason: Some(reason.into()),
            message: Some(format!("{reason} happened")),
            count: Some(count),
            first_timestamp: Some(Time(at.parse().unwrap())),
            last_timestamp: Some(Time(at.parse().unwrap())),
            ..Default::default()
        }
    }

    #[test]
    fn events_are_merged_and_newest_first() {
        let events = vec![
            event("a", "BackOff", "2026-01-01T10:00:00Z", 3),
            event("b", "Unhealthy", "2026-01-01T10:05:00Z", 1),
            event("a", "BackOff", "2026-01-01T10:10:00Z", 2),
        ];
        let out = normalize_events(events);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].involved_object.name.as_deref(), Some("a"));
        assert_eq!(out[0].count, Some(5));
        assert_eq!(
            out[0].first_timestamp.as_ref().unwrap().0.to_string(),
            "2026-01-01T10:00:00Z"
        );
        assert_eq!(out[1].reason.as_deref(), Some("Unhealthy"));
    }

    #[test]
    fn keyed_object_keeps_keys_and_drops_values() {
        let secret = serde_json::json!({
            "metadata": {"name": "db", "namespace": "app"},
            "data": {"password": "c2VjcmV0", "url": "eA=="},
            "stringData": {"token": "plain"}
        });
        let keyed: KeyedObject = serde_json::from_value(secret).unwrap();
        assert_eq!(keyed.keys, vec!["password", "token", "url"]);
        let dumped = format!("{keyed:?}");
        assert!(!dumped.contains("c2VjcmV0") && !dumped.contains("plain"));
    }
}
