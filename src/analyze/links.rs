//! Root cause first: links findings across objects by the facts that connect them, and folds
//! each consequence into the finding it follows from.
//!
//! The links an operator would draw:
//! - a node condition -> its `node.kubernetes.io/*` taint -> the pods it keeps unscheduled, and
//!   the pods the kubelet evicted for it;
//! - an unbound claim -> the pods that mount it (and what they cause);
//! - a missing ConfigMap or Secret (or key) -> the pods the kubelet cannot create or mount for it;
//! - a workload whose pods are down -> the Services selecting them -> the workloads whose
//!   settings or failing log lines name those Services.
//!
//! Each consequence gets one cause (the first link found, in that order of certainty), chains
//! stay chains (claim -> database -> backend), and a root keeps the consequences in
//! [`Finding::causes`] instead of leaving them as separate findings. A link that rests only on a
//! host name in a log line is a guess: the consequence then stays a finding of its own and names
//! its probable cause in [`Finding::caused_by`].

use std::collections::BTreeSet;

use crate::context::Pod;
use k8s_openapi::api::core::v1::Service;

use super::{
    Consequence, Finding, FindingId, GuessedCause, Rule, hosts, nodes, pod_name, pods, scheduling,
};
use crate::context::{Context, ObjectRef};

/// One cause -> effect link between two findings (indexes into the list).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Link {
    pub cause: usize,
    pub effect: usize,
    pub via: String,
    pub guessed: bool,
}

/// Rules whose findings can be the effect of an unreachable dependency.
const DEPENDENT_RULES: &[Rule] = &[
    Rule::CrashLoop,
    Rule::InitContainer,
    Rule::LivenessRestarts,
    Rule::ReadinessFailing,
    Rule::JobFailed,
    Rule::LogErrors,
];

pub(crate) fn fold(ctx: &Context, findings: &mut Vec<Finding>) {
    let mut links = node_links(ctx, findings);
    links.extend(claim_links(ctx, findings));
    links.extend(config_links(findings));
    // A link guessed from a host name is said on the consequence, which stays a finding of its
    // own: folding it away on a guess could hide the real problem.
    let (guessed, certain): (Vec<Link>, Vec<Link>) = service_links(ctx, findings)
        .into_iter()
        .chain(links)
        .partition(|l| l.guessed);
    for link in guessed {
        if findings[link.effect].caused_by.is_none() {
            let cause = &findings[link.cause];
            findings[link.effect].caused_by = Some(GuessedCause {
                rule: cause.rule,
                object: cause.object.clone(),
                via: link.via,
                guessed: true,
            });
        }
    }
    let parents = choose_parents(findings.len(), certain);
    let roots: Vec<usize> = (0..findings.len())
        .filter(|i| parents[*i].is_none())
        .collect();
    let mut folded: Vec<Finding> = Vec::with_capacity(roots.len());
    for root in roots {
        let mut finding = findings[root].clone();
        let mut queue = vec![root];
        while let Some(at) = queue.pop() {
            for (child, link) in parents.iter().enumerate() {
                let Some(link) = link.as_ref().filter(|l| l.cause == at) else {
                    continue;
                };
                let effect = &findings[child];
                finding.severity = finding.severity.max(effect.severity);
                finding.causes.push(Consequence {
                    rule: effect.rule,
                    severity: effect.severity,
                    object: effect.object.clone(),
                    summary: effect.summary.clone(),
                    pods: effect.pods.clone(),
                    evidence: effect.evidence.clone(),
                    caused_by: FindingId {
                        rule: findings[at].rule,
                        object: findings[at].object.clone(),
                    },
                    via: link.via.clone(),
                });
                queue.push(child);
            }
        }
        folded.push(finding);
    }
    *findings = folded;
}

/// One cause per effect, the first offered, skipping links that would close a cycle.
fn choose_parents(n: usize, links: Vec<Link>) -> Vec<Option<Link>> {
    let mut parents: Vec<Option<Link>> = vec![None; n];
    for link in links {
        if link.cause == link.effect || parents[link.effect].is_some() {
            continue;
        }
        let mut at = link.cause;
        let mut cycle = false;
        while let Some(up) = &parents[at] {
            if up.cause == link.effect {
                cycle = true;
                break;
            }
            at = up.cause;
        }
        if !cycle {
            let effect = link.effect;
            parents[effect] = Some(link);
        }
    }
    parents
}

