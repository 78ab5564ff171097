//! Requests and limits: missing, below what the container uses, or already OOM-killed.

use serde_json::{Value, json};

use super::{RuleId, Sink, containers, fix};
use crate::quantity;
use crate::recommend::inventory::At;
use crate::recommend::inventory::{Inventory, Workload};
use crate::sizing::{cpu_for_usage, memory_for_usage};

pub(super) fn check(inv: &Inventory, workloads: &[Workload<'_>], sink: &mut Sink<'_>) {
    for w in workloads {
        let oom_killed = oom(inv, w, sink);
        for c in containers(w) {
            let resources = c.resources.as_ref();
            let request = |r: &str| {
                resources
                    .and_then(|res| res.requests.as_ref())
                    .and_then(|m| m.get(r))
                    .map(|q| q.0.clone())
            };
            let limit = |r: &str| {
                resources
                    .and_then(|res| res.limits.as_ref())
                    .and_then(|m| m.get(r))
                    .map(|q| q.0.clone())
            };
            let ns = w.object.namespace();
            // Kubernetes fills a request from its limit, or from the namespace's LimitRange.
            let missing: Vec<&str> = ["cpu", "memory"]
                .into_iter()
                .filter(|r| {
                    request(r).is_none()
                        && limit(r).is_none()
                        && !limit_range_default(inv, ns, "defaultRequest", r)
                })
                .collect();
            let usage = inv.usage(w, &c.name);
            if !missing.is_empty() {
                // With a history, rules::history proposes the requests from it.
                let sample = usage.filter(|_| inv.history(w, &c.name).is_none());
                let fixed = sample.map(|(cpu, mem)| {
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
                    fixed.flatten(),
                );
            }
            if limit("memory").is_none() && !limit_range_default(inv, ns, "default", "memory") {
                sink.add(
                    RuleId::MemoryLimitMissing,
                    w.object,
                    Some(&c.name),
                    format!("container {} has no memory limit", c.name),
                    None,
                );
            }
            if limit("cpu").is_none() && !limit_range_default(inv, ns, "default", "cpu") {
                sink.add(
                    RuleId::CpuLimitMissing,
                    w.object,
                    Some(&c.name),
                    format!("container {} has no CPU limit", c.name),
                    None,
                );
            }
            if let Some((cpu, mem)) = usage.filter(|_| inv.history(w, &c.name).is_none()) {
                let mem_limit = limit("memory").and_then(|q| quantity::bytes(&q));
                let cpu_limit = limit("cpu").and_then(|q| quantity::millicores(&q));
                // An OOM kill already says the memory limit is too low, with its own fix.
                let near = |l: &u64| *l > 0 && mem * 10 >= l * 9;
                if let Some(l) = mem_limit
                    .filter(near)
                    .filter(|_| oom_killed.as_deref() != Some(&c.name))
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
                            format!("raise the memory limit of {} to {}", c.name, quantity::human_bytes(new)),
                            w.container_intent(&c.name, json!({"resources": {"limits": {"memory": quantity::human_bytes(new)}}})),
                        ),
                    );
                } else if let Some(l) = cpu_limit.filter(|l| *l > 0 && cpu >= *l) {
                    sink.add(
                        RuleId::LimitBelowUsage,
                        w.object,
                        Some(&c.name),
                        format!("container {} uses {cpu}m CPU, all of its {l}m limit: it is being throttled", c.name),
                        None,
                    );
                }
            }
        }
    }
}

/// Reports an OOM-killed container; returns its name.
fn oom(inv: &Inventory, w: &Workload<'_>, sink: &mut Sink<'_>) -> Option<String> {
    let ctx = inv.live.as_ref()?;
    let (container, limit, usage) = crate::analyze::pods::oom_facts(ctx, &w.object.oref)?;
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
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .any(|item| {
            item.get("type").and_then(Value::as_str) == Some("Container")
                && item.get(field).and_then(|d| d.get(resource)).is_some()
        })
}
