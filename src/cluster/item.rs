//! What both sources need of every object they read: where the API server lists it, and what no
//! analyzer and no prompt reads, dropped as each page is read so that a context's memory follows
//! the objects and not the bytes on the wire (`managedFields`, often half of an object, and the
//! `kubectl apply` copy of the whole object in an annotation).

use std::fmt;
use std::marker::PhantomData;

use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::context::meta::LAST_APPLIED;
use crate::context::{Event, KeyedObject, Pod};
use crate::metrics::{NodeMetrics, PodMetrics};

/// One object of a list.
pub(crate) trait ListItem {
    /// Sheds what diagnosis never reads.
    fn slim(&mut self);

    /// Namespace and name: the API server lists objects in the order of their storage key,
    /// `namespace/name`, which [`list_order`] restores after parts of a list are joined.
    fn key(&self) -> (&str, &str);
}

impl<T: Metadata<Ty = ObjectMeta>> ListItem for T {
    fn key(&self) -> (&str, &str) {
        let meta = self.metadata();
        (
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        )
    }

    fn slim(&mut self) {
        let meta = self.metadata_mut();
        meta.managed_fields = None;
        if let Some(annotations) = meta.annotations.as_mut() {
            annotations.remove(LAST_APPLIED);
        }
    }
}

/// Already reduced to names and keys while parsing.
impl ListItem for KeyedObject {
    fn slim(&mut self) {}

    fn key(&self) -> (&str, &str) {
        (&self.namespace, &self.name)
    }
}

/// Our own types, read without managedFields and the last-applied copy (see `context::meta`).
macro_rules! lean_items {
    ($($ty:ty),*) => {$(
        impl ListItem for $ty {
            fn slim(&mut self) {}

            fn key(&self) -> (&str, &str) {
                let meta = &self.metadata;
                (
                    meta.namespace.as_deref().unwrap_or_default(),
                    meta.name.as_deref().unwrap_or_default(),
                )
            }
        }
    )*};
}
lean_items!(Pod, Event);

/// Metrics are parsed into our own lean types.
impl ListItem for PodMetrics {
    fn slim(&mut self) {}

    fn key(&self) -> (&str, &str) {
        let m = &self.metadata;
        (m.namespace.as_deref().unwrap_or_default(), &m.name)
    }
}

impl ListItem for NodeMetrics {
    fn slim(&mut self) {}

    fn key(&self) -> (&str, &str) {
        ("", &self.metadata.name)
    }
}

/// Sorts objects into the order the API server lists them in: by `namespace/name` as bytes.
pub(crate) fn list_order<T: ListItem>(items: &mut [T]) {
    fn storage_key<T: ListItem>(item: &T) -> impl Iterator<Item = u8> + '_ {
        let (ns, name) = item.key();
        let sep: &[u8] = if ns.is_empty() { b"" } else { b"/" };
        ns.bytes().chain(sep.iter().copied()).chain(name.bytes())
    }
    items.sort_by(|a, b| storage_key(a).cmp(storage_key(b)));
}

/// Parses a Kubernetes List into its items, each slimmed as soon as it is parsed and kept only
/// when `keep` wants it: the unwanted never accumulate.
pub(crate) struct ListSeed<T> {
    keep: fn(&T) -> bool,
}

impl<T> ListSeed<T> {
    pub(super) fn new(keep: fn(&T) -> bool) -> Self {
        ListSeed { keep }
    }
}

impl<'de, T: Deserialize<'de> + ListItem> DeserializeSeed<'de> for ListSeed<T> {
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de> + ListItem> Visitor<'de> for ListSeed<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a List object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                items = map.next_value_seed(Items {
                    keep: self.keep,
                    item: PhantomData,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(items)
    }
}

struct Items<T> {
    keep: fn(&T) -> bool,
    item: PhantomData<T>,
}

impl<'de, T: Deserialize<'de> + ListItem> DeserializeSeed<'de> for Items<T> {
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, T: Deserialize<'de> + ListItem> Visitor<'de> for Items<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of objects")
    }

    /// `"items": null`, as some tools write an empty list.
    fn visit_unit<E>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(mut item) = seq.next_element::<T>()? {
            if (self.keep)(&item) {
                item.slim();
                out.push(item);
            }
        }
        // The list grew by doubling: what is kept is its length, not the slack.
        out.shrink_to_fit();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;

    #[test]
    fn managed_fields_and_the_last_applied_copy_are_dropped_and_the_rest_kept() {
        let mut d: Deployment = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "shop",
                "annotations": {LAST_APPLIED: "{\"kind\":\"Deployment\"}", "deployment.kubernetes.io/revision": "3"},
                "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {}}
        }))
        .unwrap();
        assert!(d.metadata.managed_fields.is_some());
        d.slim();
        assert_eq!(d.key(), ("shop", "web"));
        assert_eq!(d.metadata.managed_fields, None);
        let annotations = d.metadata.annotations.unwrap();
        assert_eq!(annotations.len(), 1);
        assert_eq!(annotations["deployment.kubernetes.io/revision"], "3");
        assert_eq!(d.spec.unwrap().replicas, Some(2));
    }

    #[test]
    fn a_list_is_parsed_item_by_item_into_what_is_kept() {
        let text = r#"{"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"},
            "items": [{"metadata": {"name": "a", "namespace": "x", "managedFields": [{"manager": "kubelet"}]}},
                      {"metadata": {"name": "b", "namespace": "x"}}]}"#;
        let keep_b = |p: &Pod| p.metadata.name.as_deref() == Some("b");
        let mut de = serde_json::Deserializer::from_str(text);
        let pods = ListSeed::new(keep_b).deserialize(&mut de).unwrap();
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0].key(), ("x", "b"));
        let mut de = serde_json::Deserializer::from_str(text);
        let all = ListSeed::new(|_: &Pod| true).deserialize(&mut de).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].metadata.managed_fields, None);
        let mut de = serde_json::Deserializer::from_str(r#"{"items": null}"#);
        assert!(
            ListSeed::new(|_: &Pod| true)
                .deserialize(&mut de)
                .unwrap()
                .is_empty()
        );
        let mut de = serde_json::Deserializer::from_str(r#"{"items": 3}"#);
        assert!(ListSeed::new(|_: &Pod| true).deserialize(&mut de).is_err());
    }

    #[test]
    fn joined_parts_return_to_the_servers_order() {
        let pod = |ns: &str, name: &str| Pod {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut pods = vec![pod("team", "b"), pod("team-a", "z"), pod("team", "a")];
        list_order(&mut pods);
        let keys: Vec<_> = pods.iter().map(|p| p.key()).collect();
        // etcd's keys: "team-a/z" < "team/a" because '-' sorts before '/'.
        assert_eq!(keys, [("team-a", "z"), ("team", "a"), ("team", "b")]);
    }
}
