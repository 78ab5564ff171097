//! Autoscaling: HPAs that cannot work, workloads that could use one, requests far from usage.

use std::collections::HashMap;

use serde_json::json;

use super::{Draft, RuleId, Sink, containers, fix};
use crate::quantity;
use crate::recommend::inventory::At;
use crate::recommend::inventory::{Inventory, Object, Workload};
use crate::recommend::tree::Tree;
use crate::sizing::{cpu_for_usage, memory_for_usage};

pub(super) fn check(inv: &Inventory, workloads: &[Workload<'_>], sink: &mut Sink<'_>) {
    hpas(inv, workloads, sink);
    for w in workloads.iter().filter(|w| w.long_running) {
        missing_hpa(inv, w, sink);
        rightsizing(inv, w, sink);
    }
}

fn hpas(inv: &Inventory, workloads: &[Workload<'_>], sink: &mut Sink<'_>) {
    let by_name: HashMap<(&str, &str, &str), &Workload<'_>> = workloads
        .iter()
        .map(|w| {
            let o = w.object;
            ((o.kind(), o.namespace(), o.oref.name.as_str()), w)
        })
        .collect();
    for hpa in inv.of_kind("HorizontalPodAutoscaler") {
        min_equals_max(hpa, sink);
        let at = |p: &str| hpa.value.at(p).and_then(Tree::as_str).unwrap_or_default();
        let (kind, name) = (
            at("/spec/scaleTargetRef/kind"),
            at("/spec/scaleTargetRef/name"),
        );
        match by_name.get(&(kind, hpa.namespace(), name)) {
            Some(target) => target_requests(hpa, target, sink),
            None => target_missing(inv, hpa, kind, name, sink),
        }
    }
}

fn min_equals_max(hpa: &Object, sink: &mut Sink<'_>) {
    let replicas =
        |p: &str, default: i64| hpa.value.at(p).and_then(Tree::as_i64).unwrap_or(default);
    let (min, max) = (
        replicas("/spec/minReplicas", 1),
        replicas("/spec/maxReplicas", 0),
    );
    if min == max {
        sink.add(
            RuleId::HpaMinEqualsMax,
            hpa,
            None,
            format!(
                "horizontalpodautoscaler {} has minReplicas = maxReplicas = {min}: it can never scale",
                hpa.oref.name
            ),
            None,
        );
    }
}

/// An HPA whose target is not among the inputs, when the inputs could have held it.
fn target_missing(inv: &Inventory, hpa: &Object, kind: &str, name: &str, sink: &mut Sink<'_>) {
    let plural = match kind {
        "Deployment" => "deployments",
        "StatefulSet" => "statefulsets",
        "ReplicaSet" => "replicasets",
        _ => return,
    };
    if inv.knows(plural) {
        sink.add(
            RuleId::HpaTargetMissing,
            hpa,
            None,
            format!(
                "horizontalpodautoscaler {} targets {}/{name}, which does not exist",
                hpa.oref.name,
                kind.to_lowercase()
            ),
            None,
        );
    }
}

/// Utilization is measured against requests: every container of the target needs them.
fn target_requests(hpa: &Object, target: &Workload<'_>, sink: &mut Sink<'_>) {
    // autoscaling/v2 scales on 80% CPU utilization when no metric is given.
    let metrics = hpa
        .value
        .at("/spec/metrics")
        .and_then(Tree::as_array)
        .unwrap_or_default();
    let mut resources: Vec<&str> = metrics
        .iter()
        .filter(|m| m.at("/resource/target/type").and_then(Tree::as_str) == Some("Utilization"))
        .filter_map(|m| m.at("/resource/name").and_then(Tree::as_str))
        .collect();
    if metrics.is_empty() {
        resources.push("cpu");
    }
    let (kind, name) = (target.object.kind(), &target.object.oref.name);
    for resource in resources {
        let lacking: Vec<&str> = containers(target)
            .filter(|c| {
                let res = c.resources.as_ref();
                let has = |m: Option<&std::collections::BTreeMap<String, _>>| {
                    m.is_some_and(|m| m.contains_key(resource))
                };
                !has(res.and_then(|r| r.requests.as_ref()))
                    && !has(res.and_then(|r| r.limits.as_ref()))
            })
            .map(|c| c.name.as_str())
            .collect();
        if !lacking.is_empty() {
            sink.add(
                RuleId::HpaTargetNoRequests,
                hpa,
                None,
                format!(
                    "horizontalpodautoscaler {} scales on {resource} utilization, but container{} {} of {}/{name} request{} no {resource}",
                    hpa.oref.name,
                    if lacking.len() == 1 { "" } else { "s" },
                    lacking.join(", "),
                    kind.to_lowercase(),
                    if lacking.len() == 1 { "s" } else { "" },
                ),
                None,
            );
        }
    }
}

fn missing_hpa(inv: &Inventory, w: &Workload<'_>, sink: &mut Sink<'_>) {
    let replicas = w.replicas_or_one();
    if !matches!(w.object.kind(), "Deployment" | "StatefulSet")
        || replicas < 2
        || !inv.knows("horizontalpodautoscalers")
        || inv.hpas_for(w).next().is_some()
        || inv.services_for(w).next().is_none()
    {
        return;
    }
    let cpu_requested = containers(w).all(|c| {
        c.resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .is_some_and(|r| r.contains_key("cpu"))
    });
    let name = &w.object.oref.name;
    let hpa = json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": { "name": name, "namespace": w.object.namespace() },
        "spec": {
            "scaleTargetRef": { "apiVersion": w.object.value.get("apiVersion"), "kind": w.object.kind(), "name": name },
            "minReplicas": replicas,
            "maxReplicas": replicas * 3,
            "metrics": [{ "type": "Resource", "resource": { "name": "cpu", "target": { "type": "Utilization", "averageUtilization": 70 } } }],
        },
    });
    sink.add(
        RuleId::HpaMissing,
        w.object,
        None,
        format!(
            "{} {name} runs a fixed {replicas} replicas behind a Service",
            w.object.kind().to_lowercase()
        ),
        cpu_requested.then(|| Draft {
            summary: format!(
                "create HorizontalPodAutoscaler {name}: {replicas}-{} replicas at 70% CPU",
                replicas * 3
            ),
            creates: true,
            patch: hpa,
        }),
    );
}

