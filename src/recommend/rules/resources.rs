//! Requests and limits: missing, below what the container uses, or already OOM-killed.

use k8s_openapi::api::core::v1::Container;
use serde_json::json;

use super::{RuleId, Sink, containers, fix};
use crate::quantity;
use crate::recommend::inventory::At;
use crate::recommend::inventory::{Inventory, Workload};
use crate::recommend::tree::Tree;
use crate::sizing::{cpu_for_usage, memory_for_usage};

pub(super) fn check(inv: &Inventory, workloads: &[Workload<'_>], sink: &mut Sink<'_>) {
    for w in workloads {
        let oom_killed = oom(inv, w, sink);
        for c in containers(w) {
            // With a history, rules::history sizes from it; one metrics.k8s.io sample otherwise.
            let sample = inv
                .usage(w, &c.name)
                .filter(|_| inv.history(w, &c.name).is_none());
            requests_missing(inv, w, c, sample, sink);
            limits_missing(inv, w, c, sink);
            if let Some(usage) = sample {
                near_limit(w, c, usage, oom_killed.as_deref(), sink);
            }
        }
    }
}

/// A container's request of one resource, as written.
fn request(c: &Container, resource: &str) -> Option<String> {
    let requests = c.resources.as_ref()?.requests.as_ref()?;
    requests.get(resource).map(|q| q.0.clone())
}

/// A container's limit of one resource, as written.
fn limit(c: &Container, resource: &str) -> Option<String> {
    let limits = c.resources.as_ref()?.limits.as_ref()?;
    limits.get(resource).map(|q| q.0.clone())
}

fn requests_missing(
    inv: &Inventory,
    w: &Workload<'_>,
    c: &Container,
    sample: Option<(u64, u64)>,
    sink: &mut Sink<'_>,
) {
    let ns = w.object.namespace();
    // Kubernetes fills a request from its limit, or from the namespace's LimitRange.
    let missing: Vec<&str> = ["cpu", "memory"]
        .into_iter()
        .filter(|r| {
            request(c, r).is_none()
                && limit(c, r).is_none()
                && !limit_range_default(inv, ns, "defaultRequest", r)
        })
        .collect();
    if missing.is_empty() {
        return;
    }
    let fixed = sample.and_then(|(cpu, mem)| {
        let mut requests = serde_json::Map::new();
        if missing.contains(&"cpu") {
            requests.insert("cpu".into(), json!(format!("{}m", cpu_for_usage(cpu))));
        }
        if missing.contains(&"memory") {
            requests.insert(
                "memory".into(),
                json!(quantity::human_bytes(memory_for_usage(mem))),
            );
        }
        let shown: Vec<String> = requests
            .iter()
            .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or_default()))
            .collect();
        fix(
            format!(
                "request {} for {} (observed usage + 20%, one sample)",
                shown.join(", "),
                c.name
            ),
            w.container_intent(&c.name, json!({"resources": {"requests": requests}})),
        )
    });
    sink.add(
        RuleId::RequestsMissing,
        w.object,
        Some(&c.name),
        format!(
            "container {} has no {} request",
            c.name,
            missing.join(" or ")
        ),
        fixed,
    );
}

fn limits_missing(inv: &Inventory, w: &Workload<'_>, c: &Container, sink: &mut Sink<'_>) {
    let ns = w.object.namespace();
    if limit(c, "memory").is_none() && !limit_range_default(inv, ns, "default", "memory") {
        sink.add(
            RuleId::MemoryLimitMissing,
            w.object,
            Some(&c.name),
            format!("container {} has no memory limit", c.name),
            None,
        );
    }
    if limit(c, "cpu").is_none() && !limit_range_default(inv, ns, "default", "cpu") {
        sink.add(
            RuleId::CpuLimitMissing,
            w.object,
            Some(&c.name),
            format!("container {} has no CPU limit", c.name),
            None,
        );
    }
}

/// Usage at or near a limit; `oom_killed` already has its own finding and fix.
fn near_limit(
    w: &Workload<'_>,
    c: &Container,
    (cpu, mem): (u64, u64),
    oom_killed: Option<&str>,
    sink: &mut Sink<'_>,
) {
    let mem_limit = limit(c, "memory").and_then(|q| quantity::bytes(&q));
    let cpu_limit = limit(c, "cpu").and_then(|q| quantity::millicores(&q));
    let near = |l: &u64| *l > 0 && mem * 10 >= l * 9;
    if let Some(l) = mem_limit
        .filter(near)
        .filter(|_| oom_killed != Some(c.name.as_str()))
    {
        let new = crate::sizing::memory_limit_after_oom(l, Some(mem));
        sink.add(
            RuleId::LimitBelowUsage,
            w.object,
            Some(&c.name),
            format!(
                "container {} uses {} of its {} memory limit ({}%)",
                c.name,
                quantity::human_bytes(mem),
                quantity::human_bytes(l),
                mem * 100 / l
            ),
            fix(
                format!(
                    "raise the memory limit of {} to {}",
                    c.name,
                    quantity::human_bytes(new)
                ),
                w.container_intent(
                    &c.name,
                    json!({"resources": {"limits": {"memory": quantity::human_bytes(new)}}}),
                ),
            ),
        );
    } else if let Some(l) = cpu_limit.filter(|l| *l > 0 && cpu >= *l) {
        sink.add(
            RuleId::LimitBelowUsage,
            w.object,
            Some(&c.name),
            format!(
                "container {} uses {cpu}m CPU, all of its {l}m limit: it is being throttled",
                c.name
            ),
            None,
        );
    }
}

/// Reports an OOM-killed container; returns its name.
fn oom(inv: &Inventory, w: &Workload<'_>, sink: &mut Sink<'_>) -> Option<String> {
    let ctx = inv.live.as_ref()?;
    let (container, limit, usage) = crate::analyze::pods::oom_facts(ctx, &w.object.oref, None)?;
    // The history counts the kills and sizes from the peak (oom-kills-seen).
    if inv.history(w, &container).is_some_and(|u| u.oom_kills > 0) {
        return Some(container);
    }
    let new = crate::sizing::memory_limit_after_oom(limit, usage);
    sink.add(
        RuleId::MemoryLimitOom,
        w.object,
        Some(&container),
        format!(
            "container {container} was OOM-killed at its {} memory limit",
            quantity::human_bytes(limit)
        ),
        fix(
            format!(
                "raise the memory limit of {container} from {} to {}",
                quantity::human_bytes(limit),
                quantity::human_bytes(new)
            ),
            w.container_intent(
                &container,
                json!({"resources": {"limits": {"memory": quantity::human_bytes(new)}}}),
            ),
        ),
    );
    Some(container)
}

/// Whether a LimitRange in the namespace gives containers a default for this resource.
fn limit_range_default(inv: &Inventory, namespace: &str, field: &str, resource: &str) -> bool {
    inv.of_kind("LimitRange")
        .filter(|l| l.namespace() == namespace)
        .flat_map(|l| {
            l.value
                .at("/spec/limits")
                .and_then(Tree::as_array)
                .unwrap_or_default()
        })
        .any(|item| {
            item.get("type").and_then(Tree::as_str) == Some("Container")
                && item.get(field).and_then(|d| d.get(resource)).is_some()
        })
}
