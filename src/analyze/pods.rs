//! Container states: the problems the kubelet reports on a pod's own status.
//!
//! One container gets at most one finding, the most specific one: an OOM kill is reported as
//! such, not also as a crash loop; a restart caused by the liveness probe is reported as the
//! probe's doing, not as the app crashing.

use crate::context::{ContainerStatus, Pod};
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Probe};

use super::{
    Finding, Grouper, PodProblem, Remedy, Rule, Severity, container, keyline, namespace, pod_name,
    probe_facts,
};
use crate::context::Context;
use crate::quantity;

pub(crate) fn analyze(ctx: &Context) -> Vec<Finding> {
    let mut groups = Grouper::default();
    for pod in &ctx.pods {
        let Some(status) = pod.status.as_ref() else {
            continue;
        };
        // Finished pods (a Job's Completed pod, an Evicted pod) are other analyzers' business.
        if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
            continue;
        }
        if let Some(p) = mount_problem(ctx, pod) {
            groups.add(ctx, pod, p);
            continue;
        }
        for cs in status.init_container_statuses.iter().flatten() {
            if let Some(p) = init_problem(ctx, pod, cs) {
                groups.add(ctx, pod, p);
            }
        }
        for cs in status.container_statuses.iter().flatten() {
            if let Some(p) = container_problem(ctx, pod, cs) {
                groups.add(ctx, pod, p);
            }
        }
    }
    // One OOM finding per container, so each raises its own container's limit.
    groups.remedy(Rule::OomKilled, |object, container| {
        memory_remedy(ctx, object, container)
    });
    groups.finish(ctx)
}

fn container_problem(ctx: &Context, pod: &Pod, cs: &ContainerStatus) -> Option<PodProblem> {
    let state = cs.state.as_ref()?;
    let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    if let Some(waiting) = &state.waiting {
        let message = waiting.message.clone().unwrap_or_default();
        return match waiting.reason.as_deref()? {
            "CrashLoopBackOff" => Some(restart_problem(ctx, pod, cs, last, true)),
            "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull" => Some(
                image_problem(ctx, pod, cs, waiting.reason.as_deref()?, &message),
            ),
            "CreateContainerConfigError" => Some(config_problem(ctx, pod, cs, &message)),
            reason @ ("CreateContainerError" | "RunContainerError" | "StartError") => {
                Some(start_problem(pod, cs, reason, &message))
            }
            _ => None,
        };
    }
    if let Some(done) = &state.terminated
        && done.exit_code != 0
    {
        return Some(restart_problem(ctx, pod, cs, Some(done), false));
    }
    // Running, but restarted recently: still worth a word even between crashes.
    let last = last?;
    let recent = last
        .finished_at
        .as_ref()
        .is_some_and(|t| ctx.observed_at.duration_since(t.0).as_secs() < 3600);
    (recent && (last.exit_code != 0 || last.reason.as_deref() == Some("OOMKilled")))
        .then(|| restart_problem(ctx, pod, cs, Some(last), false))
}

/// A pod held in ContainerCreating because a volume cannot be attached or mounted: the kubelet
/// says why only in its events.
fn mount_problem(ctx: &Context, pod: &Pod) -> Option<PodProblem> {
    let status = pod.status.as_ref()?;
    let creating = status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .any(|cs| {
            cs.state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                .is_some_and(|r| matches!(r, "ContainerCreating" | "PodInitializing"))
        });
    if !creating {
        return None;
    }
    let events: Vec<String> = ctx
        .events_for("Pod", pod.metadata.namespace.as_deref(), pod_name(pod))
        .filter(|e| {
            matches!(
                e.reason.as_deref(),
                Some("FailedMount" | "FailedAttachVolume")
            )
        })
        .filter_map(|e| {
            let count = crate::context::event_count(e);
            Some(format!(
                "event {} (x{count}): {}",
                e.reason.as_deref()?,
                keyline::first_line(e.message.as_deref()?)
            ))
        })
        .take(3)
        .collect();
    if events.is_empty() {
        return None;
    }
    let text = events.join("\n").to_lowercase();
    let ns = namespace(pod);
    let fix = if text.contains("multi-attach") {
        "The volume is ReadWriteOnce and still attached to the old pod on another node: give the Deployment `strategy: {type: Recreate}` (the old pod goes first), or use ReadWriteMany storage, or a StatefulSet.".to_string()
    } else if let Some((kind, name)) = missing_object(&text) {
        format!(
            "Create the {kind} {name} in namespace {ns} (if a controller such as cert-manager should issue it, check its Certificate), or fix the volume's reference to it."
        )
    } else {
        format!(
            "Fix what the kubelet reports about the volume (`kubectl describe pod {} -n {ns}`): its claim, Secret or ConfigMap, or the CSI driver on the node.",
            pod_name(pod)
        )
    };
    Some(PodProblem {
        rule: Rule::VolumeMount,
        severity: Severity::Error,
        container: String::new(),
        summary: "pods wait in ContainerCreating: a volume cannot be attached or mounted"
            .to_string(),
        evidence: events,
        fix,
    })
}

