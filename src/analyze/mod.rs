//! Deterministic diagnosis: pure functions from a [`Context`] to [`Finding`]s.
//!
//! Each family of problems lives in its own file and knows nothing of I/O, so every rule is
//! tested against fixtures alone. Two passes after the analyzers keep the report about causes:
//! symptoms (an unavailable Deployment, a failing probe) fold into the specific finding on the
//! same object when one exists, and findings are ranked by severity and then by how many pods
//! they touch.

pub(crate) mod access;
mod app_logs;
mod autoscaling;
pub(crate) mod config_refs;
pub(crate) mod hosts;
pub(crate) mod keyline;
pub(crate) mod links;
mod nodes;
pub(crate) mod pods;
mod probe_facts;
mod probes;
mod rule;
mod scheduling;
mod services;
mod storage;
mod workloads;

pub(crate) use rule::Rule;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ContainerPort, Probe};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use crate::context::{Container, ContainerStatus, Context, ObjectRef, Pod, PodSpec};

/// How bad a finding is. Ordered, so `max()` is the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, not broken.
    Info,
    /// Degraded or about to break.
    Warning,
    /// Broken now: something is down, crashing or cannot start.
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One problem, stated once for the workload that has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule that found it; prints and serializes as its stable id (`crash-loop`, ...).
    pub rule: Rule,
    pub severity: Severity,
    /// The object to act on: the owning workload for pod problems.
    pub object: ObjectRef,
    /// One line a human reads first.
    pub summary: String,
    /// Verbatim facts from the cluster: reasons, messages, exit codes, log lines.
    pub evidence: Vec<String>,
    /// What to change, concretely.
    pub fix: String,
    /// The pods showing the problem, when it is about pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<String>,
    /// The problems this one causes, folded into it (see [`links`]): a root cause is one finding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Consequence>,
    /// What probably causes this problem, when the link is only a guess (a host name in a log):
    /// said here rather than folded away, since a wrong guess must not hide a problem.
    #[serde(default, rename = "causedBy", skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<GuessedCause>,
    /// The changes that certainly fix it, as data for `plan::fixes` (the `fix` text says them to
    /// a human). Not part of any output: reports stay what they were.
    #[serde(skip)]
    pub remedies: Vec<Remedy>,
}

/// A change certain enough to apply unasked, in the terms of the object it is about: what the
/// analyzer knew when it found the problem, so a plan needs no second look at the cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum Remedy {
    /// Point a failing probe at the container's one declared port.
    ProbePort {
        container: String,
        /// "readinessProbe", "livenessProbe" or "startupProbe".
        probe: &'static str,
        /// The probe's action: "httpGet", "tcpSocket" or "grpc".
        action: &'static str,
        port: i32,
    },
    /// Raise the memory limit of an OOM-killed container, in bytes.
    MemoryLimit {
        container: String,
        limit: u64,
        raised: u64,
    },
    /// Route a Service to the one workload its selector almost matches.
    Selector(BTreeMap<String, String>),
}

/// The finding that probably causes another, and why we think so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuessedCause {
    pub rule: Rule,
    pub object: ObjectRef,
    pub via: String,
    pub guessed: bool,
}

/// A finding by identity: its rule and the object it is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FindingId {
    pub rule: Rule,
    pub object: ObjectRef,
}

/// A problem that follows from another: what it is, and the fact linking it to its cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consequence {
    pub rule: Rule,
    pub severity: Severity,
    pub object: ObjectRef,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<String>,
    /// Its own evidence, so nothing the folded finding knew is lost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
    /// The finding it follows from directly: the root, or another consequence of it.
    pub caused_by: FindingId,
    /// The fact that links the two ("its pods mount claim data", "env DB_HOST names it").
    pub via: String,
}

type Analyzer = fn(&Context) -> Vec<Finding>;

/// Every analyzer, by family.
pub(crate) const ANALYZERS: &[(&str, Analyzer)] = &[
    ("pods", pods::analyze),
    ("config", config_refs::analyze),
    ("probes", probes::analyze),
    ("scheduling", scheduling::analyze),
    ("storage", storage::analyze),
    ("nodes", nodes::analyze),
    ("services", services::analyze),
    ("autoscaling", autoscaling::analyze),
    ("workloads", workloads::analyze),
    ("logs", app_logs::analyze),
];

/// Rules that describe the effect of some other problem. When a more specific finding exists on
/// the same object, they become evidence there instead of a finding of their own.
const SYMPTOMS: &[Rule] = &[
    Rule::WorkloadUnavailable,
    Rule::RolloutStuck,
    Rule::ReadinessFailing,
    Rule::ServiceNoReadyEndpoints,
];

/// Runs every analyzer and returns the findings, causes first.
pub(crate) fn analyze(ctx: &Context) -> Vec<Finding> {
    let mut findings: Vec<Finding> = ANALYZERS.iter().flat_map(|(_, run)| run(ctx)).collect();
    fold_symptoms(ctx, &mut findings);
    links::fold(ctx, &mut findings);
    rank(&mut findings);
    findings
}

