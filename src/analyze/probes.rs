//! Probes: a probe aimed at a port the container does not declare, and containers that run but
//! stay unready because their readiness probe fails.
//!
//! Declaring a container port is informational: the kubelet probes whatever port it is told, and
//! real manifests (coredns' health on 8080, ingress-nginx's on 10254) probe undeclared ports that
//! work. So an undeclared probe port is only an error when the probe is seen failing; otherwise it
//! is a note.

use k8s_openapi::api::core::v1::Probe;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::probe_facts::{self, describe_action, http_answer};
use super::{Finding, Grouper, PodProblem, Remedy, Rule, Severity, pod_specs};
use crate::context::Context;

pub(super) fn analyze(ctx: &Context) -> Vec<Finding> {
    let mut out = port_mismatches(ctx);
    out.extend(readiness_failures(ctx));
    out
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

/// A probe aimed at a port its container does not declare.
#[derive(Debug, Clone)]
struct Mismatch {
    object: crate::context::ObjectRef,
    container: String,
    /// "readinessProbe", "livenessProbe" or "startupProbe".
    probe: &'static str,
    /// "httpGet.port", "tcpSocket.port" or "grpc.port".
    field: &'static str,
    port: IntOrString,
    /// Declared ports of the container, as "8000 (http)".
    declared: Vec<String>,
    /// The declared port most likely meant: the only one, or the one whose name fits the probe.
    suggested: Option<i32>,
    /// Whether `suggested` is the container's only declared port, so a fix can apply it unasked.
    certain: bool,
    /// Evidence that this probe fails: Unhealthy events, unready or liveness-killed containers.
    failures: Vec<String>,
}

impl Mismatch {
    /// Only a failing probe is worth changing, and only to the one port declared.
    fn remedy(&self) -> Option<Remedy> {
        let port = self
            .suggested
            .filter(|_| self.certain && !self.failures.is_empty())?;
        Some(Remedy::ProbePort {
            container: self.container.clone(),
            probe: self.probe,
            action: self.field.split('.').next().unwrap_or("httpGet"),
            port,
        })
    }
}

/// Every probe in every workload template (and bare pod) that targets an undeclared port.
fn mismatches(ctx: &Context) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (object, spec) in pod_specs(ctx) {
        for c in spec.containers() {
            let ports = c.ports;
            for &(probe, p) in &c.probes {
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
                    container: c.name.to_string(),
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
                    suggested: likely_port(ports),
                    certain: ports.len() == 1,
                    failures: probe_failing(ctx, &object, c.name, probe),
                });
            }
        }
    }
    out
}

fn port_mismatches(ctx: &Context) -> Vec<Finding> {
    let all = mismatches(ctx);
    all.iter()
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
            let failing = !m.failures.is_empty();
            evidence.extend(m.failures.iter().take(3).cloned());
            let (severity, summary, fix) = if failing {
                let target = m.suggested.map(|p| format!(" to {p}")).unwrap_or_default();
                (
                    Severity::Error,
                    format!(
                        "{} of container {} fails on port {shown}, which the container does not declare",
                        m.probe, m.container
                    ),
                    format!(
                        "Set {}.{} of container {}{target} (the declared port most likely meant), or declare the port the app really listens on.",
                        m.probe, m.field, m.container
                    ),
                )
            } else {
                (
                    Severity::Info,
                    format!(
                        "{} of container {} probes port {shown}, which the container does not declare; the probe passes",
                        m.probe, m.container
                    ),
                    format!(
                        "Nothing is failing; for clarity, list port {shown} in the ports of container {}.",
                        m.container
                    ),
                )
            };
            Finding {
causes: Vec::new(),
            caused_by: None,
                rule: Rule::ProbePort,
                severity,
                summary,
                evidence,
                fix,
                // Its own probe's fix only: `apply_fix` gathers every finding of a rule on an
                // object, so a workload's other probes come with their own findings.
                remedies: m.remedy().into_iter().collect(),
                object: m.object.clone(),
                pods: vec![],
            }
        })
        .collect()
}

