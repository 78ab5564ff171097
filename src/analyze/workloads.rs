//! Controllers that report they are not delivering: Deployments unavailable or stuck in a
//! rollout, StatefulSets and DaemonSets short of ready pods, Jobs that gave up.
//!
//! Most of these are symptoms of a pod-level cause; `analyze::SYMPTOMS` folds them into that
//! finding when it exists, so they stand alone only when nothing more specific explains them.

use std::collections::BTreeMap;

use crate::context::Pod;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};

use super::{Finding, Rule, Severity};
use crate::context::{Context, ObjectRef};

pub(super) fn analyze(ctx: &Context) -> Vec<Finding> {
    let mut out: Vec<Finding> = ctx.deployments.iter().flat_map(deployment).collect();
    out.extend(
        ctx.deployments
            .iter()
            .filter_map(|d| replica_failure(ctx, d)),
    );
    out.extend(ctx.stateful_sets.iter().flat_map(stateful_set));
    out.extend(ctx.daemon_sets.iter().flat_map(daemon_set));
    out.extend(failed_jobs(ctx));
    out
}

/// A Deployment's own conditions: a rollout past its progress deadline, and too few replicas
/// available.
fn deployment(d: &Deployment) -> Vec<Finding> {
    let mut out = Vec::new();
    let object = ObjectRef::of("Deployment", &d.metadata);
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    if desired == 0 {
        return out;
    }
    let status = d.status.as_ref();
    let available = status.and_then(|s| s.available_replicas).unwrap_or(0);
    let conditions = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    if let Some(c) = conditions.iter().find(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    }) {
        out.push(Finding {
causes: Vec::new(),
        caused_by: None,
remedies: Vec::new(),
            rule: Rule::RolloutStuck,
            severity: Severity::Error,
            object: object.clone(),
            summary: format!("rollout of deployment {} is stuck past its progress deadline", object.name),
            evidence: vec![format!("Progressing=False (ProgressDeadlineExceeded): {}", c.message.as_deref().unwrap_or_default())],
            fix: format!("Find why the new pods do not become ready (`kubectl describe deployment {}{}`), fix it, or roll back with `kubectl rollout undo deployment/{}{}`.", object.name, super::ns_flag(&object), object.name, super::ns_flag(&object)),
            pods: vec![],
        });
    }
    if let Some(c) = conditions
        .iter()
        .find(|c| c.type_ == "Available" && c.status == "False")
    {
        out.push(Finding {
            causes: Vec::new(),
            caused_by: None,
            remedies: Vec::new(),
            rule: Rule::WorkloadUnavailable,
            severity: if available == 0 {
                Severity::Error
            } else {
                Severity::Warning
            },
            object: object.clone(),
            summary: format!(
                "deployment {} has {available} of {desired} replicas available",
                object.name
            ),
            evidence: vec![format!(
                "Available=False ({}): {}",
                c.reason.as_deref().unwrap_or_default(),
                c.message.as_deref().unwrap_or_default()
            )],
            fix: format!(
                "See why its pods are not ready: `kubectl describe pods -l {}{}`.",
                selector_of(d.spec.as_ref().map(|s| &s.selector)),
                super::ns_flag(&object)
            ),
            pods: vec![],
        });
    }
    out
}

/// A StatefulSet short of ready replicas.
fn stateful_set(s: &StatefulSet) -> Vec<Finding> {
    let mut out = Vec::new();
    let object = ObjectRef::of("StatefulSet", &s.metadata);
    let desired = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let ready = s
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    if desired > 0 && ready < desired {
        out.push(Finding {
causes: Vec::new(),
        caused_by: None,
remedies: Vec::new(),
            rule: Rule::WorkloadUnavailable,
            severity: if ready == 0 { Severity::Error } else { Severity::Warning },
            object: object.clone(),
            summary: format!("statefulset {} has {ready} of {desired} replicas ready", object.name),
            evidence: vec![format!("readyReplicas: {ready}, replicas: {desired}")],
            fix: format!("StatefulSets start pods one by one: fix the first pod that is not ready (`kubectl describe pod {}-{ready}{}`).", object.name, super::ns_flag(&object)),
            pods: vec![],
        });
    }
    out
}