/// A container that keeps stopping: OOM, liveness kill, or its own crash, in that order of
/// specificity.
fn restart_problem(
    ctx: &Context,
    pod: &Pod,
    cs: &ContainerStatus,
    last: Option<&ContainerStateTerminated>,
    backing_off: bool,
) -> PodProblem {
    let liveness_failures = probe_facts::probe_failures(ctx, pod, &cs.name, "Liveness");
    let mut evidence = Vec::new();
    if backing_off {
        let waiting = cs.state.as_ref().and_then(|s| s.waiting.as_ref());
        let msg = waiting
            .and_then(|w| w.message.as_deref())
            .unwrap_or_default();
        // The kubelet names the pod in this message; without it, replicas share one line.
        let msg = msg.split(" pod=").next().unwrap_or(msg);
        evidence.push(
            format!("state: waiting (CrashLoopBackOff) {msg}")
                .trim()
                .to_string(),
        );
    }
    if let Some(t) = last {
        evidence.push(termination_line(t));
    }
    evidence.push(format!("restarts: {}", cs.restart_count));

    let spec = container(pod, &cs.name);
    if last.and_then(|t| t.reason.as_deref()) == Some("OOMKilled") {
        return oom_problem(ctx, pod, cs, evidence);
    }
    let liveness = spec.and_then(|c| c.liveness_probe.as_ref());
    let killed = last.is_some_and(|t| matches!(t.exit_code, 137 | 143 | 0 | 2));
    if let (Some(probe), false, true) = (liveness, liveness_failures.is_empty(), killed) {
        return liveness_problem(ctx, pod, cs, probe, liveness_failures, evidence);
    }

    let lines = log_lines(ctx, pod, &cs.name);
    let exit = last.map(|t| t.exit_code);
    let facts = log_facts(ctx, pod, &cs.name, &lines);
    let fix = facts
        .fix
        .unwrap_or_else(|| crash_fix(pod, &cs.name, exit, last, &lines));
    evidence.extend(
        lines
            .into_iter()
            .map(|(which, l)| format!("{which} log: {l}")),
    );
    evidence.extend(facts.evidence);
    let summary = match (backing_off, exit) {
        (true, Some(code)) => format!(
            "container {} is crash-looping: it exits with code {code}{}",
            cs.name,
            exit_meaning(code)
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ),
        (true, None) => format!("container {} is crash-looping", cs.name),
        (false, Some(code)) => format!(
            "container {} exited with code {code} and was restarted",
            cs.name
        ),
        (false, None) => format!("container {} keeps restarting", cs.name),
    };
    PodProblem {
        rule: Rule::CrashLoop,
        severity: if backing_off || cs.state.as_ref().is_some_and(|s| s.terminated.is_some()) {
            Severity::Error
        } else {
            Severity::Warning
        },
        container: cs.name.clone(),
        summary,
        evidence,
        fix,
    }
}

