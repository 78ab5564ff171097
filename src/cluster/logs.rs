//! Which container logs are worth reading, how much of them, and kubectl's dump format for them.
//!
//! Logs are the most expensive evidence to collect and the easiest to drown in, so both sources
//! apply the same rules: unhealthy containers always; running containers where a person would
//! read them too (a small namespace, a running Job, a pod with restarts or warning events, or
//! everywhere with `--logs`), bounded to one extra wave of requests on a cluster-wide run; only a
//! couple of pods per workload (replicas of one Deployment fail the same way), and only a
//! bounded tail of each.

use std::collections::{BTreeMap, HashMap};

use crate::context::{ContainerStatus, Pod};

use crate::context::{Context, ObjectRef};
use crate::target::Target;

/// How much of the logs is read: which running containers (see [`Reach`]), and how much of each
/// log is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    pub lines: usize,
    pub bytes: usize,
    pub reach: Reach,
}

impl Tail {
    /// No logs: for callers that need the objects, not the evidence.
    pub const NONE: Tail = Tail {
        lines: 0,
        bytes: 0,
        reach: Reach::DEFAULT,
    };
}

impl Default for Tail {
    fn default() -> Self {
        Tail {
            lines: 200,
            bytes: 64 * 1024,
            reach: Reach::DEFAULT,
        }
    }
}

/// Which running (healthy-looking) containers get their current log read, besides the unhealthy
/// ones that always do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// `--logs`: every running container (still two pods per workload).
    pub all: bool,
    /// A scope (namespace, or a whole small cluster) with at most this many pods has every running
    /// container read (`--log-pods`).
    pub namespace_pods: usize,
    /// `diagnose TARGET`: the pods behind it have every running container read, whatever the size
    /// of the namespace (a target is as small a scope as there is).
    pub target: Option<Target>,
}

impl Reach {
    pub const DEFAULT: Reach = Reach {
        all: false,
        namespace_pods: 50,
        target: None,
    };
}

impl Default for Reach {
    fn default() -> Self {
        Reach::DEFAULT
    }
}

/// Running containers read on a signal alone (a large namespace, a cluster-wide run): one extra
/// wave of the live source's parallel log requests, so collection time grows by one round trip.
pub(crate) const SIGNALLED_LOGS: usize = 32;

impl Tail {
    /// Keeps the end of `text`: the last `lines` lines, then at most `bytes` bytes, cut at a line
    /// start so no line is ever half-shown. The end is where a crash explains itself.
    pub fn apply(&self, text: &str) -> String {
        let body = text.strip_suffix('\n').unwrap_or(text);
        let mut start = body
            .rmatch_indices('\n')
            .nth(self.lines.saturating_sub(1))
            .map_or(0, |(i, _)| i + 1);
        if text.len() - start > self.bytes {
            let mut min = text.len() - self.bytes;
            while !text.is_char_boundary(min) {
                min += 1;
            }
            start = if text.as_bytes()[min - 1] == b'\n' {
                min
            } else {
                match text[min..].find('\n') {
                    Some(off) if min + off + 1 < text.len() => min + off + 1,
                    // One huge final line: keep its end rather than nothing.
                    _ => min,
                }
            };
        }
        text[start..].to_string()
    }
}

/// One log to read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct LogTarget {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub previous: bool,
}

/// How many pods of one workload get their logs read, per container.
pub(crate) const PODS_PER_WORKLOAD: usize = 2;