/// A DaemonSet unavailable on some of its nodes.
fn daemon_set(d: &DaemonSet) -> Vec<Finding> {
    let mut out = Vec::new();
    let object = ObjectRef::of("DaemonSet", &d.metadata);
    let Some(st) = d.status.as_ref() else {
        return out;
    };
    let unavailable = st.number_unavailable.unwrap_or(0);
    if unavailable > 0 {
        out.push(Finding {
            causes: Vec::new(),
            caused_by: None,
            remedies: Vec::new(),
            rule: Rule::WorkloadUnavailable,
            severity: Severity::Warning,
            object: object.clone(),
            summary: format!(
                "daemonset {} is unavailable on {unavailable} of {} nodes",
                object.name, st.desired_number_scheduled
            ),
            evidence: vec![format!(
                "numberUnavailable: {unavailable}, numberReady: {}",
                st.number_ready
            )],
            fix: format!(
                "Look at the daemonset's pods that are not ready: `kubectl get pods{} -o wide`.",
                super::ns_flag(&object)
            ),
            pods: vec![],
        });
    }
    out
}

/// A Deployment whose ReplicaSet cannot create pods at all (a quota, an admission policy): the
/// API server refuses them, so there is no pod to look at and the reason is only here.
fn replica_failure(ctx: &Context, d: &Deployment) -> Option<Finding> {
    let object = ObjectRef::of("Deployment", &d.metadata);
    let c = d
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")?;
    let message = c.message.clone().unwrap_or_default();
    let mut evidence = vec![format!(
        "ReplicaFailure=True ({}): {message}",
        c.reason.as_deref().unwrap_or_default()
    )];
    let owned = ctx.replica_sets.iter().filter(|rs| {
        rs.metadata.namespace == d.metadata.namespace
            && rs
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.kind == "Deployment" && Some(&o.name) == d.metadata.name.as_ref())
    });
    for rs in owned {
        let name = rs.metadata.name.as_deref().unwrap_or_default();
        evidence.extend(
            ctx.events_for("ReplicaSet", object.namespace.as_deref(), name)
                .filter(|e| e.reason.as_deref() == Some("FailedCreate"))
                .take(1)
                .filter_map(|e| {
                    Some(format!(
                        "event FailedCreate (x{}) on replicaset {name}: {}",
                        crate::context::event_count(e),
                        e.message.as_deref()?
                    ))
                }),
        );
    }
    let lower = message.to_lowercase();
    let fix = if lower.contains("exceeded quota") {
        let quota = lower
            .split("exceeded quota: ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap_or("the namespace's quota")
            .to_string();
        format!(
            "The namespace's ResourceQuota {quota} has no room for another pod: raise its hard limits (`kubectl describe resourcequota {quota}{}`), free quota by scaling something down, or lower the pod's requests/limits.",
            super::ns_flag(&object)
        )
    } else if lower.contains("violates podsecurity") {
        "The namespace's Pod Security level refuses the pod: make the pod template comply (securityContext: runAsNonRoot, drop capabilities, seccompProfile RuntimeDefault) or relabel the namespace.".to_string()
    } else {
        "The API server refuses the ReplicaSet's pods: fix what the message above names (an admission webhook, a LimitRange, a missing ServiceAccount).".to_string()
    };
    Some(Finding {
        causes: Vec::new(),
        caused_by: None,
        remedies: Vec::new(),
        rule: Rule::ReplicaFailure,
        severity: Severity::Error,
        summary: format!(
            "deployment {} cannot create its pods: the API server refuses them",
            object.name
        ),
        object,
        evidence,
        fix,
        pods: vec![],
    })
}