/// Evidence that one probe of one container of `object` fails now: the Unhealthy events of pods
/// whose container is unready (readiness) or was restarted within the hour (liveness, startup).
/// An old Unhealthy event of a pod that is fine since (a slow first start) is not a failure.
fn probe_failing(
    ctx: &Context,
    object: &crate::context::ObjectRef,
    container: &str,
    probe: &str,
) -> Vec<String> {
    let kind = match probe {
        "readinessProbe" => "Readiness",
        "livenessProbe" => "Liveness",
        _ => "Startup",
    };
    let mut out = Vec::new();
    for pod in ctx.pods.iter().filter(|p| &ctx.owner_of(p) == object) {
        let status = pod
            .status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten())
            .find(|cs| cs.name == container);
        let Some(cs) = status else { continue };
        let running = cs.state.as_ref().is_some_and(|s| s.running.is_some());
        let restarted = cs
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| t.finished_at.as_ref())
            .is_some_and(|t| ctx.observed_at.duration_since(t.0).as_secs() < 3600);
        let failing_now = match kind {
            "Readiness" => running && !cs.ready,
            _ => restarted || !running,
        };
        if !failing_now {
            continue;
        }
        out.extend(probe_facts::probe_failures(ctx, pod, container, kind));
        if kind == "Readiness" && !out.is_empty() {
            out.push(format!(
                "pod {}: container {container} is running but not ready",
                super::pod_name(pod)
            ));
        }
    }
    out.dedup();
    out
}

/// The declared port a probe most likely meant: the only declared port, else one whose name
/// says health, else one named http, else none.
fn likely_port(ports: &[k8s_openapi::api::core::v1::ContainerPort]) -> Option<i32> {
    let tcp: Vec<_> = ports
        .iter()
        .filter(|p| p.protocol.as_deref().is_none_or(|p| p == "TCP"))
        .collect();
    if let [only] = tcp.as_slice() {
        return Some(only.container_port);
    }
    let named = |words: &[&str]| {
        tcp.iter()
            .find(|p| {
                p.name
                    .as_deref()
                    .is_some_and(|n| words.iter().any(|w| n.contains(w)))
            })
            .map(|p| p.container_port)
    };
    named(&["health", "probe", "ready", "live"]).or_else(|| named(&["http", "web"]))
}

fn readiness_failures(ctx: &Context) -> Vec<Finding> {
    let mut groups = Grouper::default();
    for (pod, cs) in super::running_containers(ctx) {
        if cs.ready {
            continue;
        }
        let failures = probe_facts::probe_failures(ctx, pod, &cs.name, "Readiness");
        if failures.is_empty() {
            continue;
        }
        let probe = super::container(pod, &cs.name).and_then(|c| c.readiness_probe.as_ref());
        let mut evidence: Vec<String> = probe
            .map(|p| format!("readinessProbe: {}", describe_action(p)))
            .into_iter()
            .collect();
        let answer = probe.and_then(|p| http_answer("readinessProbe", p, &failures));
        evidence.extend(failures.into_iter().take(3));
        evidence.extend(answer);
        groups.add(
                ctx,
                pod,
                PodProblem {
                    rule: Rule::ReadinessFailing,
                    // Not ready is failing now: the pod gets no traffic.
                    severity: Severity::Error,
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
    groups.finish(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::logs::Tail;
    use crate::cluster::snapshot::{Root, load};

    fn scenario(name: &str) -> Context {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios");
        load(&Root::Dir(dir.join(name)), None, Tail::default()).unwrap()
    }

    #[test]
    fn an_undeclared_probe_port_is_an_error_only_while_the_probe_fails() {
        let ctx = scenario("probe-port");
        let failing = port_mismatches(&ctx);
        assert_eq!(failing.len(), 1);
        assert_eq!(failing[0].severity, Severity::Error);
        assert!(failing[0].fix.contains("to 8000"), "{}", failing[0].fix);
        assert!(
            matches!(
                &failing[0].remedies[..],
                [Remedy::ProbePort {
                    port: 8000,
                    action: "httpGet",
                    ..
                }]
            ),
            "{:?}",
            failing[0].remedies
        );

        // The same spec on pods that are ready, with the old Unhealthy events still around.
        let mut healed = ctx.clone();
        for pod in &mut healed.pods {
            for cs in pod
                .status
                .iter_mut()
                .flat_map(|s| s.container_statuses.iter_mut().flatten())
            {
                cs.ready = true;
            }
        }
        let quiet = port_mismatches(&healed);
        assert_eq!(quiet.len(), 1);
        assert_eq!(quiet[0].severity, Severity::Info);
        assert!(quiet[0].summary.contains("the probe passes"));
        // A probe that passes is left alone: nothing to apply.
        assert!(quiet[0].remedies.is_empty(), "{:?}", quiet[0].remedies);
    }
}