/// The logs diagnosis needs: current and previous logs of unhealthy containers, then current
/// logs of running ones as [`Reach`] allows, for at most [`PODS_PER_WORKLOAD`] pods of each
/// workload.
pub(crate) fn targets(ctx: &Context, tail: &Tail) -> Vec<LogTarget> {
    let mut per_workload: HashMap<(ObjectRef, String), usize> = HashMap::new();
    let mut out = Vec::new();
    let take = |pod: &Pod, container: &str, per_workload: &mut HashMap<_, usize>| {
        let seen = per_workload
            .entry((ctx.owner_of(pod), container.to_string()))
            .or_default();
        *seen += 1;
        *seen <= PODS_PER_WORKLOAD
    };
    for pod in &ctx.pods {
        for status in statuses(pod) {
            if !is_unhealthy(pod, status) || !take(pod, &status.name, &mut per_workload) {
                continue;
            }
            if has_run(status) {
                out.push(target(pod, &status.name, false));
            }
            if status.restart_count > 0 && last_terminated(status) {
                out.push(target(pod, &status.name, true));
            }
        }
    }
    // What a small scope costs is what a namespace of that many pods costs, whatever -A says.
    let every = tail.reach.all || ctx.pods.len() <= tail.reach.namespace_pods;
    let focus: Vec<&Pod> = match &tail.reach.target {
        Some(t) if !every => t.pods(ctx),
        _ => Vec::new(),
    };
    let focused = |pod: &Pod| focus.iter().any(|p| std::ptr::eq(*p, pod));
    let mut signalled = 0;
    for pod in &ctx.pods {
        let asked = every || focused(pod);
        if !asked && !signalled_pod(ctx, pod) {
            continue;
        }
        for status in statuses(pod).filter(|s| running(s) && !is_unhealthy(pod, s)) {
            if !asked && signalled >= SIGNALLED_LOGS {
                break;
            }
            if take(pod, &status.name, &mut per_workload) {
                out.push(target(pod, &status.name, false));
                signalled += usize::from(!asked);
            }
        }
    }
    out
}

fn target(pod: &Pod, container: &str, previous: bool) -> LogTarget {
    LogTarget {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        pod: pod.metadata.name.clone().unwrap_or_default(),
        container: container.to_string(),
        previous,
    }
}

fn running(status: &ContainerStatus) -> bool {
    status.state.as_ref().is_some_and(|s| s.running.is_some())
}

/// A running pod another signal points at: a Job's (it runs until it succeeds), one that has
/// restarted, one with warning events.
fn signalled_pod(ctx: &Context, pod: &Pod) -> bool {
    let job = ctx.owner_of(pod).kind.ends_with("Job");
    let restarted = statuses(pod).any(|s| s.restart_count > 0);
    let warned = ctx
        .events_for(
            "Pod",
            pod.metadata.namespace.as_deref(),
            pod.metadata.name.as_deref().unwrap_or_default(),
        )
        .next()
        .is_some();
    job || restarted || warned
}

fn statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    let status = pod.status.as_ref();
    let init = status.and_then(|s| s.init_container_statuses.as_deref());
    let main = status.and_then(|s| s.container_statuses.as_deref());
    init.unwrap_or_default()
        .iter()
        .chain(main.unwrap_or_default())
}

/// A container whose logs could explain a problem. Containers still being created, and the
/// clean exits of finished Jobs, are not.
pub(crate) fn is_unhealthy(pod: &Pod, status: &ContainerStatus) -> bool {
    let state = status.state.as_ref();
    if let Some(waiting) = state.and_then(|s| s.waiting.as_ref()) {
        let reason = waiting.reason.as_deref().unwrap_or_default();
        return !matches!(reason, "ContainerCreating" | "PodInitializing" | "");
    }
    if let Some(done) = state.and_then(|s| s.terminated.as_ref()) {
        return done.exit_code != 0;
    }
    let terminating = pod.metadata.deletion_timestamp.is_some();
    status.restart_count > 0 || (!status.ready && !terminating && status.started == Some(true))
}

/// The container has run at least once, so the kubelet has a log to serve.
fn has_run(status: &ContainerStatus) -> bool {
    let state = status.state.as_ref();
    state.is_some_and(|s| s.running.is_some() || s.terminated.is_some()) || last_terminated(status)
}

fn last_terminated(status: &ContainerStatus) -> bool {
    status
        .last_state
        .as_ref()
        .is_some_and(|s| s.terminated.is_some())
}

/// Splits a `kubectl cluster-info dump` logs.txt into container name -> text.
///
/// kubectl frames each container as
/// `==== START logs for container C of pod NS/P ====` ... `==== END logs for container C of pod NS/P ====`.
pub fn parse_dump(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        if let Some(container) = marker(trimmed, "START") {
            current = Some((container.to_string(), String::new()));
        } else if marker(trimmed, "END").is_some() {
            if let Some((name, body)) = current.take() {
                out.insert(name, body);
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
        }
    }
    // A dump cut off mid-container (disk full, Ctrl-C) still yields what it had.
    if let Some((name, body)) = current {
        out.insert(name, body);
    }
    out
}