/// Moves each symptom into the cause it follows from: a finding on the same object, on the same
/// pods, or on the workload that owns its pods (or that its pods' owner is). A symptom with no
/// cause in sight stays a finding of its own.
fn fold_symptoms(ctx: &Context, findings: &mut Vec<Finding>) {
    let owners: BTreeMap<&str, ObjectRef> = ctx
        .pods
        .iter()
        .map(|p| (pod_name(p), ctx.owner_of(p)))
        .collect();
    let owned_by = |pods: &[String], object: &ObjectRef| {
        pods.iter().any(|p| owners.get(p.as_str()) == Some(object))
    };
    let (symptoms, mut causes): (Vec<Finding>, Vec<Finding>) =
        findings.drain(..).partition(|f| SYMPTOMS.contains(&f.rule));
    for symptom in symptoms {
        let related = causes.iter_mut().find(|c| {
            c.object == symptom.object
                || c.pods.iter().any(|p| symptom.pods.contains(p))
                || owned_by(&c.pods, &symptom.object)
                || owned_by(&symptom.pods, &c.object)
        });
        match related {
            Some(cause) => {
                if !cause.evidence.contains(&symptom.summary) {
                    cause.evidence.push(symptom.summary);
                }
                for pod in symptom.pods {
                    if owners.get(pod.as_str()) == Some(&cause.object) && !cause.pods.contains(&pod)
                    {
                        cause.pods.push(pod);
                    }
                }
            }
            None => causes.push(symptom),
        }
    }
    *findings = causes;
}

/// Severity first, then the problems a finding causes (folded in, or pointing at it as their
/// probable cause), then breadth (pods affected), then a stable order by object.
pub(crate) fn rank(findings: &mut [Finding]) {
    let caused = |f: &Finding, all: &[Finding]| {
        f.causes.len()
            + all
                .iter()
                .filter(|o| {
                    o.caused_by
                        .as_ref()
                        .is_some_and(|c| c.rule == f.rule && c.object == f.object)
                })
                .count()
    };
    let weights: Vec<usize> = findings.iter().map(|f| caused(f, findings)).collect();
    let mut order: Vec<usize> = (0..findings.len()).collect();
    order.sort_by(|&a, &b| {
        let (fa, fb) = (&findings[a], &findings[b]);
        fb.severity
            .cmp(&fa.severity)
            .then(weights[b].cmp(&weights[a]))
            .then(fb.pods.len().cmp(&fa.pods.len()))
            .then(fa.object.cmp(&fb.object))
            .then(fa.rule.cmp(&fb.rule))
    });
    let sorted: Vec<Finding> = order.into_iter().map(|i| findings[i].clone()).collect();
    findings.clone_from_slice(&sorted);
}

/// Collects per-pod problems into one finding per (workload, rule, container), so three replicas
/// crashing the same way are one finding listing three pods.
#[derive(Default)]
pub(crate) struct Grouper {
    groups: BTreeMap<(ObjectRef, Rule, String), Finding>,
}

/// A problem seen on one pod, before grouping.
pub(crate) struct PodProblem {
    pub rule: Rule,
    pub severity: Severity,
    pub container: String,
    pub summary: String,
    pub evidence: Vec<String>,
    pub fix: String,
}

/// Evidence lines kept per finding; more would bury the lines that matter.
const MAX_EVIDENCE: usize = 12;

impl Grouper {
    pub(crate) fn add(&mut self, ctx: &Context, pod: &Pod, problem: PodProblem) {
        let owner = ctx.owner_of(pod);
        let name = pod.metadata.name.clone().unwrap_or_default();
        let key = (owner.clone(), problem.rule, problem.container);
        let finding = self.groups.entry(key).or_insert_with(|| Finding {
            causes: Vec::new(),
            caused_by: None,
            remedies: Vec::new(),
            rule: problem.rule,
            severity: problem.severity,
            object: owner,
            summary: problem.summary,
            evidence: vec![],
            fix: problem.fix,
            pods: vec![],
        });
        finding.severity = finding.severity.max(problem.severity);
        finding.pods.push(name);
        for line in problem.evidence {
            if finding.evidence.len() < MAX_EVIDENCE && !finding.evidence.contains(&line) {
                finding.evidence.push(line);
            }
        }
    }

    /// Fills the remedies of one rule's findings from the object and container they are about.
    pub(crate) fn remedy(&mut self, rule: Rule, of: impl Fn(&ObjectRef, &str) -> Option<Remedy>) {
        for ((object, _, container), f) in
            self.groups.iter_mut().filter(|((_, r, _), _)| *r == rule)
        {
            f.remedies = of(object, container).into_iter().collect();
        }
    }

    pub(crate) fn finish(self, ctx: &Context) -> Vec<Finding> {
        self.groups
            .into_values()
            .map(|mut f| {
                let total = ctx
                    .pods
                    .iter()
                    .filter(|p| ctx.owner_of(p) == f.object)
                    .count();
                if f.object.kind != "Pod" && total > 0 {
                    f.summary = format!("{} ({} of {} pods)", f.summary, f.pods.len(), total);
                }
                f
            })
            .collect()
    }
}

