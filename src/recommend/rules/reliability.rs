//! Will it stay up: probes, replicas, disruption budgets, spreading, update strategy.

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

use super::{Draft, RuleId, Sink, containers, fix};
use crate::recommend::inventory::At;
use crate::recommend::inventory::{Inventory, Object, Workload};
use crate::recommend::tree::Tree;

pub(super) fn check(inv: &Inventory, workloads: &[Workload<'_>], sink: &mut Sink<'_>) {
    for w in workloads {
        probes(inv, w, sink);
        if w.object.kind() == "Pod" {
            sink.add(
                RuleId::BarePod,
                w.object,
                None,
                format!(
                    "pod {} has no controller: nothing recreates it when its node goes away",
                    w.object.oref.name
                ),
                None,
            );
        }
        if !w.long_running {
            continue;
        }
        if w.spec
            .priority_class_name
            .as_deref()
            .is_none_or(str::is_empty)
        {
            sink.add(
                RuleId::PriorityClassMissing,
                w.object,
                None,
                format!(
                    "{} {} sets no priorityClassName",
                    w.object.kind().to_lowercase(),
                    w.object.oref.name
                ),
                None,
            );
        }
        replicas(inv, w, sink);
        strategy(w, sink);
    }
    for pdb in inv.of_kind("PodDisruptionBudget") {
        let max = pdb.value.at("/spec/maxUnavailable");
        let min = pdb.value.at("/spec/minAvailable");
        let none = matches!(max, Some(v) if v == 0 || v == "0%" || v == "0")
            || matches!(min, Some(v) if v == "100%");
        if none {
            no_disruptions(pdb, "it allows 0 pods to be unavailable".into(), sink);
        }
    }
}

fn no_disruptions(pdb: &Object, why: String, sink: &mut Sink<'_>) {
    sink.add(
        RuleId::PdbNoDisruptions,
        pdb,
        None,
        format!(
            "poddisruptionbudget {}: {why}, so no node can be drained",
            pdb.oref.name
        ),
        fix(
            "allow one pod at a time to be evicted (maxUnavailable: 1)",
            pdb.intent(json!({"spec": {"maxUnavailable": 1, "minAvailable": null}})),
        ),
    );
}

fn probes(inv: &Inventory, w: &Workload<'_>, sink: &mut Sink<'_>) {
    let served = inv.services_for(w).next().is_some();
    let any_ports = containers(w).any(|c| c.ports.as_ref().is_some_and(|p| !p.is_empty()));
    for c in containers(w) {
        for (field, probe) in [
            ("livenessProbe", &c.liveness_probe),
            ("readinessProbe", &c.readiness_probe),
            ("startupProbe", &c.startup_probe),
        ] {
            if let Some(p) = probe {
                probe_port(w, c, field, p, sink);
            }
        }
        if !w.long_running {
            continue;
        }
        if c.liveness_probe.is_none() {
            sink.add(
                RuleId::LivenessProbeMissing,
                w.object,
                Some(&c.name),
                format!("container {} has no livenessProbe", c.name),
                None,
            );
        }
        let serves = c.ports.as_ref().is_some_and(|p| !p.is_empty()) || !any_ports;
        if served && serves && c.readiness_probe.is_none() {
            sink.add(
                RuleId::ReadinessProbeMissing,
                w.object,
                Some(&c.name),
                format!(
                    "container {} has no readinessProbe, but a Service sends it traffic",
                    c.name
                ),
                None,
            );
        }
        if let (Some(l), Some(r)) = (&c.liveness_probe, &c.readiness_probe)
            && l == r
        {
            sink.add(
                RuleId::ProbesIdentical,
                w.object,
                Some(&c.name),
                format!(
                    "container {} uses the same check for liveness and readiness",
                    c.name
                ),
                None,
            );
        }
    }
}

/// The port a probe targets, and the JSON field of its handler.
fn probe_target(p: &Probe) -> Option<(&'static str, &IntOrString)> {
    if let Some(h) = &p.http_get {
        return Some(("httpGet", &h.port));
    }
    if let Some(t) = &p.tcp_socket {
        return Some(("tcpSocket", &t.port));
    }
    None
}

fn probe_port(w: &Workload<'_>, c: &Container, field: &str, p: &Probe, sink: &mut Sink<'_>) {
    let Some((handler, port)) = probe_target(p) else {
        return;
    };
    let ports = c.ports.as_deref().unwrap_or_default();
    let declared = match port {
        // Ports are informational in Kubernetes; only a container that declares some can be
        // said to not declare this one.
        IntOrString::Int(n) => ports.is_empty() || ports.iter().any(|cp| cp.container_port == *n),
        IntOrString::String(name) => ports.iter().any(|cp| cp.name.as_deref() == Some(name)),
    };
    if declared {
        return;
    }
    let shown = match port {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => format!("{s:?}"),
    };
    let declared_list: Vec<String> = ports.iter().map(|p| p.container_port.to_string()).collect();
    let fixed = match ports {
        [only] => fix(
            format!(
                "point {field} of {} at port {}",
                c.name, only.container_port
            ),
            w.container_intent(
                &c.name,
                json!({ field: { handler: { "port": only.container_port } } }),
            ),
        ),
        _ => None,
    };
    sink.add(
        RuleId::ProbePortUndeclared,
        w.object,
        Some(&c.name),
        format!(
            "{field} of container {} targets port {shown}, but it declares {}",
            c.name,
            if declared_list.is_empty() {
                "no ports".to_string()
            } else {
                format!("only {}", declared_list.join(", "))
            }
        ),
        fixed,
    );
}

fn has_claims(w: &Workload<'_>) -> bool {
    w.spec
        .volumes
        .iter()
        .flatten()
        .any(|v| v.persistent_volume_claim.is_some())
}

/// How many pods a workload runs, as the replica rules read it.
struct Replicas {
    /// What it runs at least: the HPA's minReplicas when one targets it, else spec.replicas.
    effective: i32,
    /// What it may run: the HPA's maxReplicas when higher.
    most: i32,
    hpa: bool,
    /// spec.replicas is not written.
    unset: bool,
}

impl Replicas {
    fn of(inv: &Inventory, w: &Workload<'_>) -> Option<Replicas> {
        let declared = w.replicas?;
        let hpa_min = inv
            .hpas_for(w)
            .filter_map(|h| h.value.at("/spec/minReplicas").and_then(Tree::as_i64))
            .max();
        let hpa = inv.hpas_for(w).next().is_some();
        let effective = if hpa {
            hpa_min.unwrap_or(1) as i32
        } else {
            declared
        };
        // An HPA may scale up to its maxReplicas: disruption budgets and spreading matter as
        // soon as the workload can run two pods, whatever it starts with.
        let most = inv
            .hpas_for(w)
            .filter_map(|h| h.value.at("/spec/maxReplicas").and_then(Tree::as_i64))
            .max()
            .map_or(effective, |m| effective.max(m as i32));
        let unset = w.object.value.at("/spec/replicas").is_none();
        Some(Replicas {
            effective,
            most,
            hpa,
            unset,
        })
    }

    /// "3", or "up to 10" when an HPA may scale past what it starts with.
    fn shown(&self) -> String {
        if self.most > self.effective {
            format!("up to {}", self.most)
        } else {
            self.effective.to_string()
        }
    }
}

fn replicas(inv: &Inventory, w: &Workload<'_>, sink: &mut Sink<'_>) {
    let Some(n) = Replicas::of(inv, w) else {
        return;
    };
    single_replica(inv, w, &n, sink);
    pdb_above_replicas(inv, w, &n, sink);
    if n.most < 2 {
        return;
    }
    pdb_missing(inv, w, &n, sink);
    spread_missing(w, &n, sink);
}

fn single_replica(inv: &Inventory, w: &Workload<'_>, n: &Replicas, sink: &mut Sink<'_>) {
    if n.effective > 1 || inv.services_for(w).next().is_none() {
        return;
    }
    // A Deployment whose pods share a claim cannot simply be doubled.
    let fixed = (w.object.kind() == "Deployment" && !n.hpa && !has_claims(w))
        .then(|| {
            fix(
                "scale to 2 replicas",
                w.object.intent(json!({"spec": {"replicas": 2}})),
            )
        })
        .flatten();
    sink.add(
        RuleId::SingleReplica,
        w.object,
        None,
        format!(
            "{} {} runs {} replica{} behind a Service{}",
            w.object.kind().to_lowercase(),
            w.object.oref.name,
            n.effective,
            if n.effective == 1 { "" } else { "s" },
            if n.unset && !n.hpa {
                " (spec.replicas is not set, and no HPA targets it: the default is 1)"
            } else {
                ""
            }
        ),
        fixed,
    );
}

/// A budget whose minAvailable the workload can never exceed.
fn pdb_above_replicas(inv: &Inventory, w: &Workload<'_>, n: &Replicas, sink: &mut Sink<'_>) {
    for pdb in inv.selecting("PodDisruptionBudget", w) {
        if let Some(min) = pdb.value.at("/spec/minAvailable").and_then(Tree::as_i64)
            && min >= i64::from(n.effective)
        {
            let of = if n.hpa {
                "the HPA's minReplicas"
            } else {
                "its replicas"
            };
            no_disruptions(
                pdb,
                format!(
                    "minAvailable {min} is at or above {of} ({}) of {} {}",
                    n.effective,
                    w.object.kind().to_lowercase(),
                    w.object.oref.name
                ),
                sink,
            );
        }
    }
}

fn pdb_missing(inv: &Inventory, w: &Workload<'_>, n: &Replicas, sink: &mut Sink<'_>) {
    if !inv.knows("poddisruptionbudgets")
        || inv.selecting("PodDisruptionBudget", w).next().is_some()
    {
        return;
    }
    let selector = w
        .object
        .value
        .at("/spec/selector/matchLabels")
        .map_or_else(|| json!(w.labels), Tree::to_value);
    let pdb = json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": { "name": w.object.oref.name, "namespace": w.object.namespace() },
        "spec": { "maxUnavailable": 1, "selector": { "matchLabels": selector } },
    });
    sink.add(
        RuleId::PdbMissing,
        w.object,
        None,
        format!(
            "{} {} has {} replicas and no PodDisruptionBudget",
            w.object.kind().to_lowercase(),
            w.object.oref.name,
            n.shown()
        ),
        Some(Draft {
            summary: format!(
                "create PodDisruptionBudget {} with maxUnavailable 1",
                w.object.oref.name
            ),
            creates: true,
            patch: pdb,
        }),
    );
}

