//! Collection and diagnosis at scale, against the fake API server with injected latency, beside
//! the kubectl calls a person would make for the same answer.
//!
//! Run: `cargo bench --bench collect` for every case, or one of them with `-- --case 10k` (or
//! `COLLECT_CASE=10k`); cases are `1k`, `10k` and `100k`. `-- --latency-ms 20` changes the
//! injected latency; `-- --no-baseline` skips the kubectl calls (minutes at 100k);
//! `-- --keep-snapshot DIR` leaves the case's snapshot directory there, for profiling;
//! `-- --serve` measures nothing and serves the case until stdin closes, printing the kubeconfig
//! to point a profiler's `kubectl-ai diagnose -A --kubeconfig FILE` at. Each case
//! is generated in memory (nothing committed), served by the fake API server and written as a
//! snapshot directory, then measured for:
//! - `kubectl ai diagnose -A` live and `--snapshot`: wall time, API requests, peak RSS, CPU time;
//! - the floor of the test server: every request the live run made, replayed all at once;
//! - the baseline: `kubectl get pods -A`, `kubectl get events -A`, then `kubectl describe pod` and
//!   `kubectl logs` (current and previous) of each failing pod. It needs .tools/bin/kubectl
//!   (`bash .ci/install-tools`) and is skipped with a notice when kubectl is missing.
//!
//! Objects are shaped as Kubernetes writes them (managedFields, the last-applied annotation on
//! what `kubectl apply` created, pods spread over nodes by the scheduler).

#[path = "../tests/support/fake_api.rs"]
mod fake_api;
#[path = "../tests/support/server.rs"]
mod server;

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_api::FakeApi;
use kubectl_ai::testing::{Kind, kinds};
use serde_json::{Value, json};

/// One generated cluster.
struct Shape {
    name: &'static str,
    nodes: usize,
    /// (namespace, healthy deployments, replicas each, one more deployment of this many pods:
    /// crash-looping where `failing`, else healthy).
    namespaces: Vec<(String, usize, usize, usize, bool)>,
    /// Events per pod: the first `events_per_pod - 1` of the Scheduled/Pulling/Pulled/Created
    /// sequence, then the pod's last word (Started, or BackOff for a failing pod).
    events_per_pod: usize,
    /// Every how many healthy pods one more carries a Warning (FailedMount of the service
    /// account token before its ConfigMap is registered, as the kubelet reports it on busy nodes).
    warning_every: usize,
}

fn shapes() -> Vec<Shape> {
    let small = (0..20)
        .map(|n| (format!("team-{n:02}"), 5, 9, 5, n % 2 == 0))
        .collect();
    let big = (0..50)
        .map(|n| (format!("team-{n:02}"), 39, 50, 50, n % 10 == 0))
        .collect();
    vec![
        Shape {
            name: "1k",
            nodes: 1,
            namespaces: small,
            events_per_pod: 5,
            warning_every: 0,
        },
        Shape {
            name: "10k",
            nodes: 10,
            namespaces: vec![
                ("shop".into(), 199, 50, 50, true),
                ("kube-system".into(), 1, 8, 0, false),
            ],
            events_per_pod: 5,
            warning_every: 1,
        },
        Shape {
            name: "100k",
            nodes: 1000,
            namespaces: big,
            events_per_pod: 2,
            warning_every: 4,
        },
    ]
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    if std::env::args().any(|a| a == "--launcher") {
        return launcher();
    }
    // Started before any cluster is generated, so that what it spawns does not inherit this
    // process's size as their peak RSS (Linux carries the pre-exec high-water mark over).
    let mut launcher = Launcher::start();
    let latency = Duration::from_millis(
        arg("--latency-ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(20),
    );
    let only = arg("--case").or_else(|| std::env::var("COLLECT_CASE").ok());
    let shapes: Vec<Shape> = shapes()
        .into_iter()
        .filter(|s| only.as_deref().is_none_or(|o| o == s.name))
        .collect();
    assert!(!shapes.is_empty(), "unknown case {only:?} (1k, 10k, 100k)");
    for shape in &shapes {
        measure(shape, latency, &mut launcher);
    }
}

/// What one process cost.
#[derive(Default, Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Duration,
    rss_kib: i64,
    requests: usize,
}

