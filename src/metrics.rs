//! metrics.k8s.io types. k8s-openapi does not ship them (they come from an aggregated API, not the
//! core OpenAPI), so these mirror `k8s.io/metrics/pkg/apis/metrics/v1beta1` for the fields we read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsMeta {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodMetrics {
    pub metadata: MetricsMeta,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub window: Option<String>,
    #[serde(default)]
    pub containers: Vec<ContainerMetrics>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerMetrics {
    pub name: String,
    /// Resource name ("cpu", "memory") to a Kubernetes quantity string.
    #[serde(default)]
    pub usage: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeMetrics {
    pub metadata: MetricsMeta,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub usage: BTreeMap<String, String>,
}