fn marker<'a>(line: &'a str, which: &str) -> Option<&'a str> {
    let rest = line
        .strip_prefix("==== ")?
        .strip_prefix(which)?
        .strip_prefix(" logs for container ")?;
    let (container, _) = rest.split_once(" of pod ")?;
    line.ends_with(" ====").then_some(container)
}

/// Writes one container's block in kubectl's dump format.
pub fn dump_block(namespace: &str, pod: &str, container: &str, body: &str) -> String {
    let mut out =
        format!("==== START logs for container {container} of pod {namespace}/{pod} ====\n");
    out.push_str(body);
    if !body.is_empty() && !body.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&format!(
        "==== END logs for container {container} of pod {namespace}/{pod} ====\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines_whole() {
        let text: String = (1..=10).map(|i| format!("line {i}\n")).collect();
        let tail = Tail {
            lines: 3,
            bytes: 1000,
            reach: Reach::DEFAULT,
        };
        assert_eq!(tail.apply(&text), "line 8\nline 9\nline 10\n");
        let tail = Tail {
            lines: 100,
            bytes: 16,
            reach: Reach::DEFAULT,
        };
        assert_eq!(tail.apply(&text), "line 9\nline 10\n");
        let tail = Tail {
            lines: 100,
            bytes: 1000,
            reach: Reach::DEFAULT,
        };
        assert_eq!(tail.apply(&text), text);
        let huge = "x".repeat(100);
        assert_eq!(
            Tail {
                lines: 5,
                bytes: 10,
                reach: Reach::DEFAULT,
            }
            .apply(&huge)
            .len(),
            10
        );
    }

    #[test]
    fn running_containers_are_read_in_small_scopes_or_when_asked() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/scenarios/healthy");
        let ctx = crate::cluster::snapshot::load(
            &crate::cluster::snapshot::Root::Dir(dir),
            None,
            Tail::NONE,
        )
        .unwrap();
        let small = targets(&ctx, &Tail::default());
        assert!(!small.is_empty());
        assert!(small.iter().all(|t| !t.previous));
        let large = Tail {
            reach: Reach {
                namespace_pods: 0,
                ..Reach::DEFAULT
            },
            ..Tail::default()
        };
        assert!(
            targets(&ctx, &large).is_empty(),
            "nothing points at a healthy pod"
        );
        let asked = Tail {
            reach: Reach {
                all: true,
                namespace_pods: 0,
                target: None,
            },
            ..Tail::default()
        };
        assert_eq!(targets(&ctx, &asked), small);
        // A target is read whatever the size of its namespace: its pods, and only those.
        let focused = Tail {
            reach: Reach {
                target: Some(crate::target::Target::parse("deploy/todo-backend").unwrap()),
                ..large.reach.clone()
            },
            ..Tail::default()
        };
        let read = targets(&ctx, &focused);
        assert_eq!(read.len(), 2, "{read:?}");
        assert!(
            read.iter()
                .all(|t| t.pod.starts_with("todo-backend-") && !t.previous)
        );
        // Two pods per workload and container, however many replicas run.
        let mut per: HashMap<(String, String), usize> = HashMap::new();
        for t in &small {
            let pod = ctx
                .pods
                .iter()
                .find(|p| p.metadata.name.as_deref() == Some(&t.pod))
                .unwrap();
            *per.entry((ctx.owner_of(pod).to_string(), t.container.clone()))
                .or_default() += 1;
        }
        assert!(per.values().all(|n| *n <= PODS_PER_WORKLOAD));
    }

    #[test]
    fn parses_kubectl_dump_blocks() {
        let text = format!(
            "{}{}",
            dump_block("app", "web-1", "web", "started\nboom\n"),
            dump_block("app", "web-1", "sidecar", "")
        );
        let parsed = parse_dump(&text);
        assert_eq!(parsed["web"], "started\nboom\n");
        assert_eq!(parsed["sidecar"], "");
        assert_eq!(parsed.len(), 2);
    }
}
