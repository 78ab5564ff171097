//! Traffic paths: Services that route to nothing, Ingresses that route to a missing Service or
//! that no controller will pick up.

use std::collections::BTreeMap;

use crate::context::Pod;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressSpec};

use super::{Finding, Remedy, Rule, Severity};
use crate::context::{Context, ObjectRef};

const DEFAULT_INGRESS_CLASS: &str = "ingressclass.kubernetes.io/is-default-class";

pub(super) fn analyze(ctx: &Context) -> Vec<Finding> {
    let mut out: Vec<Finding> = ctx
        .services
        .iter()
        .filter_map(|s| no_endpoints(ctx, s))
        .collect();
    for ing in &ctx.ingresses {
        out.extend(ingress(ctx, ing));
    }
    out
}

fn selector_text(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn no_endpoints(ctx: &Context, svc: &Service) -> Option<Finding> {
    let spec = svc.spec.as_ref()?;
    let selector = spec.selector.as_ref().filter(|s| !s.is_empty())?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    let object = ObjectRef::of("Service", &svc.metadata);
    let ns = object.namespace.clone().unwrap_or_default();
    let live: Vec<_> = ctx
        .pods_matching(&ns, selector)
        .filter(|p| {
            !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
        })
        .collect();
    if ready_addresses(ctx, svc, &live) > 0 {
        return None;
    }
    let sel = selector_text(selector);
    if live.is_empty() {
        let nearest = nearest_workloads(ctx, &ns, selector);
        let mut evidence = vec![
            format!("selector: {sel}"),
            "matching pods: none".to_string(),
        ];
        evidence.extend(nearest.iter().map(|(owner, labels)| {
            format!(
                "nearest: {owner} has pods labelled {}",
                selector_text(labels)
            )
        }));
        let fix = match nearest.first() {
            Some((owner, labels)) => format!(
                "Change the selector of Service {} to {} to route to {owner}, or relabel the pods you meant it to reach.",
                object.name,
                selector_text(labels)
            ),
            None => format!(
                "No pod in {ns} carries labels close to {sel}: deploy the workload this Service fronts, or fix its selector."
            ),
        };
        let remedies = object
            .namespace
            .is_some()
            .then(|| only_complete(&nearest, selector))
            .flatten()
            .map(Remedy::Selector)
            .into_iter()
            .collect();
        return Some(Finding {
            causes: Vec::new(),
            caused_by: None,
            remedies,
            rule: Rule::ServiceNoEndpoints,
            severity: Severity::Error,
            summary: format!(
                "service {} has no endpoints: its selector {sel} matches no pods",
                object.name
            ),
            object,
            evidence,
            fix,
            pods: vec![],
        });
    }
    let owners: Vec<String> = {
        let mut o: Vec<String> = live.iter().map(|p| ctx.owner_of(p).to_string()).collect();
        o.sort();
        o.dedup();
        o
    };
    Some(Finding {
        causes: Vec::new(),
        caused_by: None,
        remedies: Vec::new(),
        rule: Rule::ServiceNoReadyEndpoints,
        severity: Severity::Error,
        summary: format!(
            "service {} has no ready endpoints: none of the {} pods it selects is ready",
            object.name,
            live.len()
        ),
        evidence: vec![
            format!("selector: {sel}"),
            format!("selected pods belong to: {}", owners.join(", ")),
        ],
        fix: format!(
            "Make the pods of {} ready (see the findings about them); the Service routes to them as soon as they are.",
            owners.join(", ")
        ),
        object,
        pods: live
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect(),
    })
}

/// How many ready addresses a Service has: the endpoints controller's view when we have it, pod
/// readiness when the Endpoints object is unreadable or not written yet.
fn ready_addresses(ctx: &Context, svc: &Service, live: &[&Pod]) -> usize {
    let endpoints = ctx.endpoints.iter().find(|e| {
        e.metadata.namespace == svc.metadata.namespace && e.metadata.name == svc.metadata.name
    });
    match endpoints {
        Some(e) => e
            .subsets
            .iter()
            .flatten()
            .map(|s| s.addresses.as_ref().map_or(0, Vec::len))
            .sum::<usize>(),
        None => live.iter().filter(|p| pod_ready(p)).count(),
    }
}

/// Whether a Service with a selector routes to no ready pod: what its clients then fail on.
pub(crate) fn down(ctx: &Context, svc: &Service) -> bool {
    let Some(selector) = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
    else {
        return false;
    };
    let ns = svc.metadata.namespace.as_deref().unwrap_or_default();
    let live: Vec<&Pod> = ctx.pods_matching(ns, selector).collect();
    ready_addresses(ctx, svc, &live) == 0
}

/// For a Service that selects no pods, from the workloads nearest its selector: the selector
/// that would route to the one workload whose labels carry every key of it, when exactly one does.
fn only_complete(
    nearest: &[(ObjectRef, BTreeMap<String, String>)],
    selector: &BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    let complete: Vec<_> = nearest
        .iter()
        .filter(|(_, labels)| selector.keys().all(|k| labels.contains_key(k)))
        .collect();
    match complete.as_slice() {
        [(_, labels)] => Some(labels.clone()),
        _ => None,
    }
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Workloads in the namespace whose pod labels come closest to a selector, with their labels
/// for the selector's keys (or, when they lack those keys, the labels they have).
fn nearest_workloads(
    ctx: &Context,
    ns: &str,
    selector: &BTreeMap<String, String>,
) -> Vec<(ObjectRef, BTreeMap<String, String>)> {
    let mut best: BTreeMap<ObjectRef, (usize, BTreeMap<String, String>)> = BTreeMap::new();
    for pod in ctx
        .pods
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(ns))
    {
        let Some(labels) = pod.metadata.labels.as_ref() else {
            continue;
        };
        let same_keys = selector.keys().filter(|k| labels.contains_key(*k)).count();
        let same_pairs = selector
            .iter()
            .filter(|(k, v)| labels.get(*k) == Some(v))
            .count();
        let value_close = selector.iter().any(|(k, v)| {
            labels
                .get(k)
                .is_some_and(|l| l.contains(v.as_str()) || v.contains(l.as_str()))
        });
        // Sharing only a key (`app`) with unrelated values is no evidence of the pods meant, and a
        // Job's pods are a Service's clients, not what it fronts.
        let owner = ctx.owner_of(pod);
        if same_pairs == 0 && !value_close || owner.kind.ends_with("Job") {
            continue;
        }
        let score = same_pairs * 4 + same_keys * 2 + usize::from(value_close);
        let shown: BTreeMap<String, String> = selector
            .keys()
            .filter_map(|k| Some((k.clone(), labels.get(k)?.clone())))
            .collect();
        let shown = if shown.is_empty() {
            labels.clone()
        } else {
            shown
        };
        let entry = best.entry(owner).or_insert((0, shown.clone()));
        if score > entry.0 {
            *entry = (score, shown);
        }
    }
    let mut ranked: Vec<_> = best.into_iter().collect();
    ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
    ranked
        .into_iter()
        .take(3)
        .map(|(o, (_, l))| (o, l))
        .collect()
}

fn ingress(ctx: &Context, ing: &Ingress) -> Vec<Finding> {
    let object = ObjectRef::of("Ingress", &ing.metadata);
    let Some(spec) = ing.spec.as_ref() else {
        return Vec::new();
    };
    let ns = object.namespace.clone().unwrap_or_default();
    let problems: Vec<String> = backends(spec)
        .into_iter()
        .filter_map(|(route, backend)| missing_backend(ctx, &ns, &route, backend))
        .collect();
    let mut out = Vec::new();
    if !problems.is_empty() {
        out.push(Finding {
            causes: Vec::new(),
            caused_by: None,
            remedies: Vec::new(),
            rule: Rule::IngressBackend,
            severity: Severity::Error,
            object: object.clone(),
            summary: format!("ingress {} routes to a backend that does not exist", object.name),
            fix: format!("Point the ingress rules at an existing Service and port in {ns} (`kubectl get svc -n {ns}`), or create the missing Service."),
            evidence: problems,
            pods: vec![],
        });
    }
    out.extend(class_problem(ctx, ing, spec, object));
    out
}

/// Every route of an Ingress and the backend it sends to: its default backend, then each
/// host and path of its rules.
fn backends(spec: &IngressSpec) -> Vec<(String, &IngressBackend)> {
    let mut backends: Vec<(String, &IngressBackend)> = Vec::new();
    if let Some(b) = &spec.default_backend {
        backends.push(("defaultBackend".into(), b));
    }
    for rule in spec.rules.iter().flatten() {
        for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
            let host = rule.host.as_deref().unwrap_or("*");
            backends.push((
                format!("{host}{}", path.path.as_deref().unwrap_or("/")),
                &path.backend,
            ));
        }
    }
    backends
}

