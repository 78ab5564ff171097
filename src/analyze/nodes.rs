//! Nodes that are down or under pressure: problems of the machine, not of any one workload.

use super::{Finding, Severity};
use crate::context::{Context, ObjectRef};

pub const NOT_READY: &str = "node-not-ready";
pub const PRESSURE: &str = "node-pressure";

pub fn analyze(ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for node in &ctx.nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let object = ObjectRef::new("Node", None, &name);
        let conditions = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default();
        let pods_here: Vec<String> = ctx
            .pods
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str()))
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        let line = |c: &k8s_openapi::api::core::v1::NodeCondition| {
            format!(
                "{}={} ({}): {}",
                c.type_,
                c.status,
                c.reason.as_deref().unwrap_or_default(),
                c.message.as_deref().unwrap_or_default()
            )
        };
        if let Some(ready) = conditions
            .iter()
            .find(|c| c.type_ == "Ready" && c.status != "True")
        {
            let mut evidence = vec![line(ready)];
            evidence.extend(
                node.spec
                    .iter()
                    .flat_map(|s| s.taints.iter().flatten())
                    .map(|t| format!("taint: {}:{}", t.key, t.effect)),
            );
            if !pods_here.is_empty() {
                evidence.push(format!("{} pods in scope run on it", pods_here.len()));
            }
            out.push(Finding {
                rule: NOT_READY.into(),
                severity: Severity::Error,
                object: object.clone(),
                summary: format!("node {name} is NotReady: its pods are not served and new pods avoid it"),
                evidence,
                fix: format!("Check the node's kubelet and network: `kubectl describe node {name}`, and on the machine `journalctl -u kubelet`; pods there are evicted after the toleration timeout (5m by default)."),
                pods: pods_here.clone(),
            });
        }
        for c in conditions.iter().filter(|c| {
            c.status == "True"
                && matches!(
                    c.type_.as_str(),
                    "MemoryPressure" | "DiskPressure" | "PIDPressure" | "NetworkUnavailable"
                )
        }) {
            let what = match c.type_.as_str() {
                "MemoryPressure" => "memory",
                "DiskPressure" => "disk",
                "PIDPressure" => "process IDs",
                _ => "network",
            };
            out.push(Finding {
                rule: PRESSURE.into(),
                severity: if c.type_ == "NetworkUnavailable" { Severity::Error } else { Severity::Warning },
                object: object.clone(),
                summary: format!("node {name} is short of {what} ({}): the kubelet may evict pods", c.type_),
                evidence: vec![line(c)],
                fix: match c.type_.as_str() {
                    "DiskPressure" => format!("Free disk on {name} (unused images: `crictl rmi --prune`; large logs or emptyDirs), or give it a bigger disk."),
                    "MemoryPressure" => format!("Find the pods using most memory on {name} (`kubectl top pods -A --sort-by=memory`) and set their requests and limits; or add memory."),
                    "PIDPressure" => format!("Find the pod spawning processes on {name} and bound it (pod pids limit)."),
                    _ => format!("The node's network plugin is not ready on {name}: check the CNI pods in kube-system."),
                },
                pods: vec![],
            });
        }
    }
    out
}
