//! Probes: a probe aimed at a port the container does not declare (the kubelet can never get an
//! answer), and containers that run but stay unready because their readiness probe fails.

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Finding, Grouper, PodProblem, Severity, pod_specs};
use crate::context::Context;

pub const PORT_MISMATCH: &str = "probe-port";
pub const READINESS_FAILING: &str = "readiness-failing";

pub fn analyze(ctx: &Context) -> Vec<Finding> {
    let mut out = port_mismatches(ctx);
    out.extend(readiness_failures(ctx));
    out
}

fn probes(c: &Container) -> impl Iterator<Item = (&'static str, &Probe)> {
    [
        ("livenessProbe", c.liveness_probe.as_ref()),
        ("readinessProbe", c.readiness_probe.as_ref()),
        ("startupProbe", c.startup_probe.as_ref()),
    ]
    .into_iter()
    .filter_map(|(k, p)| Some((k, p?)))
}

/// The port a probe targets, with the field it came from.
fn probe_port(probe: &Probe) -> Option<(&'static str, IntOrString)> {
    if let Some(h) = &probe.http_get {
        return Some(("httpGet.port", h.port.clone()));
    }
    if let Some(t) = &probe.tcp_socket {
        return Some(("tcpSocket.port", t.port.clone()));
    }
    probe
        .grpc
        .as_ref()
        .map(|g| ("grpc.port", IntOrString::Int(g.port)))
}

/// "httpGet :8000/health", for evidence lines.
pub fn describe_action(probe: &Probe) -> String {
    let port = |p: &IntOrString| match p {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    };
    if let Some(h) = &probe.http_get {
        format!(
            "httpGet :{}{}",
            port(&h.port),
            h.path.as_deref().unwrap_or("/")
        )
    } else if let Some(t) = &probe.tcp_socket {
        format!("tcpSocket :{}", port(&t.port))
    } else if let Some(g) = &probe.grpc {
        format!("grpc :{}", g.port)
    } else if let Some(e) = &probe.exec {
        format!("exec {:?}", e.command.clone().unwrap_or_default())
    } else {
        "no action".into()
    }
}

/// A probe aimed at a port its container does not declare.
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub object: crate::context::ObjectRef,
    pub container: String,
    /// "readinessProbe", "livenessProbe" or "startupProbe".
    pub probe: &'static str,
    /// "httpGet.port", "tcpSocket.port" or "grpc.port".
    pub field: &'static str,
    pub port: IntOrString,
    /// Declared ports of the container, as "8000 (http)".
    pub declared: Vec<String>,
    /// The port to aim at instead: the container's only declared port (none when it has several).
    pub suggested: Option<i32>,
}

/// Every probe in every workload template (and bare pod) that targets an undeclared port.
pub fn mismatches(ctx: &Context) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (object, spec) in pod_specs(ctx) {
        for c in &spec.containers {
            let ports = c.ports.as_deref().unwrap_or_default();
            for (probe, p) in probes(c) {
                let Some((field, port)) = probe_port(p) else {
                    continue;
                };
                let declared = match &port {
                    IntOrString::Int(n) => {
                        ports.is_empty() || ports.iter().any(|p| p.container_port == *n)
                    }
                    IntOrString::String(name) => {
                        ports.iter().any(|p| p.name.as_deref() == Some(name))
                    }
                };
                if declared {
                    continue;
                }
                out.push(Mismatch {
                    object: object.clone(),
                    container: c.name.clone(),
                    probe,
                    field,
                    port,
                    declared: ports
                        .iter()
                        .map(|p| match &p.name {
                            Some(n) => format!("{} ({n})", p.container_port),
                            None => p.container_port.to_string(),
                        })
                        .collect(),
                    suggested: (ports.len() == 1).then(|| ports[0].container_port),
                });
            }
        }
    }
    out
}

fn port_mismatches(ctx: &Context) -> Vec<Finding> {
    mismatches(ctx)
        .into_iter()
        .map(|m| {
            let shown = match &m.port {
                IntOrString::Int(n) => n.to_string(),
                IntOrString::String(s) => format!("{s:?}"),
            };
            let mut evidence = vec![
                format!("{}.{}: {shown}", m.probe, m.field),
                format!(
                    "containerPorts of {}: {}",
                    m.container,
                    if m.declared.is_empty() { "none".into() } else { m.declared.join(", ") }
                ),
            ];
            evidence.extend(failures_of(ctx, &m.object, &m.container).into_iter().take(2));
            let target = m.suggested.map(|p| format!(" to {p}")).unwrap_or_default();
            Finding {
                rule: PORT_MISMATCH.into(),
                severity: Severity::Error,
                summary: format!(
                    "{} of container {} probes port {shown}, which the container does not expose",
                    m.probe, m.container
                ),
                evidence,
                fix: format!(
                    "Set {}.{} of container {}{target} (a port it declares), or declare the port the app really listens on.",
                    m.probe, m.field, m.container
                ),
                object: m.object,
                pods: vec![],
            }
        })
        .collect()
}

/// Probe failure events of any pod of `object`, for one container.
fn failures_of(ctx: &Context, object: &crate::context::ObjectRef, container: &str) -> Vec<String> {
    ctx.pods
        .iter()
        .filter(|p| &ctx.owner_of(p) == object)
        .flat_map(|p| {
            ["Readiness", "Liveness", "Startup"]
                .into_iter()
                .flat_map(move |k| super::pods::probe_failures(ctx, p, container, k))
        })
        .take(4)
        .collect()
}

fn readiness_failures(ctx: &Context) -> Vec<Finding> {
    let mut groups = Grouper::default();
    for pod in &ctx.pods {
        let Some(status) = pod.status.as_ref() else {
            continue;
        };
        if status.phase.as_deref() != Some("Running") || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        for cs in status.container_statuses.iter().flatten() {
            let running = cs.state.as_ref().is_some_and(|s| s.running.is_some());
            if cs.ready || !running {
                continue;
            }
            let failures = super::pods::probe_failures(ctx, pod, &cs.name, "Readiness");
            if failures.is_empty() {
                continue;
            }
            let probe = super::container(pod, &cs.name).and_then(|c| c.readiness_probe.as_ref());
            let mut evidence: Vec<String> = probe
                .map(|p| format!("readinessProbe: {}", describe_action(p)))
                .into_iter()
                .collect();
            evidence.extend(failures.into_iter().take(3));
            groups.add(
                ctx,
                pod,
                PodProblem {
                    rule: READINESS_FAILING,
                    severity: Severity::Warning,
                    container: cs.name.clone(),
                    summary: format!(
                        "container {} runs but is not ready: its readiness probe fails, so it gets no traffic",
                        cs.name
                    ),
                    evidence,
                    fix: format!(
                        "Check what the readiness endpoint of container {} answers and why (often a dependency it checks is down); the probe events above quote the answer.",
                        cs.name
                    ),
                },
            );
        }
    }
    groups.finish(ctx)
}