impl Cost {
    fn add(&mut self, other: Cost) {
        self.wall += other.wall;
        self.cpu += other.cpu;
        self.rss_kib = self.rss_kib.max(other.rss_kib);
        self.requests += other.requests;
    }
}

fn measure(shape: &Shape, latency: Duration, launcher: &mut Launcher) {
    let api = FakeApi::empty();
    let dir = tempfile::tempdir().expect("tempdir");
    // `-- --keep-snapshot DIR` writes the snapshot there and leaves it, for profiling one side
    // (heaptrack, callgrind) without the benchmark around it.
    let snapshot = arg("--keep-snapshot")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("snapshot"));
    let cluster = populate(&api, shape, &snapshot);
    let kubeconfig = api.write_kubeconfig(dir.path(), "default");
    api.set_latency(latency);
    println!(
        "== case {}: {} pods ({} failing) on {} nodes in {} namespaces, {} events ({} not Normal); {} ms latency per request",
        shape.name,
        cluster.pods,
        cluster.failing.len(),
        shape.nodes,
        shape.namespaces.len(),
        cluster.events,
        cluster.warnings,
        latency.as_millis()
    );

    if std::env::args().any(|a| a == "--serve") {
        println!("serving {} until stdin closes", kubeconfig.display());
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        return;
    }

    let bin = PathBuf::from(env!("CARGO_BIN_EXE_kubectl-ai"));
    let home = dir.path();
    let diagnose = |source: &str, path: &Path| -> Vec<OsString> {
        let mut args: Vec<OsString> = ["diagnose", "-A", "-o", "json", source]
            .map(OsString::from)
            .to_vec();
        args.push(path.into());
        args
    };
    let live = diagnose("--kubeconfig", &kubeconfig);
    // Warm-up run so every side starts from a warm page cache, then the measured one.
    launcher.run(&bin, &live, home);
    api.reset_journal();
    let (out, mut ours) = launcher.run(&bin, &live, home);
    ours.requests = api.request_count();
    check_report(&out, &cluster.failing, "live");
    let floor = replay_floor(&api, &kubeconfig);

    let (out, snap) = launcher.run(&bin, &diagnose("--snapshot", &snapshot), home);
    check_report(&out, &cluster.failing, "snapshot");

    println!();
    println!(
        "{:<38} {:>10} {:>9} {:>10} {:>10} {:>11}",
        "", "wall", "requests", "wall/RTT", "CPU", "peak RSS"
    );
    let row = |label: &str, c: Cost| {
        println!(
            "{:<38} {:>8.0}ms {:>9} {:>10.1} {:>8.0}ms {:>8.1} MB",
            label,
            c.wall.as_secs_f64() * 1000.0,
            c.requests,
            c.wall.as_secs_f64() / latency.as_secs_f64(),
            c.cpu.as_secs_f64() * 1000.0,
            c.rss_kib as f64 / 1024.0
        );
    };
    row("kubectl ai diagnose -A", ours);
    row("kubectl ai diagnose -A --snapshot", snap);
    println!(
        "{:<38} {:>8.0}ms {:>9}   (all of the live run's requests at once, in-process; live is {:.1}x this)",
        "floor of the test server",
        floor.as_secs_f64() * 1000.0,
        ours.requests,
        ours.wall.as_secs_f64() / floor.as_secs_f64()
    );

    let kubectl = root().join(".tools/bin/kubectl");
    if std::env::args().any(|a| a == "--no-baseline") {
        println!("(baseline skipped: --no-baseline)");
    } else if kubectl.is_file() {
        let theirs = baseline(
            &api,
            launcher,
            &kubectl,
            &kubeconfig,
            home,
            &cluster.failing,
        );
        row(
            &format!("kubectl baseline ({} calls)", 2 + 3 * cluster.failing.len()),
            theirs,
        );
        println!(
            "  -> kubectl-ai is {:.0}x faster than the baseline",
            theirs.wall.as_secs_f64() / ours.wall.as_secs_f64()
        );
    } else {
        println!("(baseline skipped: run `bash .ci/install-tools` to get kubectl)");
    }
    println!();
}

