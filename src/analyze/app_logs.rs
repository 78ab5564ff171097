//! Ready pods whose logs keep failing: a Job that runs and logs "connection refused" forever, an
//! app that passes its probes but cannot resolve its database on every request.
//!
//! Kubernetes sees nothing wrong with these, so only their current logs tell. A line or two is
//! noise; the same kind of failure repeated is a warning on the workload.

use super::{Finding, Grouper, PodProblem, Rule, Severity, hosts, keyline, namespace, pod_name};
use crate::context::Context;

/// Failing lines needed before a running container's log is a finding.
const REPEATED: usize = 3;

pub(super) fn analyze(ctx: &Context) -> Vec<Finding> {
    let mut groups = Grouper::default();
    for (pod, cs) in super::running_containers(ctx) {
        // A restarting container is the crash analyzers' story.
        if cs.restart_count > 0 && !cs.ready {
            continue;
        }
        let Some(log) = ctx
            .logs_of(namespace(pod), pod_name(pod), &cs.name)
            .and_then(|l| l.current.as_deref())
        else {
            continue;
        };
        let failing: Vec<&str> = log.lines().filter(|l| is_failure(l)).collect();
        if failing.len() < REPEATED {
            continue;
        }
        let total = log.lines().filter(|l| !l.trim().is_empty()).count();
        let mut evidence = vec![format!(
            "{} of the last {total} lines of its current log report failures",
            failing.len()
        )];
        let key: Vec<(&str, String)> = distinct(keyline::key_lines(log, 12))
            .into_iter()
            .map(|l| ("current", l))
            .collect();
        let facts = super::pods::log_facts(ctx, pod, &cs.name, &key);
        evidence.extend(key.iter().map(|(which, l)| format!("{which} log: {l}")));
        evidence.extend(facts.evidence);
        let what = if cs.ready { "is ready" } else { "runs" };
        groups.add(
                ctx,
                pod,
                PodProblem {
                    rule: Rule::LogErrors,
                    severity: Severity::Warning,
                    container: cs.name.clone(),
                    summary: format!(
                        "container {} {what} but its log keeps reporting failures",
                        cs.name
                    ),
                    evidence,
                    fix: facts.fix.unwrap_or_else(|| format!(
                        "Read what container {} fails to do (`kubectl logs {} -c {} -n {}`): a dependency it cannot reach, a setting it lacks; fix that dependency or setting.",
                        cs.name,
                        pod_name(pod),
                        cs.name,
                        namespace(pod)
                    )),
                },
            );
    }
    groups.finish(ctx)
}

/// The newest three lines that say different things: a line repeated every 30 seconds is quoted
/// once, whatever its timestamp.
fn distinct(lines: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out: Vec<String> = lines
        .into_iter()
        .rev()
        .filter(|l| seen.insert(without_time(l).to_string()))
        .take(3)
        .collect();
    out.reverse();
    out
}

/// A line without its leading timestamp and log-level prefix (`2026-11-20T09:58:35Z`, klog's
/// `E1120 09:41:03.324682       1`).
fn without_time(line: &str) -> &str {
    let mut rest = line;
    for _ in 0..3 {
        let token = rest.split_whitespace().next().unwrap_or_default();
        let stamp = token.chars().any(|c| c.is_ascii_digit())
            && token
                .chars()
                .all(|c| c.is_ascii_digit() || "-:.TZEIWF+".contains(c));
        if !stamp {
            break;
        }
        rest = rest.trim_start()[token.len()..].trim_start();
    }
    rest
}

/// A line reporting a failure worth repeating to an operator: an unreachable dependency, a
/// server error answered, a stack trace.
pub(crate) fn is_failure(line: &str) -> bool {
    let lower = line.to_lowercase();
    let server_error = [
        "http/1.1\" 5",
        "http/1.0\" 5",
        "http/2.0\" 5",
        "http/2\" 5",
        " status=5",
        "\"status\":5",
        "status code 5",
        "statuscode: 5",
    ]
    .iter()
    .any(|w| lower.contains(w));
    let trace = [
        "traceback (most recent call last)",
        "exception in thread",
        "panic: ",
        "unhandled exception",
        "uncaughtexception",
    ]
    .iter()
    .any(|w| lower.contains(w));
    server_error
        || trace
        || hosts::is_connection_error(line)
        || super::access::refusal(line).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_unreachable_dependencies_server_errors_and_traces() {
        assert!(is_failure(
            "dial tcp: lookup postgres on 10.96.0.10:53: no such host"
        ));
        assert!(is_failure(
            "10.244.0.1 - - \"GET /api/todos HTTP/1.1\" 503 12"
        ));
        assert!(is_failure("Traceback (most recent call last):"));
        assert!(!is_failure("GET /healthz 200 OK"));
        assert!(!is_failure("I1120 10:00:00 server.go:42] Serving on :8443"));
        assert_eq!(
            distinct(vec![
                "2026-11-20T09:58:35Z ERROR ping: no such host".into(),
                "2026-11-20T09:59:05Z ERROR ping: no such host".into(),
            ]),
            ["2026-11-20T09:59:05Z ERROR ping: no such host"]
        );
    }
}