/// What is wrong with one route's backend, if anything: a Service that does not exist, or a port
/// the Service does not have.
fn missing_backend(
    ctx: &Context,
    ns: &str,
    route: &str,
    backend: &IngressBackend,
) -> Option<String> {
    let svc_ref = backend.service.as_ref()?;
    let Some(svc) = ctx.services.iter().find(|s| {
        s.metadata.namespace.as_deref() == Some(ns)
            && s.metadata.name.as_deref() == Some(svc_ref.name.as_str())
    }) else {
        return Some(format!(
            "{route} -> service {} (does not exist)",
            svc_ref.name
        ));
    };
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default();
    let port = svc_ref.port.as_ref();
    let found = port.is_none_or(|p| {
        ports.iter().any(|sp| match (&p.number, &p.name) {
            (Some(n), _) => sp.port == *n,
            (None, Some(name)) => sp.name.as_deref() == Some(name.as_str()),
            _ => true,
        })
    });
    if found {
        return None;
    }
    let wanted = port
        .and_then(|p| p.number.map(|n| n.to_string()).or(p.name.clone()))
        .unwrap_or_default();
    let have: Vec<String> = ports.iter().map(|p| p.port.to_string()).collect();
    Some(format!(
        "{route} -> service {} port {wanted} (the Service has ports: {})",
        svc_ref.name,
        have.join(", ")
    ))
}

