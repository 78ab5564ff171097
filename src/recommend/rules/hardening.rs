//! What the Pod Security Standards forbid beyond the basics in `security`: host IPC, ports and
//! Windows host processes, capabilities kept, seccomp, AppArmor and SELinux profiles, /proc
//! masking, and images that differ by node. Every container list counts (init, ephemeral).

use k8s_openapi::api::core::v1::{Container, SELinuxOptions};
use serde_json::json;

use super::security::floating;
use super::{RuleId, Sink, fix};
use crate::recommend::inventory::At;
use crate::recommend::inventory::Workload;

/// The SELinux types the baseline profile allows.
const SELINUX_TYPES: &[&str] = &[
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

pub(super) fn check(workloads: &[Workload<'_>], sink: &mut Sink<'_>) {
    for w in workloads {
        pod(w, sink);
        for (_, c) in w.all_containers() {
            container(w, c, sink);
        }
    }
}

fn pod(w: &Workload<'_>, sink: &mut Sink<'_>) {
    if w.spec.host_ipc == Some(true) {
        sink.add(
            RuleId::HostIpc,
            w.object,
            None,
            "the pod shares the node's IPC namespace (hostIPC: true)".into(),
            None,
        );
    }
    let pod_sc = w.spec.security_context.as_ref();
    if let Some(opts) = pod_sc.and_then(|s| s.se_linux_options.as_ref()) {
        selinux(w, None, opts, sink);
    }
    if pod_sc
        .and_then(|s| s.windows_options.as_ref())
        .and_then(|o| o.host_process)
        == Some(true)
    {
        sink.add(
            RuleId::HostProcess,
            w.object,
            None,
            "the pod runs its containers as Windows host processes".into(),
            None,
        );
    }
}

fn selinux(w: &Workload<'_>, c: Option<&str>, o: &SELinuxOptions, sink: &mut Sink<'_>) {
    let mut unsafe_parts = Vec::new();
    if let Some(t) = o.type_.as_deref().filter(|t| !SELINUX_TYPES.contains(t)) {
        unsafe_parts.push(format!("type {t}"));
    }
    if let Some(u) = &o.user {
        unsafe_parts.push(format!("user {u}"));
    }
    if let Some(r) = &o.role {
        unsafe_parts.push(format!("role {r}"));
    }
    if !unsafe_parts.is_empty() {
        let whose = c.map_or("the pod".to_string(), |c| format!("container {c}"));
        sink.add(
            RuleId::SelinuxOptionsUnsafe,
            w.object,
            c,
            format!("{whose} sets SELinux {}", unsafe_parts.join(", ")),
            None,
        );
    }
}

fn container(w: &Workload<'_>, c: &Container, sink: &mut Sink<'_>) {
    let name = c.name.as_str();
    for p in c.ports.iter().flatten() {
        if let Some(hp) = p.host_port.filter(|p| *p > 0) {
            sink.add(
                RuleId::HostPort,
                w.object,
                Some(name),
                format!("container {name} binds port {hp} on the node (hostPort)"),
                None,
            );
        }
    }
    let sc = c.security_context.clone().unwrap_or_default();
    if sc.windows_options.as_ref().and_then(|o| o.host_process) == Some(true) {
        sink.add(
            RuleId::HostProcess,
            w.object,
            Some(name),
            format!("container {name} runs as a Windows host process"),
            None,
        );
    }
    if let Some(opts) = &sc.se_linux_options {
        selinux(w, Some(name), opts, sink);
    }
    if sc.proc_mount.as_deref() == Some("Unmasked") {
        sink.add(
            RuleId::ProcMountUnmasked,
            w.object,
            Some(name),
            format!("container {name} mounts /proc unmasked (procMount: Unmasked)"),
            fix(
                format!("set procMount: Default on {name}"),
                w.container_intent(name, json!({"securityContext": {"procMount": "Default"}})),
            ),
        );
    }
    capabilities(w, c, sink);
    profiles(w, c, sink);
    if let Some(image) = c.image.as_deref().filter(|i| floating(i))
        && let Some(policy) = c
            .image_pull_policy
            .as_deref()
            .filter(|p| matches!(*p, "IfNotPresent" | "Never"))
    {
        sink.add(
            RuleId::ImagePullPolicyMutable,
            w.object,
            Some(name),
            format!(
                "container {name} runs {image} with imagePullPolicy {policy}: each node keeps the image it pulled first"
            ),
            fix(
                format!("pull {image} on every start (imagePullPolicy: Always)"),
                w.container_intent(name, json!({"imagePullPolicy": "Always"})),
            ),
        );
    }
}

fn capabilities(w: &Workload<'_>, c: &Container, sink: &mut Sink<'_>) {
    let caps = c
        .security_context
        .as_ref()
        .and_then(|s| s.capabilities.as_ref());
    let dropped: Vec<&str> = caps
        .and_then(|c| c.drop.as_deref())
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    if dropped.contains(&"ALL") {
        return;
    }
    let name = c.name.as_str();
    let net_raw = if dropped.contains(&"NET_RAW") {
        ""
    } else {
        ", so it keeps NET_RAW (raw sockets)"
    };
    sink.add(
        RuleId::CapabilitiesNotDropped,
        w.object,
        Some(name),
        format!("container {name} does not drop ALL capabilities{net_raw}"),
        fix(
            format!("drop ALL capabilities of {name}"),
            w.container_intent(
                name,
                json!({"securityContext": {"capabilities": {"drop": ["ALL"]}}}),
            ),
        ),
    );
}

/// Seccomp and AppArmor: the container's own setting, else the pod's (and the legacy AppArmor
/// annotation, which predates the field).
fn profiles(w: &Workload<'_>, c: &Container, sink: &mut Sink<'_>) {
    let name = c.name.as_str();
    let sc = c.security_context.as_ref();
    let pod_sc = w.spec.security_context.as_ref();
    let seccomp = sc
        .and_then(|s| s.seccomp_profile.as_ref())
        .or(pod_sc.and_then(|s| s.seccomp_profile.as_ref()))
        .map(|p| p.type_.as_str());
    if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
        let why = match seccomp {
            Some(t) => format!("seccompProfile {t}"),
            None => "no seccompProfile".to_string(),
        };
        sink.add(
            RuleId::SeccompProfileMissing,
            w.object,
            Some(name),
            format!("container {name} runs with {why}: every system call is allowed"),
            (seccomp.is_none())
                .then(|| {
                    fix(
                    "set seccompProfile RuntimeDefault on the pod",
                    w.pod_intent(
                        json!({"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}),
                    ),
                )
                })
                .flatten(),
        );
    }
    let annotations_at = if w.pod_path.len() == 1 {
        "/metadata/annotations".to_string()
    } else {
        format!(
            "/{}/metadata/annotations",
            w.pod_path[..w.pod_path.len() - 1].join("/")
        )
    };
    let legacy = w
        .object
        .value
        .at(&annotations_at)
        .and_then(|a| {
            a.get(&format!(
                "container.apparmor.security.beta.kubernetes.io/{name}"
            ))
        })
        .and_then(|v| v.as_str());
    let apparmor = sc
        .and_then(|s| s.app_armor_profile.as_ref())
        .or(pod_sc.and_then(|s| s.app_armor_profile.as_ref()))
        .map(|p| p.type_.as_str());
    if apparmor == Some("Unconfined") || legacy == Some("unconfined") {
        sink.add(
            RuleId::ApparmorUnconfined,
            w.object,
            Some(name),
            format!("container {name} runs with AppArmor unconfined"),
            None,
        );
    }
}
