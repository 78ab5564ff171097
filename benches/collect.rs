//! Collection and diagnosis at scale, against the fake API server with injected latency, beside
//! the kubectl calls a person would make for the same answer.
//!
//! Run: `cargo bench --bench collect` (add `-- --latency-ms 20 --namespaces 20` to change the
//! shape). It reports wall time, API requests, and peak memory (max RSS of the process), for
//! `kubectl ai diagnose -A` and for the baseline: `kubectl get pods -A`, `kubectl get events -A`,
//! then `kubectl describe pod` and `kubectl logs` (current and previous) of each failing pod.
//! The baseline needs .tools/bin/kubectl (`bash .ci/install-tools`); it is skipped with a notice
//! when kubectl is missing.

#[path = "../tests/support/fake_api.rs"]
mod fake_api;
#[path = "../tests/support/server.rs"]
mod server;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use fake_api::FakeApi;
use kubectl_ai::cluster::kinds;
use serde_json::{Value, json};

struct Shape {
    namespaces: usize,
    /// Healthy deployments per namespace, each with `replicas` pods.
    healthy: usize,
    replicas: usize,
    /// One more deployment per namespace, of this many pods: crash-looping in every other one.
    failing_replicas: usize,
    latency: Duration,
}

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1)?.parse().ok())
}

fn main() {
    let shape = Shape {
        namespaces: arg("--namespaces").unwrap_or(20) as usize,
        healthy: 5,
        replicas: 9,
        failing_replicas: 5,
        latency: Duration::from_millis(arg("--latency-ms").unwrap_or(20)),
    };
    let api = FakeApi::empty();
    let (pods, events, failing) = populate(&api, &shape);
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = api.write_kubeconfig(dir.path(), "default");
    api.set_latency(shape.latency);
    println!(
        "cluster: {} namespaces, {pods} pods ({} failing), {events} events; {} ms latency per request",
        shape.namespaces,
        failing.len(),
        shape.latency.as_millis()
    );

    // Warm-up run so both sides start from a warm page cache, then the measured one.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_kubectl-ai"));
    run(Command::new(&bin)
        .args(["diagnose", "-A", "-o", "json", "--kubeconfig"])
        .arg(&kubeconfig)
        .env("HOME", dir.path()));
    api.reset_journal();
    let started = Instant::now();
    let out = run(Command::new(&bin)
        .args(["diagnose", "-A", "-o", "json", "--kubeconfig"])
        .arg(&kubeconfig)
        .env("HOME", dir.path()));
    let ours = started.elapsed();
    let our_requests = api.request_count();
    let our_rss = max_child_rss_kib();
    let report: Value = serde_json::from_slice(&out).expect("json report");
    let findings = report["findings"].as_array().map_or(0, Vec::len);
    let failing_found: usize = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pods"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        failing_found,
        failing.len(),
        "every failing pod is in a finding"
    );

    let rt = ours.as_secs_f64() / shape.latency.as_secs_f64();
    println!();
    println!(
        "{:<34} {:>10} {:>10} {:>14} {:>12}",
        "", "wall", "requests", "round trips*", "peak RSS"
    );
    println!(
        "{:<34} {:>8.0}ms {:>10} {:>14.1} {:>9.1} MB",
        "kubectl ai diagnose -A",
        ours.as_secs_f64() * 1000.0,
        our_requests,
        rt,
        our_rss as f64 / 1024.0
    );
    println!(
        "  -> {findings} findings covering all {} failing pods",
        failing.len()
    );

    let kubectl = root().join(".tools/bin/kubectl");
    if kubectl.is_file() {
        api.reset_journal();
        let started = Instant::now();
        let k = |args: &[&str]| {
            run(Command::new(&kubectl)
                .args(args)
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .env("HOME", dir.path()));
        };
        k(&["get", "pods", "-A"]);
        k(&["get", "events", "-A"]);
        for (ns, pod) in &failing {
            k(&["describe", "pod", pod, "-n", ns]);
            k(&["logs", pod, "-n", ns]);
            k(&["logs", pod, "-n", ns, "--previous"]);
        }
        let theirs = started.elapsed();
        let rss = max_child_rss_kib().max(our_rss);
        println!(
            "{:<34} {:>8.0}ms {:>10} {:>14.1} {:>9.1} MB",
            format!("kubectl baseline ({} calls)", 2 + 3 * failing.len()),
            theirs.as_secs_f64() * 1000.0,
            api.request_count(),
            theirs.as_secs_f64() / shape.latency.as_secs_f64(),
            rss as f64 / 1024.0
        );
        println!(
            "  -> kubectl-ai is {:.0}x faster",
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
    } else {
        println!("(baseline skipped: run `bash .ci/install-tools` to get kubectl)");
    }
    println!();
    println!(
        "* wall time divided by the injected per-request latency. Targets: < 10 round trips, < 100 MB."
    );
    println!(
        "target wall time: {}; target memory: {}",
        if rt < 10.0 { "met" } else { "MISSED" },
        if our_rss < 100 * 1024 {
            "met"
        } else {
            "MISSED"
        }
    );
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The largest resident set of any child waited for so far, in KiB.
fn max_child_rss_kib() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    usage.ru_maxrss
}

