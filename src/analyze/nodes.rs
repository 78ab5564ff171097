//! Nodes that are down or under pressure: problems of the machine, not of any one workload.
//!
//! A node condition is the root of what follows from it: the kubelet evicts pods, and the node
//! lifecycle controller taints the node (`node.kubernetes.io/disk-pressure`, `.../unreachable`)
//! so the scheduler keeps new pods away. The finding is on the Node, quotes the condition, and
//! counts the evictions and the pods it blocks; its fix is about the node, never a toleration.

use crate::context::Pod;
use k8s_openapi::api::core::v1::{Node, NodeCondition};

use super::{Finding, Rule, Severity, pod_name};
use crate::context::{Context, ObjectRef};

/// A node condition that is bad when it holds, with the taint the node lifecycle controller puts
/// on the node for it and what the node is short of.
pub(crate) struct Condition {
    pub kind: &'static str,
    pub taint: &'static str,
    pub short_of: &'static str,
}

pub(crate) const CONDITIONS: &[Condition] = &[
    Condition {
        kind: "DiskPressure",
        taint: "node.kubernetes.io/disk-pressure",
        short_of: "disk",
    },
    Condition {
        kind: "MemoryPressure",
        taint: "node.kubernetes.io/memory-pressure",
        short_of: "memory",
    },
    Condition {
        kind: "PIDPressure",
        taint: "node.kubernetes.io/pid-pressure",
        short_of: "process IDs",
    },
    Condition {
        kind: "NetworkUnavailable",
        taint: "node.kubernetes.io/network-unavailable",
        short_of: "network",
    },
];

/// The taints a node gets while its Ready condition is False or Unknown.
pub(crate) const NOT_READY_TAINTS: &[&str] = &[
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];

pub(super) fn analyze(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for node in &ctx.nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let conditions = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default();
        if let Some(ready) = conditions
            .iter()
            .find(|c| c.type_ == "Ready" && c.status != "True")
        {
            out.push(not_ready(ctx, node, &name, ready));
        }
        for (cond, c) in CONDITIONS.iter().filter_map(|cond| {
            let c = conditions
                .iter()
                .find(|c| c.type_ == cond.kind && c.status == "True")?;
            Some((cond, c))
        }) {
            out.push(pressure(ctx, &name, cond, c));
        }
    }
    out
}

fn condition_line(c: &NodeCondition) -> String {
    format!(
        "{}={} ({}): {}",
        c.type_,
        c.status,
        c.reason.as_deref().unwrap_or_default(),
        c.message.as_deref().unwrap_or_default()
    )
}

fn on_node<'a>(ctx: &'a Context, node: &'a str) -> impl Iterator<Item = &'a Pod> + 'a {
    ctx.pods
        .iter()
        .filter(move |p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
}

fn not_ready(ctx: &Context, node: &Node, name: &str, ready: &NodeCondition) -> Finding {
    let unreachable = ready.status == "Unknown";
    let mut evidence = vec![condition_line(ready)];
    evidence.extend(
        node.spec
            .iter()
            .flat_map(|s| s.taints.iter().flatten())
            .map(|t| format!("taint: {}:{}", t.key, t.effect)),
    );
    let pods: Vec<String> = on_node(ctx, name)
        .map(|p| pod_name(p).to_string())
        .collect();
    if !pods.is_empty() {
        evidence.push(format!("{} pods in scope run on it", pods.len()));
    }
    let state = if unreachable {
        "unreachable (its kubelet stopped reporting)"
    } else {
        "NotReady"
    };
    Finding {
        causes: Vec::new(),
        caused_by: None,
        remedies: Vec::new(),
        rule: Rule::NodeNotReady,
        severity: Severity::Error,
        object: ObjectRef::new("Node", None, name),
        summary: format!("node {name} is {state}: its pods are not served and new pods avoid it"),
        evidence,
        fix: format!(
            "Check the node's kubelet, container runtime and network: `kubectl describe node {name}`, and on the machine `journalctl -u kubelet`; pods there are evicted after the toleration timeout (5m by default)."
        ),
        pods,
    }
}

fn pressure(ctx: &Context, name: &str, cond: &Condition, c: &NodeCondition) -> Finding {
    let mut evidence = vec![condition_line(c)];
    let evicted: Vec<String> = on_node(ctx, name)
        .filter(|p| p.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("Evicted"))
        .map(|p| pod_name(p).to_string())
        .collect();
    if !evicted.is_empty() {
        evidence.push(format!("pods evicted from it: {}", evicted.join(", ")));
    }
    evidence.extend(
        ctx.events_for("Node", None, name)
            .filter(|e| {
                matches!(
                    e.reason.as_deref(),
                    Some("EvictionThresholdMet" | "FreeDiskSpaceFailed" | "ImageGCFailed")
                )
            })
            .take(2)
            .filter_map(|e| {
                Some(format!(
                    "event {}: {}",
                    e.reason.as_deref()?,
                    e.message.as_deref()?
                ))
            }),
    );
    let network = cond.kind == "NetworkUnavailable";
    let severity = if network || !evicted.is_empty() {
        Severity::Error
    } else {
        Severity::Warning
    };
    Finding {
        causes: Vec::new(),
        caused_by: None,
        remedies: Vec::new(),
        rule: Rule::NodePressure,
        severity,
        object: ObjectRef::new("Node", None, name),
        summary: if network {
            format!(
                "node {name} has no pod network (NetworkUnavailable): pods there cannot talk to the cluster"
            )
        } else {
            format!(
                "node {name} is short of {} ({}): the kubelet evicts pods and the scheduler avoids the node",
                cond.short_of, cond.kind
            )
        },
        evidence,
        fix: pressure_fix(name, cond.kind),
        pods: evicted,
    }
}

fn pressure_fix(name: &str, kind: &str) -> String {
    match kind {
        "DiskPressure" => format!(
            "Free disk on node {name}: prune unused images (`crictl rmi --prune`), clear large container logs and emptyDirs, or give it a bigger disk; cap the heaviest pods with resources.limits.ephemeral-storage, and if the thresholds are too tight for the disk raise the kubelet's evictionHard (nodefs.available, imagefs.available). Do not tolerate the node.kubernetes.io/disk-pressure taint: it goes away with the pressure."
        ),
        "MemoryPressure" => format!(
            "Relieve memory on node {name}: find the pods using most (`kubectl top pods -A --sort-by=memory`), set their requests and limits to what they use so the scheduler spreads them, or add memory; adjust the kubelet's evictionHard memory.available only if it is too tight. Do not tolerate the node.kubernetes.io/memory-pressure taint."
        ),
        "PIDPressure" => format!(
            "Find the pod spawning processes on node {name} and bound it (the kubelet's podPidsLimit), or raise the node's pid limit (kernel.pid_max). Do not tolerate the node.kubernetes.io/pid-pressure taint."
        ),
        _ => format!(
            "The network plugin is not ready on node {name}: check the CNI pods in kube-system on that node (`kubectl get pods -n kube-system -o wide --field-selector spec.nodeName={name}`) and their logs."
        ),
    }
}