fn rightsizing(inv: &Inventory, w: &Workload<'_>, sink: &mut Sink<'_>) {
    for c in containers(w) {
        // A history sizes the container (rules::history); one sample would only contradict it.
        let Some((cpu, mem)) = inv
            .usage(w, &c.name)
            .filter(|_| inv.history(w, &c.name).is_none())
        else {
            continue;
        };
        let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
        let req_cpu = requests
            .and_then(|r| r.get("cpu"))
            .and_then(|q| quantity::millicores(&q.0));
        let req_mem = requests
            .and_then(|r| r.get("memory"))
            .and_then(|q| quantity::bytes(&q.0));
        let mut changes = serde_json::Map::new();
        let mut said = Vec::new();
        if let Some(r) = req_cpu {
            let s = cpu_for_usage(cpu);
            // Only differences worth a change: 4x over, or under usage, by at least 50m.
            if (cpu * 4 < r || cpu > r) && r.abs_diff(s) >= 50 {
                changes.insert("cpu".into(), json!(format!("{s}m")));
                said.push(format!("cpu request {r}m vs {cpu}m used: suggest {s}m"));
            }
        }
        if let Some(r) = req_mem {
            let s = memory_for_usage(mem);
            if (mem * 4 < r || mem > r) && r.abs_diff(s) >= 64 * 1024 * 1024 {
                changes.insert("memory".into(), json!(quantity::human_bytes(s)));
                said.push(format!(
                    "memory request {} vs {} used: suggest {}",
                    quantity::human_bytes(r),
                    quantity::human_bytes(mem),
                    quantity::human_bytes(s)
                ));
            }
        }
        if changes.is_empty() {
            continue;
        }
        sink.add(
            RuleId::Rightsizing,
            w.object,
            Some(&c.name),
            format!(
                "container {}: {} (from one metrics.k8s.io sample, with 20% headroom; a usage history is a better guide)",
                c.name,
                said.join("; ")
            ),
            fix(
                format!("set the requests of {} to observed usage + 20%", c.name),
                w.container_intent(&c.name, json!({"resources": {"requests": changes}})),
            ),
        );
    }
}