fn pods_named<'a>(ctx: &'a Context, ns: Option<&str>, names: &[String]) -> Vec<&'a Pod> {
    ctx.pods
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == ns && names.iter().any(|n| n == pod_name(p)))
        .collect()
}

/// Node condition -> taint -> unschedulable pods; node pressure -> evicted pods.
fn node_links(ctx: &Context, findings: &[Finding]) -> Vec<Link> {
    let mut out = Vec::new();
    for (cause, node) in findings.iter().enumerate() {
        if node.object.kind != "Node" {
            continue;
        }
        let taints = node_taints(ctx, &node.object.name);
        for (effect, f) in findings.iter().enumerate() {
            let pods = pods_named(ctx, f.object.namespace.as_deref(), &f.pods);
            if f.rule == Rule::Unschedulable {
                let message = pods
                    .iter()
                    .filter_map(|p| scheduling::scheduler_message(ctx, p))
                    .collect::<Vec<_>>()
                    .join("\n");
                if let Some(t) = taints.iter().find(|t| message.contains(t.as_str())) {
                    out.push(Link {
                        cause,
                        effect,
                        via: format!(
                            "node {} carries the taint {t}, which keeps the pods off it",
                            node.object.name
                        ),
                        guessed: false,
                    });
                }
            } else if f.rule == Rule::Evicted && node.rule == Rule::NodePressure {
                let here = pods.iter().any(|p| {
                    p.spec.as_ref().and_then(|s| s.node_name.as_deref())
                        == Some(node.object.name.as_str())
                });
                if here {
                    out.push(Link {
                        cause,
                        effect,
                        via: format!("the kubelet of node {} evicted them", node.object.name),
                        guessed: false,
                    });
                }
            }
        }
    }
    out
}

/// The `node.kubernetes.io/*` taints that a node's bad conditions put on it, plus those it has.
fn node_taints(ctx: &Context, name: &str) -> Vec<String> {
    let Some(node) = ctx
        .nodes
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(name))
    else {
        return vec![];
    };
    let conditions = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let mut out: BTreeSet<String> = node
        .spec
        .iter()
        .flat_map(|s| s.taints.iter().flatten())
        .map(|t| t.key.clone())
        .filter(|k| k.starts_with("node.kubernetes.io/"))
        .collect();
    for c in conditions {
        if c.type_ == "Ready" && c.status != "True" {
            out.insert(nodes::NOT_READY_TAINTS[usize::from(c.status == "Unknown")].to_string());
        }
        if let Some(cond) = nodes::CONDITIONS
            .iter()
            .find(|k| k.kind == c.type_ && c.status == "True")
        {
            out.insert(cond.taint.to_string());
        }
    }
    out.into_iter().collect()
}

/// Unbound claim -> the findings of the pods that mount it.
fn claim_links(ctx: &Context, findings: &[Finding]) -> Vec<Link> {
    let mut out = Vec::new();
    for (cause, claim) in findings.iter().enumerate() {
        if claim.rule != Rule::PvcUnbound {
            continue;
        }
        let mounting = pods_named(ctx, claim.object.namespace.as_deref(), &claim.pods);
        let owners: BTreeSet<ObjectRef> = mounting.iter().map(|p| ctx.owner_of(p)).collect();
        for (effect, f) in findings.iter().enumerate() {
            if effect != cause
                && (owners.contains(&f.object) || f.pods.iter().any(|p| claim.pods.contains(p)))
            {
                out.push(Link {
                    cause,
                    effect,
                    via: format!(
                        "its pods mount claim {}, which is unbound",
                        claim.object.name
                    ),
                    guessed: false,
                });
            }
        }
    }
    out
}

/// Missing ConfigMap/Secret (or key) -> the findings of the pods the kubelet reports it on.
fn config_links(findings: &[Finding]) -> Vec<Link> {
    let mut out = Vec::new();
    for (cause, root) in findings.iter().enumerate() {
        let what = match root.rule {
            Rule::ConfigMissing => "which does not exist",
            Rule::ConfigKeyMissing => "which lacks the key it reads",
            _ => continue,
        };
        for (effect, f) in findings.iter().enumerate() {
            let blocked = matches!(f.rule, Rule::ContainerConfig | Rule::VolumeMount)
                && f.object.namespace == root.object.namespace
                && f.pods.iter().any(|p| root.pods.contains(p));
            if blocked {
                out.push(Link {
                    cause,
                    effect,
                    via: format!(
                        "its pods need {} {}, {what}",
                        root.object.kind, root.object.name
                    ),
                    guessed: false,
                });
            }
        }
    }
    out
}

