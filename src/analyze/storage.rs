//! PersistentVolumeClaims that stay Pending, and why: no StorageClass, a missing one, or a
//! provisioner that failed.

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass;

use super::{Finding, Rule, Severity};
use crate::context::{Context, ObjectRef};

const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";

pub(super) fn analyze(ctx: &Context) -> Vec<Finding> {
    ctx.pvcs
        .iter()
        .filter_map(|pvc| unbound(ctx, pvc))
        .collect()
}

fn unbound(ctx: &Context, pvc: &PersistentVolumeClaim) -> Option<Finding> {
    if pvc.status.as_ref()?.phase.as_deref() != Some("Pending") {
        return None;
    }
    let object = ObjectRef::of("PersistentVolumeClaim", &pvc.metadata);
    let ns = object.namespace.clone().unwrap_or_default();
    let class = pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone());
    let classes = Classes::of(ctx);
    let consumers = consumers(ctx, &ns, pvc);
    let effective = class
        .clone()
        .or_else(|| classes.default.and_then(|d| d.metadata.name.clone()));
    let sc = effective.as_deref().and_then(|n| {
        ctx.storage_classes
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(n))
    });
    // WaitForFirstConsumer binds only once a pod uses the claim: Pending without a consumer is
    // normal, not a problem.
    if sc.is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"))
        && consumers.is_empty()
    {
        return None;
    }
    let events: Vec<String> = ctx
        .events_for("PersistentVolumeClaim", Some(&ns), &object.name)
        .filter_map(|e| {
            Some(format!(
                "event {}: {}",
                e.reason.as_deref()?,
                e.message.as_deref()?
            ))
        })
        .take(3)
        .collect();
    let evidence = evidence(class.as_deref(), &classes, &events, &consumers);
    let (summary, fix) = diagnosis(&object.name, class.as_deref(), &classes, &events);
    Some(Finding {
        causes: Vec::new(),
        caused_by: None,
        remedies: Vec::new(),
        rule: Rule::PvcUnbound,
        severity: Severity::Error,
        object,
        summary,
        evidence,
        fix,
        pods: consumers,
    })
}

/// The cluster's StorageClasses, as far as they could be read.
struct Classes<'a> {
    /// Whether StorageClasses were read at all (a namespaced account may not list them).
    known: bool,
    names: Vec<&'a str>,
    default: Option<&'a StorageClass>,
}

impl<'a> Classes<'a> {
    fn of(ctx: &'a Context) -> Self {
        Classes {
            known: ctx.has(&crate::cluster::kinds::STORAGE_CLASSES),
            names: ctx
                .storage_classes
                .iter()
                .filter_map(|c| c.metadata.name.as_deref())
                .collect(),
            default: ctx.storage_classes.iter().find(|c| {
                c.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(DEFAULT_CLASS))
                    .is_some_and(|v| v == "true")
            }),
        }
    }
}

/// The pods in the claim's namespace that mount it.
fn consumers(ctx: &Context, ns: &str, pvc: &PersistentVolumeClaim) -> Vec<String> {
    ctx.pods
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(ns))
        .filter(|p| {
            p.spec
                .iter()
                .flat_map(|s| s.volumes.iter().flatten())
                .any(|v| {
                    v.persistent_volume_claim
                        .as_ref()
                        .is_some_and(|c| Some(&c.claim_name) == pvc.metadata.name.as_ref())
                })
        })
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

fn evidence(
    class: Option<&str>,
    classes: &Classes,
    events: &[String],
    consumers: &[String],
) -> Vec<String> {
    let mut evidence = vec![format!(
        "phase: Pending, storageClassName: {}",
        match class {
            None => "(not set)".to_string(),
            Some("") => "\"\" (static binding only)".to_string(),
            Some(c) => c.to_string(),
        }
    )];
    if classes.known {
        evidence.push(format!(
            "StorageClasses in the cluster: {}{}",
            if classes.names.is_empty() {
                "none".into()
            } else {
                classes.names.join(", ")
            },
            classes
                .default
                .and_then(|d| d.metadata.name.as_deref())
                .map(|d| format!(" (default: {d})"))
                .unwrap_or_else(|| " (no default)".into())
        ));
    }
    evidence.extend(events.iter().cloned());
    if !consumers.is_empty() {
        evidence.push(format!("waiting pods: {}", consumers.join(", ")));
    }
    evidence
}

/// Why the claim stays unbound, and the fix: no class and no default, a class that does not
/// exist, static binding with no volume, a failed provisioner, or a provisioner not done yet.
fn diagnosis(
    name: &str,
    class: Option<&str>,
    classes: &Classes,
    events: &[String],
) -> (String, String) {
    let choices = if classes.names.is_empty() {
        "none exist".to_string()
    } else {
        classes.names.join(", ")
    };
    match (class, classes.known) {
        (None, true) if classes.default.is_none() => (
            format!("PVC {name} is unbound: it names no StorageClass and the cluster has no default one"),
            format!("Set spec.storageClassName to an existing class ({choices}) or mark one as default (`kubectl patch storageclass NAME -p '{{\"metadata\":{{\"annotations\":{{\"{DEFAULT_CLASS}\":\"true\"}}}}}}'`); on minikube: `minikube addons enable default-storageclass storage-provisioner`."),
        ),
        (Some(c), true) if !c.is_empty() && !classes.names.contains(&c) => (
            format!("PVC {name} is unbound: StorageClass {c:?} does not exist"),
            format!("Use an existing StorageClass ({choices}); storageClassName cannot be changed on an existing claim, so recreate the PVC (or the StatefulSet's volumeClaimTemplates)."),
        ),
        (Some(""), _) => (
            format!("PVC {name} is unbound: it asks for a pre-created PersistentVolume and none matches"),
            "Create a PersistentVolume matching the claim's size and access modes, or set storageClassName so one is provisioned.".to_string(),
        ),
        _ if events.iter().any(|e| e.contains("ProvisioningFailed")) => (
            format!("PVC {name} is unbound: its volume could not be provisioned"),
            "Fix what the provisioner reports above (quota, zone, parameters of the StorageClass), then the claim binds on the next retry.".to_string(),
        ),
        _ => (
            format!("PVC {name} is unbound: no volume has been provisioned for it yet"),
            "Check that the StorageClass's provisioner is running (`kubectl get pods -A | grep -i provisioner`) and read `kubectl describe pvc` for its progress.".to_string(),
        ),
    }
}