fn oom_problem(
    ctx: &Context,
    pod: &Pod,
    cs: &ContainerStatus,
    mut evidence: Vec<String>,
) -> PodProblem {
    let limit = container(pod, &cs.name)
        .and_then(|c| c.resources.as_ref()?.limits.as_ref()?.get("memory"))
        .and_then(|q| quantity::bytes(&q.0));
    let usage = ctx.container_memory(namespace(pod), pod_name(pod), &cs.name);
    match limit {
        Some(l) => evidence.push(format!("memory limit: {}", quantity::human_bytes(l))),
        None => evidence.push("memory limit: none set".to_string()),
    }
    if let Some(u) = usage {
        evidence.push(format!(
            "memory in use now (metrics.k8s.io): {}",
            quantity::human_bytes(u)
        ));
    }
    let fix = match limit {
        Some(l) => {
            let suggested = crate::sizing::memory_limit_after_oom(l, usage);
            format!(
                "Raise resources.limits.memory of container {} from {} to {} (50% headroom over the larger of the limit it hit and observed usage), or find what makes it grow.",
                cs.name,
                quantity::human_bytes(l),
                quantity::human_bytes(suggested)
            )
        }
        None => format!(
            "Container {} has no memory limit, so the node itself ran out: set resources.requests.memory and resources.limits.memory to what it really uses.",
            cs.name
        ),
    };
    PodProblem {
        rule: Rule::OomKilled,
        severity: Severity::Error,
        container: cs.name.clone(),
        summary: format!(
            "container {} is killed for running out of memory (OOMKilled)",
            cs.name
        ),
        evidence,
        fix,
    }
}

/// The memory limit to raise after OOM kills of one container of a workload's pods, over the
/// highest usage seen of that container.
fn memory_remedy(
    ctx: &Context,
    object: &crate::context::ObjectRef,
    container: &str,
) -> Option<Remedy> {
    let (container, limit, usage) = oom_facts(ctx, object, Some(container))?;
    Some(Remedy::MemoryLimit {
        container,
        limit,
        raised: crate::sizing::memory_limit_after_oom(limit, usage),
    })
}

/// For an OOM-killed container of a workload (the one named, or else the first with a memory
/// limit): its name, memory limit and the highest usage of that container seen across its pods.
pub(crate) fn oom_facts(
    ctx: &Context,
    object: &crate::context::ObjectRef,
    only: Option<&str>,
) -> Option<(String, u64, Option<u64>)> {
    let mut found: Option<(String, u64, Option<u64>)> = None;
    for pod in ctx.pods.iter().filter(|p| &ctx.owner_of(p) == object) {
        for cs in pod
            .status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten())
        {
            let oom = [cs.last_state.as_ref(), cs.state.as_ref()]
                .into_iter()
                .flatten()
                .any(|s| {
                    s.terminated.as_ref().and_then(|t| t.reason.as_deref()) == Some("OOMKilled")
                });
            if !oom || only.is_some_and(|name| name != cs.name) {
                continue;
            }
            let Some(limit) = container(pod, &cs.name)
                .and_then(|c| c.resources.as_ref()?.limits.as_ref()?.get("memory"))
                .and_then(|q| quantity::bytes(&q.0))
            else {
                continue;
            };
            let usage = ctx.container_memory(namespace(pod), pod_name(pod), &cs.name);
            let entry = found.get_or_insert((cs.name.clone(), limit, None));
            if entry.0 == cs.name {
                entry.2 = entry.2.max(usage);
            }
        }
    }
    found
}

