//! What the kubelet says about probes, read by both the pod analyzer (a liveness kill) and the
//! probe analyzer (a probe that fails): its probe events, and a probe's action and HTTP answer
//! in the words of evidence lines.

use crate::context::Pod;
use k8s_openapi::api::core::v1::Probe;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{keyline, pod_name};
use crate::context::Context;

/// Unhealthy events of one container's probe of one kind ("Liveness", "Readiness", "Startup").
pub(crate) fn probe_failures(ctx: &Context, pod: &Pod, container: &str, kind: &str) -> Vec<String> {
    let field = format!("{{{container}}}");
    let prefix = format!("{kind} probe failed");
    ctx.events_for("Pod", pod.metadata.namespace.as_deref(), pod_name(pod))
        .filter(|e| e.reason.as_deref() == Some("Unhealthy"))
        .filter(|e| {
            e.involved_object
                .field_path
                .as_deref()
                .is_none_or(|f| f.contains(&field))
        })
        .filter_map(|e| {
            let m = e.message.as_deref()?;
            m.starts_with(&prefix).then(|| {
                let count = crate::context::event_count(e);
                let times = if count > 1 {
                    format!(" (x{count})")
                } else {
                    String::new()
                };
                format!("event Unhealthy{times}: {}", keyline::first_line(m))
            })
        })
        .collect()
}

/// "httpGet :8000/health", for evidence lines.
pub(crate) fn describe_action(probe: &Probe) -> String {
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

/// The HTTP status the kubelet quotes in probe failure events ("... with statuscode: 404").
pub(crate) fn http_status(failures: &[String]) -> Option<u16> {
    failures.iter().find_map(|f| {
        let rest = &f[f.find("statuscode: ")? + "statuscode: ".len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    })
}

/// For an HTTP probe whose failures quote a status code: the path probed and what it answered.
pub(crate) fn http_answer(field: &str, probe: &Probe, failures: &[String]) -> Option<String> {
    let get = probe.http_get.as_ref()?;
    let code = http_status(failures)?;
    let meaning = match code {
        404 => " (Not Found): the app serves no such path; fix the probe's path",
        401 | 403 => {
            " (refused): the endpoint wants authentication; probe an unauthenticated health path"
        }
        500 => " (Internal Server Error): the app's own health check fails; its log says why",
        503 => {
            " (Service Unavailable): the app reports itself not ready, often a dependency it checks"
        }
        _ => "",
    };
    Some(format!(
        "{field} GET {}{} answers HTTP {code}{meaning}",
        get.path.as_deref().unwrap_or("/"),
        match &get.port {
            IntOrString::Int(n) => format!(" on port {n}"),
            IntOrString::String(s) => format!(" on port {s}"),
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_probe_failures_name_path_and_status() {
        let probe = Probe {
            http_get: Some(k8s_openapi::api::core::v1::HTTPGetAction {
                path: Some("/healthz".into()),
                port: IntOrString::Int(8080),
                ..Default::default()
            }),
            ..Default::default()
        };
        let failures = [
            "event Unhealthy (x12): Liveness probe failed: HTTP probe failed with statuscode: 404"
                .to_string(),
        ];
        let line = http_answer("livenessProbe", &probe, &failures).unwrap();
        assert!(
            line.starts_with(
                "livenessProbe GET /healthz on port 8080 answers HTTP 404 (Not Found)"
            ),
            "{line}"
        );
        assert!(
            http_answer(
                "livenessProbe",
                &probe,
                &["event Unhealthy: Liveness probe failed: dial tcp: connection refused".into()]
            )
            .is_none()
        );
    }
}