/// A Service with no ready endpoints -> the findings of workloads that name it in their settings
/// (env values) or in their failing log lines.
fn service_links(ctx: &Context, findings: &[Finding]) -> Vec<Link> {
    let mut out = Vec::new();
    for (effect, f) in findings.iter().enumerate() {
        if !DEPENDENT_RULES.contains(&f.rule) {
            continue;
        }
        let Some(ns) = f.object.namespace.as_deref() else {
            continue;
        };
        let pods = pods_named(ctx, Some(ns), &f.pods);
        for (svc, via, guessed) in named_services(ctx, ns, &pods) {
            let Some(selector) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
                continue;
            };
            let selected: Vec<&Pod> = ctx.pods_matching(ns, selector).collect();
            let svc_ref = ObjectRef::of("Service", &svc.metadata);
            // Its own Service is down because it is: not a cause.
            if selected
                .iter()
                .any(|p| pods.iter().any(|q| pod_name(p) == pod_name(q)))
                || !super::services::down(ctx, svc)
            {
                continue;
            }
            let owners: BTreeSet<ObjectRef> = selected.iter().map(|p| ctx.owner_of(p)).collect();
            let names: BTreeSet<&str> = selected.iter().map(|p| pod_name(p)).collect();
            let cause = findings.iter().position(|c| {
                c.object == svc_ref
                    || owners.contains(&c.object)
                    || c.pods.iter().any(|p| names.contains(p.as_str()))
            });
            if let Some(cause) = cause.filter(|c| *c != effect) {
                out.push(Link {
                    cause,
                    effect,
                    via: format!("{via}; Service {} has no ready endpoints", svc_ref.name),
                    guessed,
                });
            }
        }
    }
    out
}

/// The Services that a workload's pods name: in env values (a reference) or in the log lines
/// where they fail to connect (a guess from the name).
fn named_services<'a>(
    ctx: &'a Context,
    ns: &str,
    pods: &[&Pod],
) -> Vec<(&'a Service, String, bool)> {
    let mut out: Vec<(&Service, String, bool)> = Vec::new();
    let mut seen = BTreeSet::new();
    for pod in pods {
        for c in pod
            .spec
            .iter()
            .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
        {
            for e in c.env.iter().flatten() {
                for t in e.value.as_deref().map(hosts::tokens).into_iter().flatten() {
                    if let Some(svc) = hosts::service_for(ctx, ns, t)
                        && seen.insert(svc.metadata.name.clone())
                    {
                        out.push((
                            svc,
                            format!("env {} of container {} names it", e.name, c.name),
                            false,
                        ));
                    }
                }
            }
            for (_, line) in pods::log_lines(ctx, pod, &c.name) {
                if !hosts::is_connection_error(&line) {
                    continue;
                }
                for t in hosts::tokens(&line) {
                    if let Some(svc) = hosts::service_for(ctx, ns, t)
                        && seen.insert(svc.metadata.name.clone())
                    {
                        // An address that is the Service's ClusterIP is a fact, a name a guess.
                        let by_ip =
                            svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some(t);
                        let what = if by_ip { "address" } else { "host" };
                        out.push((svc, format!("its log fails to reach {what} {t}"), !by_ip));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(cause: usize, effect: usize) -> Link {
        Link {
            cause,
            effect,
            via: String::new(),
            guessed: false,
        }
    }

    #[test]
    fn one_parent_each_and_no_cycles() {
        let parents = choose_parents(3, vec![link(0, 1), link(2, 1), link(1, 2), link(2, 0)]);
        assert_eq!(parents[1].as_ref().map(|l| l.cause), Some(0));
        assert_eq!(parents[2].as_ref().map(|l| l.cause), Some(1));
        // 2 -> 0 would close 0 -> 1 -> 2 -> 0.
        assert!(parents[0].is_none());
    }
}
