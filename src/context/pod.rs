//! A pod as the Context holds it: k8s-openapi's shape and field names (so analyzers, prompts and
//! tools read `pod.spec.containers[..].liveness_probe` as before, and it serializes as the API
//! writes it), but not its memory. k8s-openapi keeps every optional struct inline, so its Pod is
//! ~19 KB on the heap even when nearly everything is absent (a Volume alone is 3 KB for its ~30
//! possible sources, a Container 2 KB for its probes, lifecycle and security context). Here what
//! is big and mostly absent is boxed, and metadata is read without `managedFields` (see `meta`).
//! Leaf types (Probe, EnvVar, Toleration, ContainerState...) stay k8s-openapi's.
//!
//! The field lists follow k8s-openapi's (v1_33) in its order, so an object serializes to the same
//! JSON; only three status fields no one reads are left out of ContainerStatus (`user`,
//! `volumeMounts` and `allocatedResourcesStatus`: the spec says the mounts).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Pod {
    #[serde(default, deserialize_with = "super::meta::lean")]
    pub metadata: ObjectMeta,
    /// Boxed, as is the status: a list of pods grows by doubling, so what is inline in a pod
    /// costs up to three times over while the list is read.
    pub spec: Option<Box<PodSpec>>,
    pub status: Option<Box<PodStatus>>,
}

