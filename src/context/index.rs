//! Lookups a context answers many times per diagnosis (the events of one object, the ReplicaSet
//! or Job that owns a pod, the pods of one namespace), each built on first use in one pass over
//! its list, so that a question asked once per pod costs a hash lookup and not a scan: at 100k
//! pods the scans alone were minutes.
//!
//! A context is read-only once [`super::Context::finish`] has run; the indexes rely on that.

use std::collections::HashMap;
use std::sync::OnceLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Positions in one of the context's lists, by a key of two names.
type ByTwo = HashMap<String, HashMap<String, Vec<usize>>>;

#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    /// Events by involved object's (kind, name), in the events' own (newest first) order.
    events: OnceLock<ByTwo>,
    /// ReplicaSets by (namespace, name).
    replica_sets: OnceLock<ByTwo>,
    /// Jobs by (namespace, name).
    jobs: OnceLock<ByTwo>,
    /// Pods by namespace (the outer key is empty).
    pods: OnceLock<ByTwo>,
}

/// Which list a lookup reads.
#[derive(Clone, Copy)]
pub(crate) enum Of {
    Events,
    ReplicaSets,
    Jobs,
    Pods,
}

impl Index {
    /// The positions under (`a`, `b`) in the list `of`, building its index from `keys` (one
    /// key per element, in order) on first use.
    pub(super) fn get<'k>(
        &self,
        of: Of,
        keys: impl FnOnce() -> Vec<(&'k str, &'k str)>,
        a: &str,
        b: &str,
    ) -> &[usize] {
        let cell = match of {
            Of::Events => &self.events,
            Of::ReplicaSets => &self.replica_sets,
            Of::Jobs => &self.jobs,
            Of::Pods => &self.pods,
        };
        let index = cell.get_or_init(|| {
            let mut index = ByTwo::new();
            for (i, (a, b)) in keys().into_iter().enumerate() {
                index
                    .entry(a.to_string())
                    .or_default()
                    .entry(b.to_string())
                    .or_default()
                    .push(i);
            }
            index
        });
        index
            .get(a)
            .and_then(|m| m.get(b))
            .map_or(&[], Vec::as_slice)
    }
}

/// An object's (namespace, name) as index keys.
pub(crate) fn key(meta: &ObjectMeta) -> (&str, &str) {
    (
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}