fn spread_missing(w: &Workload<'_>, n: &Replicas, sink: &mut Sink<'_>) {
    let anti_affinity = w
        .spec
        .affinity
        .as_ref()
        .is_some_and(|a| a.pod_anti_affinity.is_some());
    // A constraint counts only the pods its selector matches: one that matches none of these
    // spreads nothing.
    let constraints = w
        .spec
        .topology_spread_constraints
        .as_deref()
        .unwrap_or_default();
    let spread = constraints.iter().any(|t| {
        t.label_selector
            .as_ref()
            .is_some_and(|s| crate::selector::selects(s, &w.labels))
    });
    if anti_affinity || spread {
        return;
    }
    let why = if constraints.is_empty() {
        "nothing spreads them across nodes"
    } else {
        "its topologySpreadConstraints select none of its pods"
    };
    let constraint = json!([{
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": { "matchLabels": w.labels },
    }]);
    sink.add(
        RuleId::SpreadMissing,
        w.object,
        None,
        format!(
            "{} {} has {} replicas and {why}",
            w.object.kind().to_lowercase(),
            w.object.oref.name,
            n.shown()
        ),
        fix(
            "spread replicas across nodes (topologySpreadConstraints, ScheduleAnyway)",
            w.pod_intent(json!({ "topologySpreadConstraints": constraint })),
        ),
    );
}