fn liveness_problem(
    ctx: &Context,
    pod: &Pod,
    cs: &ContainerStatus,
    probe: &Probe,
    failures: Vec<String>,
    mut evidence: Vec<String>,
) -> PodProblem {
    let startup = container(pod, &cs.name).and_then(|c| c.startup_probe.as_ref());
    let delay = probe.initial_delay_seconds.unwrap_or(0);
    let period = probe.period_seconds.unwrap_or(10);
    let threshold = probe.failure_threshold.unwrap_or(3);
    let budget = delay + period * threshold;
    evidence.push(format!(
        "livenessProbe: {}, initialDelaySeconds {delay}, periodSeconds {period}, failureThreshold {threshold}: the container is killed if not healthy within ~{budget}s",
        probe_facts::describe_action(probe)
    ));
    let answer = probe_facts::http_answer("livenessProbe", probe, &failures);
    let status = probe_facts::http_status(&failures);
    evidence.extend(failures.into_iter().take(2));
    evidence.extend(answer);
    for (which, line) in log_lines(ctx, pod, &cs.name).into_iter().take(3) {
        evidence.push(format!("{which} log: {line}"));
    }
    let path = probe
        .http_get
        .as_ref()
        .and_then(|h| h.path.as_deref())
        .unwrap_or("/");
    // Killed within about twice the probe's budget: it never got going. Running well past it,
    // then killed: the check itself fails on a started app, and a startupProbe would not help.
    let ran = cs
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .and_then(|t| {
            Some(
                t.finished_at
                    .as_ref()?
                    .0
                    .duration_since(t.started_at.as_ref()?.0),
            )
        })
        .map(|d| d.as_secs());
    let slow_start = ran.is_none_or(|secs| secs <= 2 * i64::from(budget));
    let (summary, fix) = if status == Some(404) {
        (
            format!(
                "container {} is restarted because its liveness probe asks for {path}, which the app does not serve (HTTP 404)",
                cs.name
            ),
            format!(
                "Point livenessProbe.httpGet.path of container {} at the health endpoint the app really serves (its log shows the paths it answers), or add that endpoint to the app.",
                cs.name
            ),
        )
    } else if startup.is_none() && slow_start {
        (
            format!(
                "container {} is restarted by its liveness probe before it finishes starting (no startupProbe)",
                cs.name
            ),
            format!(
                "Add a startupProbe to container {} with the same check as the liveness probe and failureThreshold x periodSeconds longer than its slowest start (e.g. periodSeconds: 10, failureThreshold: 30 allows 5 minutes); liveness then only starts once it is up.",
                cs.name
            ),
        )
    } else {
        (
            format!(
                "container {} is restarted because its liveness check fails on the running app",
                cs.name
            ),
            format!(
                "The liveness check of container {} ({}) fails after the app has started, so the kubelet kills it each time: fix the check or what it checks in the app (the probe's output is quoted above); raise timeoutSeconds or failureThreshold only if it is merely slow.",
                cs.name,
                probe_facts::describe_action(probe)
            ),
        )
    };
    PodProblem {
        rule: Rule::LivenessRestarts,
        severity: Severity::Error,
        container: cs.name.clone(),
        summary,
        evidence,
        fix,
    }
}

fn image_problem(
    ctx: &Context,
    pod: &Pod,
    cs: &ContainerStatus,
    reason: &str,
    message: &str,
) -> PodProblem {
    let image = container(pod, &cs.name)
        .and_then(|c| c.image.clone())
        .unwrap_or_else(|| cs.image.clone());
    let mut evidence = vec![
        format!("state: waiting ({reason}) {message}")
            .trim()
            .to_string(),
    ];
    let pulls: Vec<String> = ctx
        .events_for("Pod", pod.metadata.namespace.as_deref(), pod_name(pod))
        .filter(|e| e.reason.as_deref() == Some("Failed"))
        .filter_map(|e| e.message.clone())
        .filter(|m| m.contains("pull") || m.contains("image"))
        .take(2)
        .collect();
    let all = format!("{message}\n{}", pulls.join("\n")).to_lowercase();
    evidence.extend(pulls.into_iter().map(|m| format!("event Failed: {m}")));
    let fix = if all.contains("not found") || all.contains("manifest unknown") {
        format!(
            "The image {image} does not exist in its registry: fix the repository or tag of container {} (for a local image on minikube: `minikube image load {image}`).",
            cs.name
        )
    } else if [
        "unauthorized",
        "denied",
        "authentication required",
        "forbidden",
    ]
    .iter()
    .any(|w| all.contains(w))
    {
        format!(
            "The registry refused the node's pull of {image}: create a docker-registry Secret and list it in the pod's imagePullSecrets (or its ServiceAccount's)."
        )
    } else if ["no such host", "i/o timeout", "connection refused", "tls"]
        .iter()
        .any(|w| all.contains(w))
    {
        format!(
            "The node cannot reach the registry of {image}: check the node's DNS, proxy and egress to that registry."
        )
    } else if reason == "InvalidImageName" {
        format!(
            "The image reference {image:?} is not valid: fix it in container {}.",
            cs.name
        )
    } else {
        format!(
            "Check that {image} exists and that this cluster's nodes may pull it (`kubectl describe pod {}{}` shows the kubelet's messages).",
            pod_name(pod),
            super::ns_flag(&crate::context::ObjectRef::of("Pod", &pod.metadata))
        )
    };
    PodProblem {
        rule: Rule::ImagePull,
        severity: Severity::Error,
        container: cs.name.clone(),
        summary: format!("image {image} cannot be pulled ({reason})"),
        evidence,
        fix,
    }
}