/// An Ingress no controller will serve: no class and no default one, or a class that does not
/// exist (said only when the cluster's IngressClasses could be read).
fn class_problem(
    ctx: &Context,
    ing: &Ingress,
    spec: &IngressSpec,
    object: ObjectRef,
) -> Option<Finding> {
    let annotated = ing
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubernetes.io/ingress.class"))
        .cloned();
    let known = ctx.has(&crate::cluster::kinds::INGRESS_CLASSES);
    let classes: Vec<&str> = ctx
        .ingress_classes
        .iter()
        .filter_map(|c| c.metadata.name.as_deref())
        .collect();
    let default_class = ctx.ingress_classes.iter().find(|c| {
        c.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DEFAULT_INGRESS_CLASS))
            .is_some_and(|v| v == "true")
    });
    let listed = || {
        format!(
            "IngressClasses in the cluster: {}",
            if classes.is_empty() {
                "none".into()
            } else {
                classes.join(", ")
            }
        )
    };
    let one_of = || {
        format!(
            "Set spec.ingressClassName to one of: {}.",
            classes.join(", ")
        )
    };
    let (severity, summary, evidence, fix) = match (
        spec.ingress_class_name.as_ref().or(annotated.as_ref()),
        known,
    ) {
        (None, true) if default_class.is_none() => (
            Severity::Warning,
            format!(
                "ingress {} has no ingress class and the cluster has no default one: no controller serves it",
                object.name
            ),
            vec!["spec.ingressClassName: (not set)".into(), listed()],
            if classes.is_empty() {
                "Install an ingress controller (minikube: `minikube addons enable ingress`) and set spec.ingressClassName to its class.".into()
            } else {
                one_of()
            },
        ),
        (None, false) => (
            Severity::Warning,
            format!(
                "ingress {} names no ingress class: it is served only if the cluster has a default IngressClass",
                object.name
            ),
            vec!["spec.ingressClassName: (not set)".into()],
            "Set spec.ingressClassName to your controller's class (`kubectl get ingressclass`)."
                .into(),
        ),
        (Some(name), true) if !classes.contains(&name.as_str()) => (
            Severity::Error,
            format!(
                "ingress {} asks for ingress class {name:?}, which does not exist",
                object.name
            ),
            vec![format!("spec.ingressClassName: {name}"), listed()],
            if classes.is_empty() {
                "Install an ingress controller (minikube: `minikube addons enable ingress`).".into()
            } else {
                one_of()
            },
        ),
        _ => return None,
    };
    Some(Finding {
        causes: Vec::new(),
        caused_by: None,
        remedies: Vec::new(),
        rule: Rule::IngressClass,
        severity,
        object,
        summary,
        evidence,
        fix,
        pods: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_selector_is_suggested_only_when_one_workload_carries_all_its_keys() {
        let selector = labels(&[("app", "todo-api"), ("tier", "backend")]);
        let api = ObjectRef::new("Deployment", Some("shop"), "todo-backend");
        let web = ObjectRef::new("Deployment", Some("shop"), "todo-web");
        let complete = labels(&[("app", "todo-backend"), ("tier", "backend")]);
        let partial = (web.clone(), labels(&[("app", "todo-web")]));
        assert_eq!(
            only_complete(
                &[(api.clone(), complete.clone()), partial.clone()],
                &selector
            ),
            Some(complete.clone())
        );
        let other = (web, labels(&[("app", "todo-web"), ("tier", "backend")]));
        assert_eq!(
            only_complete(&[(api, complete), other], &selector),
            None,
            "two candidates: no certain fix"
        );
        assert_eq!(only_complete(&[partial], &selector), None);
    }
}
