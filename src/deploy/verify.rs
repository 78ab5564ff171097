//! Is it healthy, through the API only: rollouts complete in dependency order (database, backend,
//! frontend), every Service has ready endpoints, and the backend answers `/ready` through the API
//! server's service proxy, so the check works from a laptop without any port-forward.

use std::io::Write;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Endpoints, Node, Service};
use kube::Api;
use serde_json::Value;

use super::survey::{Flavour, Survey};
use crate::cluster::live::Cluster;
use crate::context::ObjectRef;
use crate::error::Error;
use crate::plan::execute;
use crate::ui::{Palette, Spinner};

/// The app's workloads in the order they depend on each other.
const ORDER: &[(&str, &str, &str)] = &[
    ("StatefulSet", "postgres", "database"),
    ("Deployment", "todo-backend", "backend"),
    ("Deployment", "todo-frontend", "frontend"),
];

fn present(objects: &[Value], kind: &str, name: &str) -> bool {
    objects
        .iter()
        .any(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

pub(crate) async fn todo_app(
    cluster: &Cluster,
    namespace: &str,
    objects: &[Value],
    timeout: Duration,
    id: Option<&str>,
    p: &Palette,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let started = Instant::now();
    let left = || {
        timeout
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(1))
    };
    let io = |e: std::io::Error| Error::Usage(format!("writing output: {e}"));
    for (i, (kind, name, label)) in ORDER.iter().enumerate() {
        if !present(objects, kind, name) {
            continue;
        }
        let target = ObjectRef::new(kind, Some(namespace), name);
        execute::wait_rollout(cluster, &target, left(), id.unwrap_or("-")).await?;
        writeln!(
            out,
            "{} {label} ready ({}/{}): {target}",
            p.good("✓"),
            i + 1,
            ORDER.len()
        )
        .map_err(io)?;
    }
    let services: Vec<&str> = objects
        .iter()
        .filter(|o| o["kind"] == "Service")
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    let api: Api<Endpoints> = Api::namespaced(cluster.client.clone(), namespace);
    {
        let _s = Spinner::start("Waiting for the Services' endpoints…".into());
        for svc in &services {
            loop {
                let ready = api
                    .get_opt(svc)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|e| e.subsets)
                    .is_some_and(|s| {
                        s.iter()
                            .any(|s| s.addresses.as_ref().is_some_and(|a| !a.is_empty()))
                    });
                if ready {
                    break;
                }
                if started.elapsed() > timeout {
                    return Err(Error::Unhealthy {
                        app: format!("service/{svc} -n {namespace} has no ready endpoints"),
                        undo: String::new(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    writeln!(
        out,
        "{} endpoints ready: {}",
        p.good("✓"),
        services.join(", ")
    )
    .map_err(io)?;
    if present(objects, "Service", "todo-backend") {
        let path = format!("/api/v1/namespaces/{namespace}/services/todo-backend:http/proxy/ready");
        let request = http::Request::get(&path)
            .body(Vec::new())
            .map_err(|e| Error::Usage(e.to_string()))?;
        match cluster.client.request_text(request).await {
            Ok(_) => writeln!(
                out,
                "{} backend answers /ready through the API server",
                p.good("✓")
            )
            .map_err(io)?,
            Err(e) => {
                return Err(Error::Unhealthy {
                    app: format!(
                        "the backend did not answer /ready through the service proxy ({})",
                        e.to_string().lines().next().unwrap_or_default()
                    ),
                    undo: String::new(),
                });
            }
        }
    }
    Ok(())
}

/// How to reach the frontend, for the way it is exposed here.
pub(crate) async fn reach(
    cluster: &Cluster,
    found: &Survey,
    namespace: &str,
    objects: &[Value],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    writeln!(out, "\ntodo-app is up. Reach it:")?;
    let svc = Api::<Service>::namespaced(cluster.client.clone(), namespace)
        .get_opt("todo-frontend")
        .await
        .ok()
        .flatten();
    let spec = svc
        .as_ref()
        .and_then(|s| s.spec.clone())
        .unwrap_or_default();
    match spec.type_.as_deref() {
        Some("NodePort") => {
            let port = spec
                .ports
                .iter()
                .flatten()
                .find_map(|p| p.node_port)
                .map(|p| p.to_string())
                .unwrap_or_else(|| "(assigned)".into());
            if found.nodes.flavour == Flavour::Minikube {
                writeln!(
                    out,
                    "  minikube service todo-frontend -n {namespace}    (NodePort {port})"
                )?;
            } else {
                let ip = Api::<Node>::all(cluster.client.clone())
                    .list(&Default::default())
                    .await
                    .ok()
                    .and_then(|l| l.items.into_iter().next())
                    .and_then(|n| {
                        n.status?
                            .addresses?
                            .into_iter()
                            .find(|a| a.type_ == "InternalIP")
                    })
                    .map(|a| a.address)
                    .unwrap_or_else(|| "NODE-IP".into());
                writeln!(out, "  http://{ip}:{port}")?;
            }
        }
        Some("LoadBalancer") => {
            let address = svc
                .and_then(|s| s.status?.load_balancer?.ingress?.into_iter().next())
                .and_then(|i| i.ip.or(i.hostname));
            let port = spec.ports.iter().flatten().next().map_or(80, |p| p.port);
            match address {
                Some(a) => writeln!(out, "  http://{a}:{port}")?,
                None => writeln!(
                    out,
                    "  the load balancer's address is still pending: kubectl get svc todo-frontend -n {namespace} -w"
                )?,
            }
        }
        _ => {}
    }
    if let Some(host) = objects
        .iter()
        .find(|o| o["kind"] == "Ingress")
        .and_then(|o| o.pointer("/spec/rules/0/host"))
        .and_then(Value::as_str)
    {
        let hosts = if found.nodes.flavour == Flavour::Minikube {
            format!(
                "  (add it to /etc/hosts: echo \"$(minikube ip) {host}\" | sudo tee -a /etc/hosts)"
            )
        } else {
            String::new()
        };
        writeln!(out, "  http://{host}{hosts}")?;
    }
    writeln!(
        out,
        "  kubectl port-forward -n {namespace} svc/todo-frontend 3000:3000, then http://localhost:3000"
    )?;
    Ok(())
}