const NOW: &str = "2026-11-20T10:00:00Z";

fn meta(ns: &str, name: &str, labels: Value, owner: Option<Value>) -> Value {
    let mut m = json!({"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}"), "resourceVersion": "1",
                       "creationTimestamp": NOW, "labels": labels});
    if let Some(o) = owner {
        m["ownerReferences"] = json!([o]);
    }
    m
}

fn owner(kind: &str, name: &str, ns: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": format!("uid-{ns}-{name}"), "controller": true})
}

/// Fills the server; returns (pods, events, failing pods as (namespace, name)).
fn populate(api: &FakeApi, shape: &Shape) -> (usize, usize, Vec<(String, String)>) {
    let (mut namespaces, mut deployments, mut replica_sets, mut pods, mut events, mut services) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut failing = Vec::new();
    let node = json!({"metadata": {"name": "node-1", "uid": "uid-node-1"}, "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}]}});
    for n in 0..shape.namespaces {
        let ns = format!("team-{n:02}");
        namespaces.push(json!({"metadata": {"name": ns, "uid": format!("uid-{ns}")}, "status": {"phase": "Active"}}));
        let mut apps: Vec<(String, usize, bool)> = (0..shape.healthy)
            .map(|i| (format!("svc-{i}"), shape.replicas, false))
            .collect();
        if n % 2 == 0 {
            apps.push(("checkout".into(), shape.failing_replicas, true));
        } else {
            apps.push(("reports".into(), shape.failing_replicas, false));
        }
        for (app, replicas, broken) in apps {
            let labels = json!({"app": app});
            let rs = format!("{app}-7c9f8d6b5");
            let ready = if broken { 0 } else { replicas };
            deployments.push(json!({"metadata": meta(&ns, &app, labels.clone(), None),
                "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "registry.example.com/app:1.0", "ports": [{"containerPort": 8080}]}]}}},
                "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready,
                           "conditions": [{"type": "Available", "status": if broken { "False" } else { "True" }, "reason": if broken { "MinimumReplicasUnavailable" } else { "MinimumReplicasAvailable" }, "message": "Deployment availability."}]}}));
            replica_sets.push(json!({"metadata": meta(&ns, &rs, json!({"app": app, "pod-template-hash": "7c9f8d6b5"}), Some(owner("Deployment", &app, &ns))),
                "spec": {"replicas": replicas}, "status": {"replicas": replicas}}));
            services.push(json!({"metadata": meta(&ns, &app, labels.clone(), None), "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}}));
            for r in 0..replicas {
                let pod = format!("{rs}-p{r:03}");
                let status = if broken {
                    failing.push((ns.clone(), pod.clone()));
                    json!({"phase": "Running", "containerStatuses": [{"name": "app", "image": "registry.example.com/app:1.0", "imageID": "", "ready": false, "restartCount": 12,
                        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=app"}},
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": NOW}}}]})
                } else {
                    json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [{"name": "app", "image": "registry.example.com/app:1.0", "imageID": "", "ready": true, "restartCount": 0, "started": true, "state": {"running": {"startedAt": NOW}}}]})
                };
                pods.push(json!({"metadata": meta(&ns, &pod, json!({"app": app, "pod-template-hash": "7c9f8d6b5"}), Some(owner("ReplicaSet", &rs, &ns))),
                    "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "registry.example.com/app:1.0", "ports": [{"containerPort": 8080}]}]},
                    "status": status}));
                if broken {
                    let log = (0..300)
                        .map(|i| format!("INFO handling request {i}\n"))
                        .collect::<String>()
                        + "ERROR: payment gateway unreachable: connection refused\n";
                    api.insert_log(&ns, &pod, "app", Some(log.clone()), Some(log));
                }
                let last = if broken {
                    (
                        "BackOff",
                        "Warning",
                        "Back-off restarting failed container app",
                    )
                } else {
                    ("Started", "Normal", "Started container app")
                };
                for (i, (reason, type_, message)) in [
                    ("Scheduled", "Normal", "Successfully assigned"),
                    ("Pulling", "Normal", "Pulling image"),
                    ("Pulled", "Normal", "Successfully pulled image"),
                    ("Created", "Normal", "Created container app"),
                    last,
                ]
                .into_iter()
                .enumerate()
                {
                    events.push(json!({"metadata": {"name": format!("{pod}.{i}"), "namespace": ns, "uid": format!("ev-{pod}-{i}"), "creationTimestamp": NOW},
                        "involvedObject": {"kind": "Pod", "namespace": ns, "name": pod, "uid": format!("uid-{ns}-{pod}")},
                        "reason": reason, "message": message, "type": type_, "count": 1, "firstTimestamp": NOW, "lastTimestamp": NOW}));
                }
            }
        }
    }
    let counts = (pods.len(), events.len());
    api.insert(&kinds::NODES, vec![node]);
    api.insert(&kinds::NAMESPACES, namespaces);
    api.insert(&kinds::DEPLOYMENTS, deployments);
    api.insert(&kinds::REPLICA_SETS, replica_sets);
    api.insert(&kinds::SERVICES, services);
    api.insert(&kinds::PODS, pods);
    api.insert(&kinds::EVENTS, events);
    (counts.0, counts.1, failing)
}
