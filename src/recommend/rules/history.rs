//! Rules that read the Prometheus history: requests and limits sized from days of usage, OOM kills
//! and throttling seen in the window, and autoscaling that does not fit the load it had.

use serde_json::json;

use super::{RuleId, Sink, containers, fix};
use crate::prometheus::history::HpaHistory;
use crate::quantity;
use crate::recommend::inventory::At;
use crate::recommend::inventory::{Inventory, Object, Workload};
use crate::recommend::sizing::{Confidence, Proposal, Sizing, Values};
use crate::recommend::tree::Tree;

pub(super) fn check(inv: &Inventory, workloads: &[Workload<'_>], sink: &mut Sink<'_>) {
    let Some(sizing) = &inv.sizing else { return };
    for w in workloads.iter().filter(|w| w.long_running) {
        for c in containers(w) {
            if let Some(p) = proposal(inv, sizing, w, &c.name) {
                container(w, &c.name, &p, sizing, sink);
            }
        }
        swings(inv, sizing, w, sink);
    }
    for hpa in inv.of_kind("HorizontalPodAutoscaler") {
        let key = (hpa.namespace().to_string(), hpa.oref.name.clone());
        if let Some(h) = sizing.history.hpas.get(&key) {
            autoscaler(inv, sizing, hpa, h, workloads, sink);
        }
    }
}

/// What the history proposes for one container of a workload, if Prometheus knows it.
pub(crate) fn proposal(
    inv: &Inventory,
    sizing: &Sizing,
    w: &Workload<'_>,
    container: &str,
) -> Option<Proposal> {
    let u = inv.history(w, container)?;
    let c = w.spec.containers.iter().find(|c| c.name == container)?;
    Some(sizing.propose(&u, current(c)))
}

/// A container's requests and limits now.
pub(crate) fn current(c: &k8s_openapi::api::core::v1::Container) -> Values {
    let res = c.resources.as_ref();
    let get = |limits: bool, r: &str| {
        let map = if limits {
            res.and_then(|x| x.limits.as_ref())
        } else {
            res.and_then(|x| x.requests.as_ref())
        };
        map.and_then(|m| m.get(r)).map(|q| q.0.clone())
    };
    // A limit without a request makes the request equal to it.
    let cpu_limit = get(true, "cpu").and_then(|q| quantity::millicores(&q));
    let mem_limit = get(true, "memory").and_then(|q| quantity::bytes(&q));
    Values {
        cpu_request: get(false, "cpu")
            .and_then(|q| quantity::millicores(&q))
            .or(cpu_limit),
        cpu_limit,
        memory_request: get(false, "memory")
            .and_then(|q| quantity::bytes(&q))
            .or(mem_limit),
        memory_limit: mem_limit,
    }
}

/// One recommendation per container, under the rule of its most pressing reason.
fn container(w: &Workload<'_>, name: &str, p: &Proposal, sizing: &Sizing, sink: &mut Sink<'_>) {
    if p.confidence == Confidence::Low || !p.changes_anything() {
        return;
    }
    let rule = if p.oom_kills > 0 {
        RuleId::OomKillsSeen
    } else if p.proposed.cpu_limit != p.current.cpu_limit {
        RuleId::CpuThrottled
    } else {
        RuleId::Rightsizing
    };
    let window = sizing.history.window_text();
    let mut said = vec![p.changes().join(", ")];
    let mut basis = Vec::new();
    if let Some(cpu) = p.cpu_observed {
        basis.push(format!(
            "CPU p{:.0} {}",
            sizing.strategy.cpu_quantile * 100.0,
            crate::recommend::sizing::quantity_text("cpu", cpu)
        ));
    }
    if let Some(peak) = p.memory_peak {
        basis.push(format!(
            "memory peak {} + {:.0}%",
            quantity::human_bytes(peak),
            sizing.strategy.memory_headroom * 100.0
        ));
    }
    said.push(format!(
        "from {window} of Prometheus history: {}",
        basis.join(", ")
    ));
    let risks = p.risks();
    if !risks.is_empty() {
        said.push(format!("seen in {window}: {}", risks.join(", ")));
    }
    if rule == RuleId::CpuThrottled {
        said.push("or drop the CPU limit: many teams run without one".into());
    }
    if let Some(effect) = p.effect(w.replicas_or_one()) {
        said.push(effect);
    }
    said.push(p.confidence_text());
    sink.add(
        rule,
        w.object,
        Some(name),
        format!("container {name}: {}", said.join("; ")),
        fix(
            format!("set the resources of {name} from {window} of history"),
            w.container_intent(name, json!({ "resources": p.patch() })),
        ),
    );
}

/// A swing this large over the window is load an autoscaler would follow.
const SWING: f64 = 4.0;

/// Large swings between quiet and busy hours, at a fixed replica count.
fn swings(inv: &Inventory, sizing: &Sizing, w: &Workload<'_>, sink: &mut Sink<'_>) {
    if !matches!(w.object.kind(), "Deployment" | "StatefulSet") || inv.hpas_for(w).next().is_some()
    {
        return;
    }
    for c in containers(w) {
        let Some(u) = inv.history(w, &c.name) else {
            continue;
        };
        let (Some(low), Some(high)) = (u.hourly_low, u.hourly_high) else {
            continue;
        };
        // Below 100m the swing is noise in absolute terms, whatever its ratio.
        if high < 0.1 || high < low.max(0.005) * SWING || sizing.history.coverage(&u) < 0.9 {
            continue;
        }
        let cpu =
            |v: f64| crate::recommend::sizing::quantity_text("cpu", (v * 1000.0).ceil() as u64);
        sink.add(
            RuleId::LoadSwings,
            w.object,
            Some(&c.name),
            format!(
                "container {}: its hourly CPU swings from {} in quiet hours to {} in busy ones (p5 and p95 over {}) at a fixed {} replicas: a HorizontalPodAutoscaler would follow the load",
                c.name,
                cpu(low),
                cpu(high),
                sizing.history.window_text(),
                w.replicas_or_one()
            ),
            None,
        );
        return;
    }
}

fn autoscaler(
    inv: &Inventory,
    sizing: &Sizing,
    hpa: &Object,
    h: &HpaHistory,
    workloads: &[Workload<'_>],
    sink: &mut Sink<'_>,
) {
    let spec = |p: &str| hpa.value.at(p).and_then(Tree::as_i64);
    let min = spec("/spec/minReplicas").unwrap_or(1);
    let Some(max) = spec("/spec/maxReplicas") else {
        return;
    };
    let window = sizing.history.window_text();
    let name = &hpa.oref.name;
    if h.at_max.is_some_and(|f| f >= 0.5) && min < max {
        sink.add(
            RuleId::HpaPinned,
            hpa,
            None,
            format!(
                "horizontalpodautoscaler {name} sat at maxReplicas {max} for {:.0}% of {window}: it cannot add the capacity the load asks for; raise maxReplicas (or the requests)",
                h.at_max.unwrap_or_default() * 100.0
            ),
            None,
        );
        return;
    }
    if let Some(far) = target_far(inv, sizing, hpa, h, workloads) {
        sink.add(RuleId::HpaTargetFar, hpa, None, far, None);
        return;
    }
    if let Some(peak) = h.max_seen.filter(|p| *p < max && min < max) {
        let lower = if h.min_seen.is_some_and(|m| m >= min) && h.at_min.is_some_and(|f| f >= 0.99) {
            format!("never left minReplicas {min}")
        } else {
            format!("peaked at {peak} replicas")
        };
        sink.add(
            RuleId::HpaRangeUnused,
            hpa,
            None,
            format!(
                "horizontalpodautoscaler {name} {lower} in {window}; maxReplicas {max} was never reached"
            ),
            None,
        );
    }
}

/// An HPA held at minReplicas while utilization sits far below its target: the target, or
/// minReplicas, is not what the workload needs.
fn target_far(
    inv: &Inventory,
    sizing: &Sizing,
    hpa: &Object,
    h: &HpaHistory,
    workloads: &[Workload<'_>],
) -> Option<String> {
    let metrics = hpa.value.at("/spec/metrics").and_then(Tree::as_array);
    let target = match metrics {
        None => 80,
        Some(m) => m
            .iter()
            .find(|m| m.at("/resource/name").and_then(Tree::as_str) == Some("cpu"))?
            .at("/resource/target/averageUtilization")?
            .as_i64()?,
    };
    let r = |p: &str| hpa.value.at(p).and_then(Tree::as_str).unwrap_or_default();
    let w = workloads.iter().find(|w| {
        w.object.kind() == r("/spec/scaleTargetRef/kind")
            && w.object.oref.name == r("/spec/scaleTargetRef/name")
            && w.object.namespace() == hpa.namespace()
    })?;
    let (mut used, mut requested) = (0.0, 0.0);
    for c in containers(w) {
        let u = inv.history(w, &c.name)?;
        used += u.cpu_median?;
        requested += current(c).cpu_request? as f64 / 1000.0;
    }
    let utilization = (used / requested * 100.0).round() as i64;
    let min = hpa
        .value
        .at("/spec/minReplicas")
        .and_then(Tree::as_i64)
        .unwrap_or(1);
    (h.at_min.is_some_and(|f| f >= 0.9) && utilization * 2 < target).then(|| {
        format!(
            "horizontalpodautoscaler {} targets {target}% CPU, but the median utilization over {} was {utilization}% while it held minReplicas {min}: lower minReplicas, or the CPU requests",
            hpa.oref.name,
            sizing.history.window_text()
        )
    })
}