fn config_problem(ctx: &Context, pod: &Pod, cs: &ContainerStatus, message: &str) -> PodProblem {
    let ns = namespace(pod);
    let mut evidence = vec![format!(
        "state: waiting (CreateContainerConfigError) {message}"
    )];
    let (summary, fix) = if let Some((kind, name)) = missing_object(message) {
        (
            format!(
                "container {} references {kind} {name:?}, which does not exist",
                cs.name
            ),
            format!(
                "Create the {kind} {name} in namespace {ns} (e.g. `kubectl create {} {name} -n {ns} --from-literal=KEY=VALUE`) or fix the reference in container {}.",
                if kind == "Secret" {
                    "secret generic"
                } else {
                    "configmap"
                },
                cs.name
            ),
        )
    } else if let Some((key, kind, name)) = missing_key(message) {
        let existing = match kind.as_str() {
            "Secret" => ctx.secret(ns, &name),
            _ => ctx.config_map(ns, &name),
        };
        if let Some(obj) = existing {
            evidence.push(format!("{kind} {name} has keys: {}", obj.keys.join(", ")));
        }
        (
            format!(
                "container {} needs key {key} of {kind} {name}, which lacks it",
                cs.name
            ),
            format!(
                "Add key {key} to {kind} {name} in namespace {ns}, or correct the key name in the container's env (secretKeyRef/configMapKeyRef)."
            ),
        )
    } else {
        (
            format!(
                "container {} cannot be created from its configuration",
                cs.name
            ),
            format!(
                "Fix what the kubelet reports for container {}: {message}",
                cs.name
            ),
        )
    };
    PodProblem {
        rule: Rule::ContainerConfig,
        severity: Severity::Error,
        container: cs.name.clone(),
        summary,
        evidence,
        fix,
    }
}

/// `secret "db" not found` / `configmap "cfg" not found`.
pub(crate) fn missing_object(message: &str) -> Option<(&'static str, String)> {
    for (prefix, kind) in [("secret \"", "Secret"), ("configmap \"", "ConfigMap")] {
        if let Some(rest) = message
            .strip_prefix(prefix)
            .or_else(|| message.find(prefix).map(|i| &message[i + prefix.len()..]))
            && let Some((name, tail)) = rest.split_once('"')
            && tail.trim_start().starts_with("not found")
        {
            return Some((kind, name.to_string()));
        }
    }
    None
}

/// `couldn't find key DATABASE_URL in Secret todo-app/db`.
pub(crate) fn missing_key(message: &str) -> Option<(String, String, String)> {
    let rest = &message[message.find("couldn't find key ")? + "couldn't find key ".len()..];
    let (key, rest) = rest.split_once(" in ")?;
    let (kind, path) = rest.trim().split_once(' ')?;
    let name = path.rsplit('/').next()?.trim_end_matches('.');
    Some((key.to_string(), kind.to_string(), name.to_string()))
}

fn start_problem(pod: &Pod, cs: &ContainerStatus, reason: &str, message: &str) -> PodProblem {
    let lower = message.to_lowercase();
    let fix = if lower.contains("executable file not found") || lower.contains("no such file") {
        format!(
            "The command of container {} does not exist in its image: fix `command`/`args` (or the image's entrypoint).",
            cs.name
        )
    } else if lower.contains("permission denied") {
        format!(
            "The entrypoint of container {} is not executable by the user it runs as: fix the file mode in the image or the securityContext.",
            cs.name
        )
    } else {
        format!(
            "Fix what the runtime reports for container {} (`kubectl describe pod {}` shows it in full).",
            cs.name,
            pod_name(pod)
        )
    };
    PodProblem {
        rule: Rule::ContainerStart,
        severity: Severity::Error,
        container: cs.name.clone(),
        summary: format!("container {} cannot start ({reason})", cs.name),
        evidence: vec![format!("state: waiting ({reason}) {message}")],
        fix,
    }
}