fn check_report(out: &[u8], failing: &[(String, String)], source: &str) {
    let report: Value = serde_json::from_slice(out).expect("json report");
    let findings = report["findings"].as_array().expect("findings");
    let failing_found: usize = findings
        .iter()
        .map(|f| f["pods"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        failing_found,
        failing.len(),
        "{source}: every failing pod is in a finding"
    );
    println!(
        "  {source}: {} findings covering all {} failing pods",
        findings.len(),
        failing.len()
    );
}

/// The kubectl calls a person would make, one after another; RSS is the largest single call's.
fn baseline(
    api: &FakeApi,
    launcher: &mut Launcher,
    kubectl: &Path,
    kubeconfig: &Path,
    home: &Path,
    failing: &[(String, String)],
) -> Cost {
    api.reset_journal();
    let mut total = Cost::default();
    let mut k = |args: &[&str]| {
        let mut args: Vec<OsString> = args.iter().map(OsString::from).collect();
        args.push("--kubeconfig".into());
        args.push(kubeconfig.into());
        let (_, cost) = launcher.run(kubectl, &args, home);
        total.add(cost);
    };
    k(&["get", "pods", "-A"]);
    k(&["get", "events", "-A"]);
    for (ns, pod) in failing {
        k(&["describe", "pod", pod, "-n", ns]);
        k(&["logs", pod, "-n", ns]);
        k(&["logs", pod, "-n", ns, "--previous"]);
    }
    total.requests = api.request_count();
    total
}

/// Every GET the live run made, sent at once from this process: no client can collect the same
/// data from this server faster, so it is the floor the live run is compared with.
fn replay_floor(api: &FakeApi, kubeconfig: &Path) -> Duration {
    let requests: Vec<String> = api
        .journal()
        .into_iter()
        .filter(|r| r.method == "GET")
        .map(|r| {
            if r.query.is_empty() {
                r.path
            } else {
                format!("{}?{}", r.path, r.query)
            }
        })
        .collect();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("config");
        let client = kube::Client::try_from(config).expect("client");
        let started = Instant::now();
        let fetches = requests.iter().map(|uri| {
            let client = client.clone();
            async move {
                let req = http::Request::get(uri.as_str())
                    .body(Vec::new())
                    .expect("request");
                client.request_text(req).await.map(|t| t.len())
            }
        });
        let sizes = futures::future::join_all(fetches).await;
        let elapsed = started.elapsed();
        // Refusals are answers too (metrics.k8s.io is not served here, as on a bare cluster).
        assert!(
            sizes
                .iter()
                .all(|r| matches!(r, Ok(_) | Err(kube::Error::Api(_)))),
            "replay failed"
        );
        elapsed
    })
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A small process that runs the measured commands, so each one's peak RSS is its own.
struct Launcher {
    child: Child,
    replies: BufReader<std::process::ChildStdout>,
}

impl Launcher {
    fn start() -> Launcher {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .arg("--launcher")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start launcher");
        let replies = BufReader::new(child.stdout.take().expect("stdout"));
        Launcher { child, replies }
    }

    /// Runs `program` to completion; returns its stdout and cost, and fails on a non-zero exit.
    fn run(&mut self, program: &Path, args: &[OsString], home: &Path) -> (Vec<u8>, Cost) {
        let out = tempfile::NamedTempFile::new().expect("temp file");
        let request = json!({
            "program": program, "home": home, "out": out.path(),
            "args": args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
        });
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{request}").expect("send");
        let mut line = String::new();
        self.replies.read_line(&mut line).expect("reply");
        let reply: Value = serde_json::from_str(&line).expect("json reply");
        assert!(
            reply["ok"].as_bool().unwrap_or(false),
            "{program:?} {args:?}: {}",
            reply["stderr"].as_str().unwrap_or_default()
        );
        let cost = Cost {
            wall: Duration::from_nanos(reply["wall_ns"].as_u64().unwrap_or(0)),
            cpu: Duration::from_nanos(reply["cpu_ns"].as_u64().unwrap_or(0)),
            rss_kib: reply["rss_kib"].as_i64().unwrap_or(0),
            requests: 0,
        };
        (std::fs::read(out.path()).expect("read stdout"), cost)
    }
}

