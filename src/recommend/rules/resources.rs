//! Requests and limits: missing, below what the container uses, or already OOM-killed.

use serde_json::{Value, json};

use super::{RuleId, Sink, containers, fix};
use crate::quantity;
use crate::recommend::inventory::{Inventory, Workload};

const MI: u64 = 1024 * 1024;

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
                        requests.insert("cpu".into(), json!(format!("{}m", suggest_cpu(cpu))));
                    }
                    if missing.contains(&"memory") {
                        requests.insert(
                            "memory".into(),
                            json!(quantity::human_bytes(suggest_memory(mem))),
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
                    let new = crate::analyze::pods::suggest_memory(l, Some(mem));
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
    let new = crate::analyze::pods::suggest_memory(limit, usage);
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
                .pointer("/spec/limits")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .any(|item| {
            item.get("type").and_then(Value::as_str) == Some("Container")
                && item.get(field).and_then(|d| d.get(resource)).is_some()
        })
}

/// Observed CPU plus 20%, in steps of 5m, at least 10m.
pub(super) fn suggest_cpu(millicores: u64) -> u64 {
    (millicores * 6 / 5).div_ceil(5).max(2) * 5
}

/// Observed memory plus 20%, rounded up to a whole Mi, at least 32Mi.
pub(super) fn suggest_memory(bytes: u64) -> u64 {
    ((bytes * 6 / 5).div_ceil(MI) * MI).max(32 * MI)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_keep_twenty_percent_headroom() {
        assert_eq!(suggest_cpu(100), 120);
        assert_eq!(suggest_cpu(0), 10);
        assert_eq!(suggest_memory(100 * MI), 120 * MI);
        assert_eq!(suggest_memory(MI), 32 * MI);
    }
}