fn init_problem(ctx: &Context, pod: &Pod, cs: &ContainerStatus) -> Option<PodProblem> {
    let state = cs.state.as_ref()?;
    if let Some(w) = &state.waiting {
        let reason = w.reason.as_deref().unwrap_or_default();
        let message = w.message.clone().unwrap_or_default();
        match reason {
            "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" => {
                return Some(image_problem(ctx, pod, cs, reason, &message));
            }
            "CreateContainerConfigError" => return Some(config_problem(ctx, pod, cs, &message)),
            "CreateContainerError" | "RunContainerError" | "StartError" => {
                return Some(init_start_problem(pod, cs, reason, &message));
            }
            "CrashLoopBackOff" => {}
            _ => return None,
        }
    }
    if let Some(started) = state.running.as_ref().and_then(|r| r.started_at.as_ref()) {
        return init_stuck_problem(ctx, pod, cs, started);
    }
    let failed = state
        .terminated
        .as_ref()
        .filter(|t| t.exit_code != 0)
        .or_else(|| {
            state.waiting.as_ref()?;
            cs.last_state.as_ref()?.terminated.as_ref()
        })?;
    let lines = log_lines(ctx, pod, &cs.name);
    let facts = log_facts(ctx, pod, &cs.name, &lines);
    let mut evidence = vec![
        termination_line(failed),
        format!("restarts: {}", cs.restart_count),
    ];
    evidence.extend(lines.iter().map(|(which, l)| format!("{which} log: {l}")));
    evidence.extend(facts.evidence);
    Some(PodProblem {
        rule: Rule::InitContainer,
        severity: Severity::Error,
        container: cs.name.clone(),
        summary: format!(
            "init container {} fails (exit code {}), so the pod never starts",
            cs.name, failed.exit_code
        ),
        evidence,
        fix: facts.fix.unwrap_or_else(|| {
            crash_fix(pod, &cs.name, Some(failed.exit_code), Some(failed), &lines)
        }),
    })
}

/// An init container running this long has stopped making progress: a wait-for loop on a
/// dependency that never answers, a migration waiting on a lock.
const INIT_STUCK_MINUTES: i64 = 10;

/// An init container that runs and does not finish: the pod waits behind it (`Init:0/1`), its
/// app containers never start, and only its log says what it waits for.
fn init_stuck_problem(
    ctx: &Context,
    pod: &Pod,
    cs: &ContainerStatus,
    started: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
) -> Option<PodProblem> {
    let minutes = ctx.observed_at.duration_since(started.0).as_secs() / 60;
    if minutes < INIT_STUCK_MINUTES || pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let lines = log_lines(ctx, pod, &cs.name);
    let facts = log_facts(ctx, pod, &cs.name, &lines);
    let mut evidence = vec![format!(
        "state: running for {minutes} minutes, not finished; the app containers wait for it"
    )];
    if let Some(c) = container(pod, &cs.name) {
        let command: Vec<&str> = c
            .command
            .iter()
            .flatten()
            .chain(c.args.iter().flatten())
            .map(String::as_str)
            .collect();
        if !command.is_empty() {
            evidence.push(format!(
                "command: {}",
                keyline::first_line(&command.join(" "))
            ));
        }
    }
    evidence.extend(lines.iter().map(|(which, l)| format!("{which} log: {l}")));
    evidence.extend(facts.evidence);
    Some(PodProblem {
        rule: Rule::InitContainer,
        severity: Severity::Error,
        container: cs.name.clone(),
        summary: format!(
            "init container {} has run for {minutes} minutes without finishing, so the pod never starts",
            cs.name
        ),
        evidence,
        fix: facts.fix.unwrap_or_else(|| format!(
            "Find what init container {} waits for (`kubectl logs {} -c {} -n {}`): usually a dependency it polls that does not exist or never answers; fix that dependency or the name it polls.",
            cs.name,
            pod_name(pod),
            cs.name,
            namespace(pod)
        )),
    })
}