/// A pod spec as static checks read it: a workload's template (k8s-openapi's type) or the spec
/// of a pod nobody owns (the Context's own).
#[derive(Clone, Copy)]
pub(crate) enum SpecOf<'a> {
    Template(&'a k8s_openapi::api::core::v1::PodSpec),
    Pod(&'a PodSpec),
}

/// One container of a [`SpecOf`]: its name, declared ports and probes.
pub(crate) struct ContainerView<'a> {
    pub(crate) name: &'a str,
    pub(crate) ports: &'a [ContainerPort],
    /// ("livenessProbe" | "readinessProbe" | "startupProbe", the probe), those present.
    pub(crate) probes: Vec<(&'static str, &'a Probe)>,
}

impl<'a> SpecOf<'a> {
    pub(crate) fn containers(self) -> Vec<ContainerView<'a>> {
        fn view<'a>(
            name: &'a str,
            ports: Option<&'a [ContainerPort]>,
            probes: [(&'static str, Option<&'a Probe>); 3],
        ) -> ContainerView<'a> {
            ContainerView {
                name,
                ports: ports.unwrap_or_default(),
                probes: probes
                    .into_iter()
                    .filter_map(|(k, p)| Some((k, p?)))
                    .collect(),
            }
        }
        match self {
            SpecOf::Template(spec) => spec
                .containers
                .iter()
                .map(|c| {
                    view(
                        &c.name,
                        c.ports.as_deref(),
                        [
                            ("livenessProbe", c.liveness_probe.as_ref()),
                            ("readinessProbe", c.readiness_probe.as_ref()),
                            ("startupProbe", c.startup_probe.as_ref()),
                        ],
                    )
                })
                .collect(),
            SpecOf::Pod(spec) => spec
                .containers
                .iter()
                .map(|c| {
                    view(
                        &c.name,
                        c.ports.as_deref(),
                        [
                            ("livenessProbe", c.liveness_probe.as_deref()),
                            ("readinessProbe", c.readiness_probe.as_deref()),
                            ("startupProbe", c.startup_probe.as_deref()),
                        ],
                    )
                })
                .collect(),
        }
    }
}

/// The pod templates of every workload, plus pods nobody owns: what static spec checks read.
pub(crate) fn pod_specs(ctx: &Context) -> Vec<(ObjectRef, SpecOf<'_>)> {
    fn entry<'a>(
        kind: &str,
        meta: &ObjectMeta,
        spec: Option<&'a k8s_openapi::api::core::v1::PodSpec>,
    ) -> Option<(ObjectRef, SpecOf<'a>)> {
        spec.map(|spec| (ObjectRef::of(kind, meta), SpecOf::Template(spec)))
    }
    let deployments = ctx.deployments.iter().filter_map(|d| {
        entry(
            "Deployment",
            &d.metadata,
            d.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
        )
    });
    let stateful_sets = ctx.stateful_sets.iter().filter_map(|d| {
        entry(
            "StatefulSet",
            &d.metadata,
            d.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
        )
    });
    let daemon_sets = ctx.daemon_sets.iter().filter_map(|d| {
        entry(
            "DaemonSet",
            &d.metadata,
            d.spec.as_ref().and_then(|s| s.template.spec.as_ref()),
        )
    });
    let bare_pods = ctx
        .pods
        .iter()
        .filter(|p| ctx.owner_of(p).kind == "Pod")
        .filter_map(|p| {
            Some((
                ObjectRef::of("Pod", &p.metadata),
                SpecOf::Pod(p.spec.as_ref()?),
            ))
        });
    deployments
        .chain(stateful_sets)
        .chain(daemon_sets)
        .chain(bare_pods)
        .collect()
}

/// The containers running now in pods that are Running and not being deleted: where a probe or
/// a log tells what the pod's phase does not.
pub(crate) fn running_containers(ctx: &Context) -> impl Iterator<Item = (&Pod, &ContainerStatus)> {
    ctx.pods
        .iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .filter_map(|pod| Some((pod, pod.status.as_ref()?)))
        .filter(|(_, status)| status.phase.as_deref() == Some("Running"))
        .flat_map(|(pod, status)| {
            status
                .container_statuses
                .iter()
                .flatten()
                .filter(|cs| cs.state.as_ref().is_some_and(|s| s.running.is_some()))
                .map(move |cs| (pod, cs))
        })
}

/// A container of a pod's spec by name, init containers included.
pub(crate) fn container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

pub(crate) fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

pub(crate) fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or_default()
}

/// kubectl's spelling of a `-n` flag for commands in fixes.
pub(crate) fn ns_flag(object: &ObjectRef) -> String {
    object
        .namespace
        .as_deref()
        .map(|ns| format!(" -n {ns}"))
        .unwrap_or_default()
}