fn selector_of(
    sel: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
) -> String {
    sel.and_then(|s| s.match_labels.as_ref())
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Failed Jobs, grouped under their CronJob when they have one, with the exit codes and log
/// lines of the pods that failed.
fn failed_jobs(ctx: &Context) -> Vec<Finding> {
    let mut by_owner: BTreeMap<ObjectRef, Finding> = BTreeMap::new();
    for job in &ctx.jobs {
        let conditions = job
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default();
        let Some(failed) = conditions
            .iter()
            .find(|c| c.type_ == "Failed" && c.status == "True")
        else {
            continue;
        };
        let name = job.metadata.name.clone().unwrap_or_default();
        let ns = job.metadata.namespace.clone();
        let owner = job
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.kind == "CronJob")
            .map(|o| ObjectRef::new("CronJob", ns.as_deref(), &o.name))
            .unwrap_or_else(|| ObjectRef::of("Job", &job.metadata));
        let limit = job.spec.as_ref().and_then(|s| s.backoff_limit).unwrap_or(6);
        let mut evidence = vec![format!(
            "job {name}: Failed ({}): {} (backoffLimit {limit})",
            failed.reason.as_deref().unwrap_or_default(),
            failed.message.as_deref().unwrap_or_default()
        )];
        let mut pods = Vec::new();
        for pod in ctx.pods.iter().filter(|p| {
            p.metadata.namespace == ns
                && p.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.kind == "Job" && o.name == name)
        }) {
            pods.push(pod.metadata.name.clone().unwrap_or_default());
            failed_pod_evidence(ctx, pod, &mut evidence);
        }
        let entry = by_owner.entry(owner.clone()).or_insert_with(|| Finding {
causes: Vec::new(),
            caused_by: None,
remedies: Vec::new(),
            rule: Rule::JobFailed,
            severity: Severity::Error,
            summary: String::new(),
            object: owner.clone(),
            evidence: vec![],
            fix: format!(
                "Read the failed pods' logs (`kubectl logs job/{name}{}`), fix the cause, then rerun the job{}.",
                super::ns_flag(&owner),
                if owner.kind == "CronJob" { " (or wait for the next schedule)" } else { "" }
            ),
            pods: vec![],
        });
        entry.evidence.extend(evidence);
        entry.evidence.truncate(12);
        entry.pods.extend(pods);
        let jobs = entry
            .evidence
            .iter()
            .filter(|l| l.starts_with("job "))
            .count();
        entry.summary = if owner.kind == "CronJob" {
            format!(
                "{jobs} job(s) of cronjob {} failed after reaching their backoff limit",
                owner.name
            )
        } else {
            format!(
                "job {} failed: {}",
                owner.name,
                failed.reason.as_deref().unwrap_or("Failed")
            )
        };
    }
    by_owner.into_values().collect()
}

/// Why a failed Job's pod failed: its containers' non-zero exits and the log lines that explain
/// them, each line once.
fn failed_pod_evidence(ctx: &Context, pod: &Pod, evidence: &mut Vec<String>) {
    let mut add = |line: String| {
        if !evidence.contains(&line) {
            evidence.push(line);
        }
    };
    for cs in pod
        .status
        .iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
    {
        if let Some(t) = cs
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .filter(|t| t.exit_code != 0)
        {
            add(format!(
                "container {} exited with code {} ({})",
                cs.name,
                t.exit_code,
                t.reason.as_deref().unwrap_or_default()
            ));
        }
        let lines: Vec<_> = super::pods::log_lines(ctx, pod, &cs.name)
            .into_iter()
            .take(3)
            .collect();
        let facts = super::pods::log_facts(ctx, pod, &cs.name, &lines);
        let lines = lines
            .into_iter()
            .map(|(which, l)| format!("{which} log: {l}"));
        for line in lines.chain(facts.evidence) {
            add(line);
        }
    }
}