/// An init container the runtime cannot start: the pod never gets to its app containers.
fn init_start_problem(pod: &Pod, cs: &ContainerStatus, reason: &str, message: &str) -> PodProblem {
    let mut p = start_problem(pod, cs, reason, message);
    p.rule = Rule::InitContainer;
    let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
    if let Some(t) = last {
        p.evidence.push(termination_line(t));
    }
    p.evidence.push(format!("restarts: {}", cs.restart_count));
    let code = last
        .map(|t| format!(" (exit code {})", t.exit_code))
        .unwrap_or_default();
    p.summary = format!(
        "init container {} cannot start ({reason}){code}, so the pod never starts",
        cs.name
    );
    p
}

fn termination_line(t: &ContainerStateTerminated) -> String {
    let mut line = format!(
        "last termination: {}, exit code {}",
        t.reason.as_deref().unwrap_or("unknown reason"),
        t.exit_code
    );
    if let Some(m) = exit_meaning(t.exit_code) {
        line.push_str(&format!(" ({m})"));
    }
    if let Some(msg) = t.message.as_deref().filter(|m| !m.trim().is_empty()) {
        line.push_str(&format!(": {}", keyline::first_line(msg)));
    }
    line
}

/// What common exit codes mean, as an operator would say it.
pub(crate) fn exit_meaning(code: i32) -> Option<&'static str> {
    Some(match code {
        1 => "application error",
        2 => "misuse of shell builtin or bad arguments",
        126 => "command not executable",
        127 => "command not found",
        128 => "invalid exit argument",
        134 => "SIGABRT: aborted",
        137 => "SIGKILL: killed, by the OOM killer or after a failed liveness probe",
        139 => "SIGSEGV: segmentation fault",
        143 => "SIGTERM: asked to stop",
        _ => return None,
    })
}

/// The lines of a container's logs that explain a failure, newest run first: the previous log of
/// a restarted container is where its crash is written.
pub(crate) fn log_lines(ctx: &Context, pod: &Pod, container: &str) -> Vec<(&'static str, String)> {
    let Some(logs) = ctx.logs_of(namespace(pod), pod_name(pod), container) else {
        return vec![];
    };
    let (which, text) = match (&logs.previous, &logs.current) {
        (Some(p), _) if !p.trim().is_empty() => ("previous", p),
        (_, Some(c)) => ("current", c),
        (Some(p), None) => ("previous", p),
        (None, None) => return vec![],
    };
    error_lines(text, 5)
        .into_iter()
        .map(|l| (which, l))
        .collect()
}

/// The lines that explain a log's errors (see [`keyline`]).
pub(crate) fn error_lines(log: &str, max: usize) -> Vec<String> {
    keyline::key_lines(log, max)
}

/// What a container's failing log lines point at beyond themselves, and the fix that follows.
pub(crate) struct LogFacts {
    pub evidence: Vec<String>,
    pub fix: Option<String>,
}

/// Cross-references for a container's log lines: a host no Service answers to (and the one most
/// likely meant), a request the API server refuses to the pod's ServiceAccount.
pub(crate) fn log_facts(
    ctx: &Context,
    pod: &Pod,
    container: &str,
    lines: &[(&str, String)],
) -> LogFacts {
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    if let Some(u) = super::hosts::unresolved(ctx, pod, container, &text) {
        let fix = u.nearest.as_ref().map(|n| {
            format!(
                "Container {container} asks for host {}, which no Service in {} answers to: point it at Service {n} (the nearest name) where that host is set, or create the Service it expects.",
                u.host,
                namespace(pod)
            )
        });
        return LogFacts {
            evidence: u.evidence,
            fix,
        };
    }
    if let Some(clipped) = text.iter().find_map(|l| super::access::refusal(l)) {
        // Key lines are clipped; the log's own line keeps its end ("at the cluster scope").
        let logs = ctx.logs_of(namespace(pod), pod_name(pod), container);
        let r = logs
            .into_iter()
            .flat_map(|l| [l.current.as_deref(), l.previous.as_deref()])
            .flatten()
            .flat_map(str::lines)
            .filter_map(super::access::refusal)
            .find(|f| {
                (&f.account, &f.verb, &f.resource)
                    == (&clipped.account, &clipped.verb, &clipped.resource)
            })
            .unwrap_or(clipped);
        let grants = super::access::grants(ctx, &r);
        let fix = grants
            .as_ref()
            .and_then(|g| {
                let extend = g.short.as_ref().map(|(role, ns)| r.extend_fix(role, ns));
                let subject = || g.misnamed.as_ref().map(|edit| r.subject_fix(edit));
                let bind = || {
                    g.unbound
                        .as_ref()
                        .map(|(kind, role)| r.bind_fix(kind, role))
                };
                extend.or_else(subject).or_else(bind)
            })
            .unwrap_or_else(|| r.fix());
        let mut evidence = vec![r.evidence()];
        evidence.extend(grants.into_iter().flat_map(|g| g.evidence));
        return LogFacts {
            evidence,
            fix: Some(fix),
        };
    }
    LogFacts {
        evidence: vec![],
        fix: None,
    }
}