/// The launcher's side: one JSON request per line, one JSON reply per line.
fn launcher() {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let request: Value = serde_json::from_str(&line.expect("read")).expect("json request");
        let text = |k: &str| request[k].as_str().expect("field").to_string();
        let args: Vec<String> = request["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| a.as_str().expect("arg").to_string())
            .collect();
        let (out, err, ok, cost) = run(Command::new(text("program"))
            .args(args)
            .env("HOME", text("home")));
        std::fs::write(text("out"), out).expect("write stdout");
        let reply = json!({"ok": ok, "stderr": String::from_utf8_lossy(&err),
            "wall_ns": cost.wall.as_nanos() as u64, "cpu_ns": cost.cpu.as_nanos() as u64, "rss_kib": cost.rss_kib});
        writeln!(stdout, "{reply}").expect("reply");
        stdout.flush().expect("flush");
    }
}

/// Runs one command to completion with its own cost (wait4's rusage of that child alone).
// wait4 reaps the child; std's `wait` would not give its rusage.
#[allow(clippy::zombie_processes)]
fn run(cmd: &mut Command) -> (Vec<u8>, Vec<u8>, bool, Cost) {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stdout.read_to_end(&mut buf).map(|_| buf)
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stderr.read_to_end(&mut buf).map(|_| buf)
    });
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    let out = out.join().expect("stdout thread").expect("read stdout");
    let err = err.join().expect("stderr thread").expect("read stderr");
    let ok = pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cost = Cost {
        wall,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        rss_kib: usage.ru_maxrss,
        requests: 0,
    };
    (out, err, ok, cost)
}

const NOW: &str = "2026-11-20T10:00:00Z";

/// What `populate` generated.
struct Generated {
    pods: usize,
    events: usize,
    warnings: usize,
    failing: Vec<(String, String)>,
}

fn meta(ns: &str, name: &str, labels: Value, owner: Option<Value>) -> Value {
    let mut m = json!({"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}"), "resourceVersion": "1",
                       "creationTimestamp": NOW, "labels": labels});
    if let Some(o) = owner {
        m["ownerReferences"] = json!([o]);
    }
    m
}

fn owner(kind: &str, name: &str, ns: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": format!("uid-{ns}-{name}"), "controller": true, "blockOwnerDeletion": true})
}

/// The managedFields the API server records for a pod: the ReplicaSet controller's create and
/// the kubelet's status updates.
fn pod_managed_fields() -> Value {
    json!([
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": NOW, "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}},
                      "f:ownerReferences": {".": {}, "k:{\"uid\":\"0\"}": {}}},
                      "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {},
                                 "f:ports": {".": {}, "k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:protocol": {}}},
                                 "f:resources": {".": {}, "f:requests": {".": {}, "f:cpu": {}, "f:memory": {}}}, "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}}},
                                 "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}}}},
        {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": NOW, "fieldsType": "FieldsV1", "subresource": "status",
         "fieldsV1": {"f:status": {"f:conditions": {"k:{\"type\":\"ContainersReady\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}},
                                   "k:{\"type\":\"Initialized\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}},
                                   "k:{\"type\":\"Ready\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}},
                   "f:containerStatuses": {}, "f:hostIP": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {".": {}, "k:{\"ip\":\"10.244.0.1\"}": {".": {}, "f:ip": {}}}, "f:startTime": {}}}}
    ])
}

