//! Pods that never get a node (unschedulable) and pods thrown off one (evicted).

use crate::context::Pod;
use k8s_openapi::api::core::v1::PodCondition;

mod placement;

use super::{Finding, Grouper, PodProblem, Rule, Severity, namespace, pod_name};
use crate::context::Context;

pub(super) fn analyze(ctx: &Context) -> Vec<Finding> {
    let mut groups = Grouper::default();
    for pod in &ctx.pods {
        let Some(status) = pod.status.as_ref() else {
            continue;
        };
        match status.phase.as_deref() {
            Some("Pending") => {
                if let Some(p) = unschedulable(ctx, pod) {
                    groups.add(ctx, pod, p);
                }
            }
            Some("Failed") if status.reason.as_deref() == Some("Evicted") => {
                let message = status.message.clone().unwrap_or_default();
                let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
                let mut evidence = vec![format!("status: Failed (Evicted) {message}")];
                if let Some(n) = node {
                    evidence.push(format!("node: {n}"));
                }
                let resource = ["memory", "ephemeral-storage", "pids"]
                    .into_iter()
                    .find(|r| message.contains(&format!("low on resource: {r}")))
                    .unwrap_or("resources");
                groups.add(
                    ctx,
                    pod,
                    PodProblem {
                        rule: Rule::Evicted,
                        severity: Severity::Warning,
                        container: String::new(),
                        summary: format!("pods were evicted because their node ran low on {resource}"),
                        evidence,
                        fix: format!(
                            "Set requests close to real {resource} use so the scheduler places pods where it fits (evicted pods are those using most above their requests), and check the node's pressure conditions; remove the dead pods with `kubectl delete pod -n {} --field-selector=status.phase=Failed`.",
                            namespace(pod)
                        ),
                    },
                );
            }
            _ => {}
        }
    }
    groups.finish(ctx)
}

/// Why the scheduler left a pod Pending: its PodScheduled condition, else its latest
/// FailedScheduling event.
pub(crate) fn scheduler_message(ctx: &Context, pod: &Pod) -> Option<String> {
    let condition = unscheduled(pod)?;
    condition.message.clone().or_else(|| {
        ctx.events_for("Pod", pod.metadata.namespace.as_deref(), pod_name(pod))
            .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
            .and_then(|e| e.message.clone())
    })
}

/// The pod's PodScheduled=False condition: the scheduler has looked and found no node.
fn unscheduled(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
}

fn unschedulable(ctx: &Context, pod: &Pod) -> Option<PodProblem> {
    let condition = unscheduled(pod)?;
    let message = scheduler_message(ctx, pod).unwrap_or_default();
    let causes = scheduler_causes(&message);
    // A pod waiting only for its volume is the PVC's story; the storage analyzer tells it once.
    if !causes.is_empty()
        && causes
            .iter()
            .all(|c| c.contains("unbound") && c.contains("PersistentVolumeClaim"))
    {
        return None;
    }
    let mut evidence = vec![format!(
        "PodScheduled=False ({}): {message}",
        condition.reason.as_deref().unwrap_or("Unschedulable")
    )];
    if let Some(requests) = requests_line(pod) {
        evidence.push(requests);
    }
    let lower = message.to_lowercase();
    if asks_node_labels(&lower) {
        evidence.extend(placement::label_mismatch(ctx, pod));
    }
    if lower.contains("volume node affinity conflict") {
        evidence.extend(placement::volume_zones(ctx, pod));
    }
    let fix = scheduling_fix(&lower, placement::node_set_label(pod));
    let cause = if causes.is_empty() {
        "no node fits".to_string()
    } else {
        causes.join(", ")
    };
    Some(PodProblem {
        rule: Rule::Unschedulable,
        severity: Severity::Error,
        container: String::new(),
        summary: format!("pods cannot be scheduled: {cause}"),
        evidence,
        fix,
    })
}

/// Whether the scheduler says the pod's own nodeSelector/affinity rules out nodes (not the
/// volume's node affinity, which is the PersistentVolume's).
fn asks_node_labels(lower: &str) -> bool {
    let own = lower.replace("volume node affinity", "");
    own.contains("node affinity") || own.contains("node selector") || own.contains("nodeselector")
}