/// As k8s-openapi writes a Pod: `apiVersion` and `kind` first.
impl Serialize for Pod {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = 3 + usize::from(self.spec.is_some()) + usize::from(self.status.is_some());
        let mut state = serializer.serialize_struct("Pod", fields)?;
        state.serialize_field("apiVersion", "v1")?;
        state.serialize_field("kind", "Pod")?;
        state.serialize_field("metadata", &self.metadata)?;
        if let Some(spec) = &self.spec {
            state.serialize_field("spec", spec)?;
        }
        if let Some(status) = &self.status {
            state.serialize_field("status", status)?;
        }
        state.end()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_deadline_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Box<core::Affinity>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
    #[serde(default, deserialize_with = "exact_required")]
    pub containers: Vec<Container>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_config: Option<Box<core::PodDNSConfig>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_service_links: Option<bool>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub ephemeral_containers: Option<Vec<core::EphemeralContainer>>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub host_aliases: Option<Vec<core::HostAlias>>,
    #[serde(rename = "hostIPC", skip_serializing_if = "Option::is_none")]
    pub host_ipc: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,
    #[serde(rename = "hostPID", skip_serializing_if = "Option::is_none")]
    pub host_pid: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_users: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub image_pull_secrets: Option<Vec<core::LocalObjectReference>>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub init_containers: Option<Vec<Container>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<Box<core::PodOS>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overhead: Option<BTreeMap<String, Quantity>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preemption_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub readiness_gates: Option<Vec<core::PodReadinessGate>>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_claims: Option<Vec<core::PodResourceClaim>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Box<core::ResourceRequirements>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub scheduling_gates: Option<Vec<core::PodSchedulingGate>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<Box<core::PodSecurityContext>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    #[serde(rename = "setHostnameAsFQDN", skip_serializing_if = "Option::is_none")]
    pub set_hostname_as_fqdn: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_process_namespace: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub tolerations: Option<Vec<core::Toleration>>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub topology_spread_constraints: Option<Vec<core::TopologySpreadConstraint>>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub volumes: Option<Vec<Volume>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub args: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub command: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub env: Option<Vec<core::EnvVar>>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub env_from: Option<Vec<core::EnvFromSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Box<core::Lifecycle>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Box<core::Probe>>,
    #[serde(default)]
    pub name: String,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub ports: Option<Vec<core::ContainerPort>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Box<core::Probe>>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub resize_policy: Option<Vec<core::ContainerResizePolicy>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<core::ResourceRequirements>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<Box<core::SecurityContext>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Box<core::Probe>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdin_once: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_message_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub termination_message_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub volume_devices: Option<Vec<core::VolumeDevice>>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub volume_mounts: Option<Vec<core::VolumeMount>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_elastic_block_store: Option<Box<core::AWSElasticBlockStoreVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_disk: Option<Box<core::AzureDiskVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_file: Option<Box<core::AzureFileVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cephfs: Option<Box<core::CephFSVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cinder: Option<Box<core::CinderVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_map: Option<Box<core::ConfigMapVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csi: Option<Box<core::CSIVolumeSource>>,
    #[serde(rename = "downwardAPI", skip_serializing_if = "Option::is_none")]
    pub downward_api: Option<Box<core::DownwardAPIVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<Box<core::EmptyDirVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<Box<core::EphemeralVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fc: Option<Box<core::FCVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flex_volume: Option<Box<core::FlexVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flocker: Option<Box<core::FlockerVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gce_persistent_disk: Option<Box<core::GCEPersistentDiskVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_repo: Option<Box<core::GitRepoVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub glusterfs: Option<Box<core::GlusterfsVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_path: Option<Box<core::HostPathVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Box<core::ImageVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iscsi: Option<Box<core::ISCSIVolumeSource>>,
    #[serde(default)]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nfs: Option<Box<core::NFSVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<Box<core::PersistentVolumeClaimVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photon_persistent_disk: Option<Box<core::PhotonPersistentDiskVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portworx_volume: Option<Box<core::PortworxVolumeSource>>,
    #[serde(
        default,
        deserialize_with = "projected",
        skip_serializing_if = "Option::is_none"
    )]
    pub projected: Option<Box<core::ProjectedVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quobyte: Option<Box<core::QuobyteVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rbd: Option<Box<core::RBDVolumeSource>>,
    #[serde(rename = "scaleIO", skip_serializing_if = "Option::is_none")]
    pub scale_io: Option<Box<core::ScaleIOVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<Box<core::SecretVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storageos: Option<Box<core::StorageOSVolumeSource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vsphere_volume: Option<Box<core::VsphereVirtualDiskVolumeSource>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub conditions: Option<Vec<core::PodCondition>>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub container_statuses: Option<Vec<ContainerStatus>>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub ephemeral_container_statuses: Option<Vec<ContainerStatus>>,
    #[serde(rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    #[serde(
        rename = "hostIPs",
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub host_ips: Option<Vec<core::HostIP>>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub init_container_statuses: Option<Vec<ContainerStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nominated_node_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(rename = "podIP", skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    #[serde(
        rename = "podIPs",
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub pod_ips: Option<Vec<core::PodIP>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize: Option<String>,
    #[serde(
        default,
        deserialize_with = "exact",
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_claim_statuses: Option<Vec<core::PodResourceClaimStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocated_resources: Option<BTreeMap<String, Quantity>>,
    #[serde(rename = "containerID", skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(default)]
    pub image: String,
    #[serde(rename = "imageID", default)]
    pub image_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_state: Option<core::ContainerState>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Box<core::ResourceRequirements>>,
    #[serde(default)]
    pub restart_count: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<core::ContainerState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// serde's `Vec` grows by doubling from four elements, so a pod's one container would keep room
/// for four (kilobytes each, per pod); lists are cut to their length as they are read.
fn exact<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Vec<T>>, D::Error> {
    let mut list = Option::<Vec<T>>::deserialize(deserializer)?;
    if let Some(list) = list.as_mut() {
        list.shrink_to_fit();
    }
    Ok(list)
}

/// The service-account token volume every pod has is a projected one of two or three sources
/// (a third of a kilobyte each): its list too is cut to its length.
fn projected<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Box<core::ProjectedVolumeSource>>, D::Error> {
    let mut projected = Option::<Box<core::ProjectedVolumeSource>>::deserialize(deserializer)?;
    if let Some(sources) = projected.as_mut().and_then(|p| p.sources.as_mut()) {
        sources.shrink_to_fit();
    }
    Ok(projected)
}

/// [`exact`] for a list the API always writes (`null` reads as empty, as k8s-openapi reads it).
fn exact_required<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    Ok(exact(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::meta::LAST_APPLIED;

    /// A pod as kube-apiserver returns it: managedFields, the last-applied copy, probes of each
    /// kind, volumes of several sources, env references, affinity, and a crash-looping status.
    const API_POD: &str = include_str!("../../tests/fixtures/api/pod.json");

    #[test]
    fn a_pod_from_the_api_reads_as_k8s_openapi_reads_it_without_what_no_one_reads() {
        let pod: Pod = serde_json::from_str(API_POD).unwrap();
        assert_eq!(pod.metadata.managed_fields, None);
        let annotations = pod.metadata.annotations.as_ref().unwrap();
        assert!(!annotations.contains_key(LAST_APPLIED));
        assert_eq!(
            annotations["kubectl.kubernetes.io/default-container"],
            "api"
        );

        // Everything else is k8s-openapi's reading, written back as the same JSON (field order
        // included): what get_object and MCP explain show, and what recommend re-reads.
        let mut full: k8s_openapi::api::core::v1::Pod = serde_json::from_str(API_POD).unwrap();
        full.metadata.managed_fields = None;
        full.metadata
            .annotations
            .as_mut()
            .unwrap()
            .remove(LAST_APPLIED);
        let status = full.status.as_mut().unwrap();
        let statuses = status.container_statuses.iter_mut();
        for cs in statuses
            .chain(status.init_container_statuses.iter_mut())
            .flatten()
        {
            assert!(cs.volume_mounts.take().is_some() || cs.name == "wait-db");
            cs.user = None;
            cs.allocated_resources_status = None;
        }
        assert_eq!(
            serde_json::to_string(&pod).unwrap(),
            serde_json::to_string(&full).unwrap()
        );
        let again: Pod = serde_json::from_str(&serde_json::to_string(&pod).unwrap()).unwrap();
        assert_eq!(again, pod);

        // What the analyzers read, by the paths they read it.
        let spec = pod.spec.as_deref().unwrap();
        let api = &spec.containers[0];
        let liveness = api.liveness_probe.as_deref().unwrap();
        assert_eq!(
            liveness.http_get.as_ref().unwrap().path.as_deref(),
            Some("/healthz")
        );
        assert!(api.readiness_probe.as_ref().unwrap().tcp_socket.is_some());
        assert!(api.startup_probe.as_ref().unwrap().exec.is_some());
        assert_eq!(api.ports.as_ref().unwrap()[1].container_port, 9090);
        let env = api.env.as_deref().unwrap();
        let secret_ref = env[1].value_from.as_ref().unwrap().secret_key_ref.as_ref();
        assert_eq!(secret_ref.unwrap().key, "password");
        let limits = api.resources.as_ref().unwrap().limits.as_ref().unwrap();
        assert_eq!(limits["memory"].0, "512Mi");
        let volumes = spec.volumes.as_deref().unwrap();
        assert_eq!(volumes.len(), 6);
        let secret = volumes[1].secret.as_ref().unwrap();
        assert_eq!(secret.secret_name.as_deref(), Some("api-tls"));
        assert_eq!(
            volumes[2]
                .persistent_volume_claim
                .as_ref()
                .unwrap()
                .claim_name,
            "api-data"
        );
        assert_eq!(spec.tolerations.as_ref().unwrap().len(), 2);
        assert_eq!(
            spec.node_selector.as_ref().unwrap()["kubernetes.io/arch"],
            "amd64"
        );
        assert!(spec.affinity.as_ref().unwrap().node_affinity.is_some());
        assert_eq!(spec.init_containers.as_ref().unwrap()[0].name, "wait-db");
        let status = pod.status.as_deref().unwrap();
        let cs = &status.container_statuses.as_ref().unwrap()[0];
        let waiting = cs.state.as_ref().unwrap().waiting.as_ref().unwrap();
        assert_eq!(waiting.reason.as_deref(), Some("CrashLoopBackOff"));
        let last = cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!(
            (last.exit_code, last.reason.as_deref()),
            (137, Some("OOMKilled"))
        );
        assert_eq!(status.conditions.as_ref().unwrap().len(), 5);
    }

    #[test]
    fn lists_keep_their_length_and_a_null_list_reads_as_absent() {
        let pod: Pod = serde_json::from_str(
            r#"{"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c"}], "volumes": null}}"#,
        )
        .unwrap();
        let spec = pod.spec.unwrap();
        assert_eq!(spec.containers.capacity(), 1);
        assert_eq!(spec.volumes, None);
        let empty: Pod = serde_json::from_str(r#"{"spec": {"containers": null}}"#).unwrap();
        assert!(empty.spec.unwrap().containers.is_empty());
    }
}