fn pod(ns: &str, rs: &str, app: &str, name: &str, node: &str, broken: bool) -> Value {
    let labels = json!({"app": app, "pod-template-hash": "7c9f8d6b5"});
    let mut m = meta(ns, name, labels, Some(owner("ReplicaSet", rs, ns)));
    m["generateName"] = json!(format!("{rs}-"));
    m["managedFields"] = pod_managed_fields();
    let image = "registry.example.com/app:1.0";
    let status = if broken {
        json!({"phase": "Running", "hostIP": "10.0.0.2", "podIP": "10.244.1.7", "startTime": NOW, "qosClass": "Burstable",
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": NOW, "reason": "ContainersNotReady", "message": "containers with unready status: [app]"}],
            "containerStatuses": [{"name": "app", "image": image, "imageID": "", "ready": false, "restartCount": 12,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=app"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": NOW}}}]})
    } else {
        json!({"phase": "Running", "hostIP": "10.0.0.2", "podIP": "10.244.1.7", "startTime": NOW, "qosClass": "Burstable",
            "conditions": [{"type": "Initialized", "status": "True", "lastTransitionTime": NOW}, {"type": "Ready", "status": "True", "lastTransitionTime": NOW},
                           {"type": "ContainersReady", "status": "True", "lastTransitionTime": NOW}, {"type": "PodScheduled", "status": "True", "lastTransitionTime": NOW}],
            "containerStatuses": [{"name": "app", "image": image, "imageID": format!("{image}@sha256:4f2a"), "containerID": "containerd://9b1c", "ready": true, "restartCount": 0, "started": true, "state": {"running": {"startedAt": NOW}}}]})
    };
    json!({"metadata": m,
        "spec": {"nodeName": node, "schedulerName": "default-scheduler", "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                 "serviceAccountName": "default", "terminationGracePeriodSeconds": 30, "enableServiceLinks": true, "securityContext": {},
                 "containers": [{"name": "app", "image": image, "imagePullPolicy": "IfNotPresent", "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                                 "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                                 "volumeMounts": [{"name": "kube-api-access-7x2kq", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]}],
                 "volumes": [{"name": "kube-api-access-7x2kq", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                              {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
                 "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                                 {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]},
        "status": status})
}

fn event(
    ns: &str,
    pod: &str,
    i: usize,
    node: &str,
    (reason, type_, message): (&str, &str, &str),
) -> Value {
    let source = if reason == "Scheduled" {
        "default-scheduler"
    } else {
        "kubelet"
    };
    json!({"metadata": {"name": format!("{pod}.{i}"), "namespace": ns, "uid": format!("ev-{pod}-{i}"), "resourceVersion": "1", "creationTimestamp": NOW},
        "involvedObject": {"kind": "Pod", "namespace": ns, "name": pod, "uid": format!("uid-{ns}-{pod}"), "apiVersion": "v1", "resourceVersion": "1", "fieldPath": "spec.containers{app}"},
        "reason": reason, "message": message, "type": type_, "count": 1, "firstTimestamp": NOW, "lastTimestamp": NOW,
        "source": {"component": source, "host": node}, "reportingComponent": source, "reportingInstance": node})
}

/// The events of one pod, oldest first.
fn pod_events(
    broken: bool,
    warn: bool,
    n: usize,
) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut seq = vec![
        ("Scheduled", "Normal", "Successfully assigned to node"),
        (
            "Pulling",
            "Normal",
            "Pulling image \"registry.example.com/app:1.0\"",
        ),
        (
            "Pulled",
            "Normal",
            "Successfully pulled image \"registry.example.com/app:1.0\"",
        ),
        ("Created", "Normal", "Created container: app"),
    ];
    if warn && !broken {
        seq[1] = (
            "FailedMount",
            "Warning",
            "MountVolume.SetUp failed for volume \"kube-api-access-7x2kq\" : object \"default\"/\"kube-root-ca.crt\" not registered",
        );
    }
    seq.truncate(n - 1);
    seq.push(if broken {
        (
            "BackOff",
            "Warning",
            "Back-off restarting failed container app in pod",
        )
    } else {
        ("Started", "Normal", "Started container app")
    });
    seq
}

/// Fills the server and writes the same objects as a snapshot directory.
fn populate(api: &FakeApi, shape: &Shape, snapshot: &Path) -> Generated {
    let mut store: Vec<(Kind, Vec<Value>)> = vec![];
    let mut generated = Generated {
        pods: 0,
        events: 0,
        warnings: 0,
        failing: vec![],
    };
    let nodes: Vec<String> = (0..shape.nodes).map(|i| format!("node-{i:04}")).collect();
    let node_objects = nodes.iter().map(|n| json!({"metadata": {"name": n, "uid": format!("uid-{n}"), "labels": {"kubernetes.io/hostname": n}},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}]}})).collect();
    store.push((kinds::NODES, node_objects));
    let mut namespaces = vec![];
    let mut scheduled = 0usize;
    let mut healthy_seen = 0usize;
    for (ns, healthy, replicas, extra, failing) in &shape.namespaces {
        namespaces.push(json!({"metadata": {"name": ns, "uid": format!("uid-{ns}")}, "status": {"phase": "Active"}}));
        let (mut deployments, mut replica_sets, mut services, mut pods, mut events) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut apps: Vec<(String, usize, bool)> = (0..*healthy)
            .map(|i| (format!("svc-{i:03}"), *replicas, false))
            .collect();
        match (*extra, *failing) {
            (0, _) => {}
            (n, true) => apps.push(("checkout".into(), n, true)),
            (n, false) => apps.push(("reports".into(), n, false)),
        }
        for (app, replicas, broken) in apps {
            let labels = json!({"app": app});
            let rs = format!("{app}-7c9f8d6b5");
            let ready = if broken { 0 } else { replicas };
            let mut dmeta = meta(ns, &app, labels.clone(), None);
            let spec = json!({"replicas": replicas, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "registry.example.com/app:1.0", "ports": [{"containerPort": 8080}]}]}}});
            dmeta["annotations"] = json!({"deployment.kubernetes.io/revision": "1",
                "kubectl.kubernetes.io/last-applied-configuration": json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": app, "namespace": ns}, "spec": spec}).to_string()});
            deployments.push(json!({"metadata": dmeta, "spec": spec,
                "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready,
                           "conditions": [{"type": "Available", "status": if broken { "False" } else { "True" }, "reason": if broken { "MinimumReplicasUnavailable" } else { "MinimumReplicasAvailable" }, "message": "Deployment availability."}]}}));
            replica_sets.push(json!({"metadata": meta(ns, &rs, json!({"app": app, "pod-template-hash": "7c9f8d6b5"}), Some(owner("Deployment", &app, ns))),
                "spec": {"replicas": replicas}, "status": {"replicas": replicas}}));
            services.push(json!({"metadata": meta(ns, &app, labels.clone(), None), "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}}));
            for r in 0..replicas {
                let name = format!("{rs}-p{r:03}");
                let node = &nodes[scheduled % nodes.len()];
                scheduled += 1;
                pods.push(pod(ns, &rs, &app, &name, node, broken));
                if broken {
                    generated.failing.push((ns.clone(), name.clone()));
                    let log = (0..300)
                        .map(|i| format!("INFO handling request {i}\n"))
                        .collect::<String>()
                        + "ERROR: payment gateway unreachable: connection refused\n";
                    api.insert_log(ns, &name, "app", Some(log.clone()), Some(log.clone()));
                    write_log(snapshot, ns, &name, "logs.txt", &log);
                    write_log(snapshot, ns, &name, "previous-logs.txt", &log);
                } else {
                    healthy_seen += 1;
                }
                let warn =
                    shape.warning_every > 0 && healthy_seen.is_multiple_of(shape.warning_every);
                if ns == "kube-system" {
                    continue;
                }
                for (i, e) in pod_events(broken, warn, shape.events_per_pod)
                    .into_iter()
                    .enumerate()
                {
                    generated.warnings += usize::from(e.1 != "Normal");
                    events.push(event(ns, &name, i, node, e));
                }
            }
        }
        generated.pods += pods.len();
        generated.events += events.len();
        for (kind, items) in [
            (kinds::DEPLOYMENTS, deployments),
            (kinds::REPLICA_SETS, replica_sets),
            (kinds::SERVICES, services),
            (kinds::PODS, pods),
            (kinds::EVENTS, events),
        ] {
            write_list(&snapshot.join(ns), &kind, &items);
            store.push((kind, items));
        }
    }
    store.push((kinds::NAMESPACES, namespaces));
    for (kind, items) in store.iter_mut().filter(|(k, _)| !k.namespaced) {
        write_list(snapshot, kind, items);
    }
    for (kind, mut items) in store {
        // The server lists in (namespace, name) order; handing it sorted objects keeps its own
        // sort from dominating what is measured.
        items.sort_by(|a, b| key(a).cmp(&key(b)));
        api.insert(&kind, items);
    }
    generated
}

fn key(v: &Value) -> (&str, &str) {
    let m = &v["metadata"];
    (
        m["namespace"].as_str().unwrap_or(""),
        m["name"].as_str().unwrap_or(""),
    )
}

fn write_list(dir: &Path, kind: &Kind, items: &[Value]) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let list = json!({"kind": format!("{}List", kind.kind), "apiVersion": kind.api_version(), "metadata": {"resourceVersion": "1"}, "items": items});
    std::fs::write(
        dir.join(kind.file),
        serde_json::to_vec(&list).expect("json"),
    )
    .expect("write");
}

fn write_log(snapshot: &Path, ns: &str, pod: &str, file: &str, log: &str) {
    let dir = snapshot.join(ns).join(pod);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let text = format!(
        "==== START logs for container app of pod {ns}/{pod} ====\n{log}==== END logs for container app of pod {ns}/{pod} ====\n"
    );
    std::fs::write(dir.join(file), text).expect("write");
}