/// What to change, for each reason the scheduler gives.
/// `node_set_label`: a label the pod asks for that the kubelet or the cloud sets on nodes
/// (kubernetes.io/arch, a zone): relabelling a node would lie about it.
fn scheduling_fix(lower: &str, node_set_label: Option<&str>) -> String {
    let mut fixes = Vec::new();
    if lower.contains("insufficient cpu") || lower.contains("insufficient memory") {
        fixes.push("lower the pod's resource requests to what it needs, or add node capacity (a bigger node or more nodes)");
    }
    // The node lifecycle controller's taints mirror a node condition: the cure is the node's.
    if lower.contains("node.kubernetes.io/") {
        fixes.push("a node condition taints the nodes (node.kubernetes.io/...): fix the node's condition (see the node's finding), do not tolerate the taint");
    }
    // The control plane's taint keeps ordinary pods off it on purpose: not worth tolerating
    // when the scheduler names other reasons for the other nodes.
    let other_taint = lower.match_indices("taint {").any(|(i, _)| {
        let taint = &lower[i + "taint {".len()..];
        !taint.starts_with("node.kubernetes.io/") && !taint.starts_with("node-role.kubernetes.io/")
    }) || lower.contains("taint {node-role.kubernetes.io/")
        && scheduler_causes(lower).len() == 1;
    if other_taint {
        fixes.push("add a toleration for the node taint named above, or remove the taint from a node meant for this pod");
    }
    if lower.contains("volume node affinity conflict") {
        fixes.push("the pod's volume lives where no node can reach it (the PersistentVolume's nodeAffinity, usually a zone): add a node in that zone (node group or autoscaler), or move the data to a volume in a zone with nodes (snapshot and restore into a new claim); do not relabel nodes");
    }
    let node_set = node_set_label.map(|key| {
        format!("no node has the {key} it asks for, and the kubelet or the cloud sets that label, so relabelling a node would lie about it: fix the pod's nodeSelector/nodeAffinity (or build its image for the nodes' {key}), or add nodes that have it")
    });
    match &node_set {
        Some(text) if asks_node_labels(lower) => fixes.push(text),
        _ if asks_node_labels(lower) => fixes.push("fix the pod's nodeSelector/nodeAffinity, or label a node meant for it: no node carries the labels it asks for"),
        _ => {}
    }
    if lower.contains("anti-affinity") || lower.contains("affinity rules") {
        fixes.push("relax podAntiAffinity (preferred instead of required) or add nodes: every node already runs a pod it refuses to share with");
    }
    if lower.contains("topology spread") {
        fixes.push("relax topologySpreadConstraints (whenUnsatisfiable: ScheduleAnyway) or add nodes in the missing zone");
    }
    if lower.contains("node(s) were unschedulable") {
        fixes.push("uncordon a node (`kubectl uncordon NODE`): the others are cordoned");
    }
    if lower.contains("too many pods") {
        fixes.push("the nodes are at their pod limit: add nodes or remove unused pods");
    }
    if fixes.is_empty() {
        fixes.push("read the scheduler's reason above and change the pod's requests, selectors or tolerations to fit a node");
    }
    let mut fix = fixes.join("; ");
    if let Some(first) = fix.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    fix.push('.');
    fix
}

/// The per-node reasons in a scheduler message:
/// "0/3 nodes are available: 1 node(s) had untolerated taint {...}, 2 Insufficient memory. preemption: ..."
pub(super) fn scheduler_causes(message: &str) -> Vec<String> {
    let Some((_, rest)) = message.split_once("are available: ") else {
        return vec![];
    };
    let rest = rest.split(". preemption:").next().unwrap_or(rest);
    let rest = rest.trim_end_matches('.');
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, ch) in rest.char_indices() {
        match ch {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(rest[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(rest[start..].trim().to_string());
    out.retain(|s| !s.is_empty());
    out
}

fn requests_line(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let parts: Vec<String> = spec
        .containers
        .iter()
        .filter_map(|c| {
            let req = c.resources.as_ref()?.requests.as_ref()?;
            let fields: Vec<String> = ["cpu", "memory"]
                .iter()
                .filter_map(|k| req.get(*k).map(|q| format!("{k} {}", q.0)))
                .collect();
            (!fields.is_empty()).then(|| format!("{}: {}", c.name, fields.join(", ")))
        })
        .collect();
    (!parts.is_empty()).then(|| format!("requests: {}", parts.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_condition_taint_is_never_answered_with_a_toleration() {
        let m = "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/disk-pressure: }. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.".to_lowercase();
        let fix = scheduling_fix(&m, None);
        assert!(fix.contains("fix the node's condition"), "{fix}");
        assert!(!fix.to_lowercase().contains("add a toleration"), "{fix}");
        let m = "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: gpu}."
            .to_lowercase();
        assert!(scheduling_fix(&m, None).contains("toleration for the node taint"));
    }

    #[test]
    fn a_label_nodes_get_from_what_they_are_is_never_answered_by_relabelling() {
        let m = "0/2 nodes are available: 2 node(s) didn't match pod's node affinity/selector.";
        let asked = scheduling_fix(m, None);
        assert!(asked.contains("label a node meant for it"), "{asked}");
        let arch = scheduling_fix(m, Some("kubernetes.io/arch"));
        assert!(arch.contains("relabelling a node would lie"), "{arch}");
        assert!(!arch.contains("label a node meant"), "{arch}");
    }

    #[test]
    fn splits_scheduler_message_into_causes() {
        let m = "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.";
        assert_eq!(
            scheduler_causes(m),
            vec![
                "1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
                "2 Insufficient memory"
            ]
        );
        assert!(scheduler_causes("something else").is_empty());
    }
}