/// The setting pydantic says is missing: the field line before "Field required".
fn missing_field(lines: &[(&str, String)]) -> Option<String> {
    let at = lines
        .iter()
        .position(|(_, l)| l.starts_with("Field required"))?;
    let field = &lines.get(at.checked_sub(1)?)?.1;
    (!field.contains(' ')).then(|| field.clone())
}

fn crash_fix(
    pod: &Pod,
    container: &str,
    exit: Option<i32>,
    last: Option<&ContainerStateTerminated>,
    lines: &[(&str, String)],
) -> String {
    let text = lines
        .iter()
        .map(|(_, l)| l.as_str())
        .chain(last.and_then(|t| t.message.as_deref()))
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
    let logs_cmd = format!(
        "`kubectl logs {} -c {container} --previous -n {}`",
        pod_name(pod),
        namespace(pod)
    );
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if exit == Some(127) || has(&["executable file not found", "command not found"]) {
        format!(
            "The command of container {container} does not exist in its image: fix `command`/`args` or the image."
        )
    } else if exit == Some(126) {
        format!(
            "The entrypoint of container {container} is not executable: fix its file mode in the image."
        )
    } else if has(&[
        "connection refused",
        "could not connect",
        "could not translate host name",
        "name or service not known",
        "no such host",
        "temporary failure in name resolution",
        "connection timed out",
    ]) {
        format!(
            "Container {container} cannot reach a service it needs at startup: check that the host and port in its configuration are right and that the Service there has ready endpoints (`kubectl get endpoints -n {}`). Full log: {logs_cmd}.",
            namespace(pod)
        )
    } else if has(&[
        "flag provided but not defined",
        "unknown flag",
        "unrecognized option",
        "unrecognized arguments",
    ]) {
        format!(
            "Container {container} is started with a flag its program does not know (quoted above): fix `args`/`command` to the flags this image's version accepts (its usage text lists them). Full log: {logs_cmd}."
        )
    } else if let Some(field) = missing_field(lines) {
        format!(
            "Container {container} refuses to start without setting {field} (a required field of its settings): set env {} (or its source ConfigMap/Secret key) for container {container}. Full log: {logs_cmd}.",
            field.to_uppercase()
        )
    } else if has(&[
        "keyerror",
        "environment variable",
        "is not set",
        "missing required",
        "must be set",
        "validationerror",
    ]) {
        format!(
            "Container {container} is missing a setting it requires: check its env/envFrom and the ConfigMaps and Secrets they reference. Full log: {logs_cmd}."
        )
    } else if has(&["read-only file system", "permission denied"]) {
        format!(
            "Container {container} writes where it may not: mount an emptyDir at the path it writes, or adjust its securityContext. Full log: {logs_cmd}."
        )
    } else {
        let code = exit.map(|c| format!(" with code {c}")).unwrap_or_default();
        format!(
            "Container {container} exits{code}: read why in {logs_cmd} and fix the error it ends with."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubelet_config_messages() {
        assert_eq!(
            missing_object("secret \"db-credentials\" not found"),
            Some(("Secret", "db-credentials".to_string()))
        );
        assert_eq!(
            missing_object("configmap \"app\" not found"),
            Some(("ConfigMap", "app".to_string()))
        );
        assert_eq!(
            missing_key("couldn't find key DATABASE_URL in Secret todo-app/db"),
            Some(("DATABASE_URL".into(), "Secret".into(), "db".into()))
        );
    }
}
