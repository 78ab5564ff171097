//! An event as the Context holds it: k8s-openapi's fields and names (analyzers and prompts read
//! `event.involved_object.name`, `event.series` as before, and it serializes as the API writes
//! it), read without `managedFields` (see `meta`) and with the rarely present `related` object
//! boxed rather than inline. Tens of thousands of them are normal in a big cluster.

use k8s_openapi::api::core::v1::{EventSeries, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub action: Option<String>,
    pub count: Option<i32>,
    pub event_time: Option<MicroTime>,
    pub first_timestamp: Option<Time>,
    #[serde(default)]
    pub involved_object: ObjectReference,
    pub last_timestamp: Option<Time>,
    pub message: Option<String>,
    #[serde(default, deserialize_with = "super::meta::lean")]
    pub metadata: ObjectMeta,
    pub reason: Option<String>,
    pub related: Option<Box<ObjectReference>>,
    pub reporting_component: Option<String>,
    pub reporting_instance: Option<String>,
    pub series: Option<EventSeries>,
    pub source: Option<EventSource>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
}

/// As k8s-openapi writes an Event: `apiVersion` and `kind` first, absent fields left out.
impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct("Event", 17)?;
        state.serialize_field("apiVersion", "v1")?;
        state.serialize_field("kind", "Event")?;
        macro_rules! optional {
            ($($name:literal = $field:ident,)*) => {$(
                match &self.$field {
                    Some(value) => state.serialize_field($name, value)?,
                    None => state.skip_field($name)?,
                }
            )*};
        }
        optional! {
            "action" = action,
            "count" = count,
            "eventTime" = event_time,
            "firstTimestamp" = first_timestamp,
        }
        state.serialize_field("involvedObject", &self.involved_object)?;
        optional! {
            "lastTimestamp" = last_timestamp,
            "message" = message,
        }
        state.serialize_field("metadata", &self.metadata)?;
        optional! {
            "reason" = reason,
            "related" = related,
            "reportingComponent" = reporting_component,
            "reportingInstance" = reporting_instance,
            "series" = series,
            "source" = source,
            "type" = type_,
        }
        state.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_from_the_api_reads_as_k8s_openapi_reads_it_without_managed_fields() {
        let text = r#"{"kind": "Event", "apiVersion": "v1",
            "metadata": {"name": "api.187a", "namespace": "shop", "uid": "e1", "resourceVersion": "9",
                "creationTimestamp": "2026-11-20T09:59:40Z",
                "managedFields": [{"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                    "time": "2026-11-20T09:59:40Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:count": {}}}]},
            "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "api-6d9f7c8b5-x2k4p",
                "uid": "0b7e", "apiVersion": "v1", "resourceVersion": "4829", "fieldPath": "spec.containers{api}"},
            "reason": "BackOff", "message": "Back-off restarting failed container api",
            "source": {"component": "kubelet", "host": "node-3"},
            "firstTimestamp": "2026-11-20T09:59:01Z", "lastTimestamp": "2026-11-20T09:59:40Z",
            "count": 4, "type": "Warning", "eventTime": null, "reportingComponent": "kubelet",
            "reportingInstance": "node-3"}"#;
        let event: Event = serde_json::from_str(text).unwrap();
        assert_eq!(event.metadata.managed_fields, None);
        assert_eq!(
            event.involved_object.name.as_deref(),
            Some("api-6d9f7c8b5-x2k4p")
        );
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        let mut full: k8s_openapi::api::core::v1::Event = serde_json::from_str(text).unwrap();
        full.metadata.managed_fields = None;
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            serde_json::to_string(&full).unwrap()
        );
    }
}