/// maxUnavailable as a pod count for `replicas` (percentages round down, as Kubernetes does).
fn resolve(v: Option<&Tree>, replicas: i32, default_percent: i32) -> i32 {
    match v {
        Some(Tree::Number(n)) => n.as_i64().unwrap_or(0) as i32,
        Some(Tree::String(s)) if s.ends_with('%') => {
            let pct: i32 = s.trim_end_matches('%').parse().unwrap_or(default_percent);
            replicas * pct / 100
        }
        Some(Tree::String(s)) => s.parse().unwrap_or(0),
        _ => replicas * default_percent / 100,
    }
}

fn strategy(w: &Workload<'_>, sink: &mut Sink<'_>) {
    if w.object.kind() != "Deployment" {
        return;
    }
    let replicas = w.replicas_or_one();
    let strategy = w.object.value.at("/spec/strategy");
    let kind = strategy
        .and_then(|s| s.get("type"))
        .and_then(Tree::as_str)
        .unwrap_or("RollingUpdate");
    let message = if kind == "Recreate" {
        // Recreate is how a single pod hands a ReadWriteOnce claim to its successor.
        (!has_claims(w)).then(|| {
            format!(
                "deployment {} uses the Recreate strategy: every rollout stops all pods first",
                w.object.oref.name
            )
        })
    } else {
        let max_unavailable = resolve(
            strategy.and_then(|s| s.at("/rollingUpdate/maxUnavailable")),
            replicas,
            25,
        );
        (max_unavailable >= replicas).then(|| {
            format!(
                "deployment {}: maxUnavailable allows {max_unavailable} of {replicas} pods down during a rollout",
                w.object.oref.name
            )
        })
    };
    if let Some(message) = message {
        let patch = w.object.intent(json!({"spec": {"strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": { "maxUnavailable": 0, "maxSurge": 1 },
        }}}));
        sink.add(
            RuleId::RollingUpdateRisky,
            w.object,
            None,
            message,
            fix("roll out with maxUnavailable 0, maxSurge 1", patch),
        );
    }
}
