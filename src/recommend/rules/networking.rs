//! Traffic: pods no NetworkPolicy covers, Services that select nothing, Ingresses routing nowhere.

use std::collections::{BTreeMap, HashMap};

use super::{RuleId, Sink};
use crate::recommend::inventory::At;
use crate::recommend::inventory::{Inventory, Object, Workload, service_selector};
use crate::recommend::tree::Tree;

pub(super) fn check(inv: &Inventory, workloads: &[Workload<'_>], sink: &mut Sink<'_>) {
    if inv.knows("networkpolicies") {
        for w in workloads.iter().filter(|w| w.long_running) {
            let covered = inv.selecting("NetworkPolicy", w).any(governs_ingress);
            if !covered {
                sink.add(
                    RuleId::NetworkPolicyMissing,
                    w.object,
                    None,
                    format!(
                        "no NetworkPolicy selects the pods of {} {}: they accept traffic from anywhere",
                        w.object.kind().to_lowercase(),
                        w.object.oref.name
                    ),
                    None,
                );
            }
        }
    }
    // Pod templates by (namespace, label, value): a selector needs all its pairs, so only the
    // templates carrying its first pair can match.
    let mut by_label: HashMap<(&str, &str, &str), Vec<&Workload<'_>>> = HashMap::new();
    for w in workloads {
        for (k, v) in &w.labels {
            by_label
                .entry((w.object.namespace(), k, v))
                .or_default()
                .push(w);
        }
    }
    for svc in inv.of_kind("Service") {
        let selector = service_selector(svc);
        if selector.is_empty() {
            continue;
        }
        let matches =
            |labels: &BTreeMap<String, String>| crate::selector::pairs_hold(&selector, labels);
        // The fewest templates carrying one of its pairs are the only candidates.
        let candidates = selector
            .iter()
            .map(|(k, v)| {
                by_label
                    .get(&(svc.namespace(), k.as_str(), v.as_str()))
                    .map_or(&[][..], Vec::as_slice)
            })
            .min_by_key(|c| c.len())
            .unwrap_or_default();
        let by_template = candidates.iter().any(|w| matches(&w.labels));
        let by_pod = inv.live.as_ref().is_some_and(|ctx| {
            ctx.pods_matching(svc.namespace(), &selector)
                .next()
                .is_some()
        });
        if !by_template && !by_pod {
            let shown: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
            sink.add(
                RuleId::ServiceSelectsNothing,
                svc,
                None,
                format!(
                    "service {} selects {}, which matches no pod template{}",
                    svc.oref.name,
                    shown.join(","),
                    if inv.live.is_some() { " or pod" } else { "" }
                ),
                None,
            );
        }
    }
    if inv.knows("services") {
        for ing in inv.of_kind("Ingress") {
            ingress(inv, ing, sink);
        }
    }
    for ing in inv.of_kind("Ingress") {
        let tls = ing.value.at("/spec/tls").and_then(Tree::as_array);
        if tls.is_none_or(|t| t.is_empty()) {
            sink.add(
                RuleId::IngressTlsMissing,
                ing,
                None,
                format!(
                    "ingress {} has no tls section: it serves plain HTTP",
                    ing.oref.name
                ),
                None,
            );
        }
    }
}

/// A policy restricts ingress when its policyTypes say so, or name none (Ingress is implied).
fn governs_ingress(policy: &Object) -> bool {
    match policy
        .value
        .at("/spec/policyTypes")
        .and_then(Tree::as_array)
    {
        Some(types) => types.iter().any(|t| t.as_str() == Some("Ingress")),
        None => true,
    }
}

fn ingress(inv: &Inventory, ing: &Object, sink: &mut Sink<'_>) {
    let mut backends: Vec<&Tree> = Vec::new();
    if let Some(b) = ing.value.at("/spec/defaultBackend/service") {
        backends.push(b);
    }
    for rule in ing
        .value
        .at("/spec/rules")
        .and_then(Tree::as_array)
        .into_iter()
        .flatten()
    {
        for path in rule
            .at("/http/paths")
            .and_then(Tree::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(b) = path.at("/backend/service") {
                backends.push(b);
            }
        }
    }
    for b in backends {
        let Some(name) = b.get("name").and_then(Tree::as_str) else {
            continue;
        };
        let Some(svc) = inv.find("Service", ing.namespace(), name) else {
            sink.add(
                RuleId::IngressBackendMissing,
                ing,
                None,
                format!(
                    "ingress {} routes to service {name}, which does not exist",
                    ing.oref.name
                ),
                None,
            );
            continue;
        };
        let ports = svc
            .value
            .at("/spec/ports")
            .and_then(Tree::as_array)
            .unwrap_or_default();
        let (wanted, found) = if let Some(n) = b.at("/port/number").and_then(Tree::as_i64) {
            (
                n.to_string(),
                ports
                    .iter()
                    .any(|p| p.get("port").and_then(Tree::as_i64) == Some(n)),
            )
        } else if let Some(n) = b.at("/port/name").and_then(Tree::as_str) {
            (
                format!("{n:?}"),
                ports
                    .iter()
                    .any(|p| p.get("name").and_then(Tree::as_str) == Some(n)),
            )
        } else {
            continue;
        };
        if !found {
            sink.add(
                RuleId::IngressBackendMissing,
                ing,
                None,
                format!(
                    "ingress {} routes to port {wanted} of service {name}, which has no such port",
                    ing.oref.name
                ),
                None,
            );
        }
    }
}
