//! `kubectl ai recommend -f` at scale: wall time and peak memory for rendered manifests of 1k to
//! 100k objects (generated here, never committed).
//!
//! Run: `cargo bench --bench recommend` (or `-- --objects 5000` for one size). Each size is one
//! run of the release binary on one file, as a pipeline would run it: schema validation and every
//! rule, JSON report to a file. The input is a shop of apps in 10 namespaces, each app a
//! Deployment, its Service, HPA, PodDisruptionBudget and ConfigMap, every object carrying the
//! release's common labels (the case that defeats a naive label index), plus one NetworkPolicy
//! per namespace.

use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const NAMESPACES: usize = 10;

fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1)?.parse().ok())
}

fn app(out: &mut String, i: usize) {
    let ns = format!("team-{}", i % NAMESPACES);
    let name = format!("svc-{i}");
    let labels = format!(
        "{{app.kubernetes.io/name: {name}, app.kubernetes.io/instance: shop, app.kubernetes.io/part-of: shop}}"
    );
    let selector = format!("{{app.kubernetes.io/name: {name}, app.kubernetes.io/instance: shop}}");
    write!(
        out,
        "---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}, labels: {labels}}}
spec:
  replicas: 3
  selector: {{matchLabels: {selector}}}
  template:
    metadata: {{labels: {labels}}}
    spec:
      serviceAccountName: {name}
      containers:
        - name: app
          image: registry.example.com/shop/{name}:1.{i}.0
          ports: [{{name: http, containerPort: 8080}}]
          envFrom: [{{configMapRef: {{name: {name}}}}}]
          readinessProbe: {{httpGet: {{path: /ready, port: http}}}}
          livenessProbe: {{httpGet: {{path: /live, port: http}}, failureThreshold: 6}}
          resources: {{requests: {{cpu: 100m, memory: 128Mi}}, limits: {{memory: 256Mi}}}}
          securityContext: {{runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {ns}, labels: {labels}}}
spec:
  selector: {selector}
  ports: [{{name: http, port: 80, targetPort: http}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: {name}, namespace: {ns}, labels: {labels}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}
  minReplicas: 3
  maxReplicas: 10
  metrics: [{{type: Resource, resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 70}}}}}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: {name}, namespace: {ns}, labels: {labels}}}
spec:
  maxUnavailable: 1
  selector: {{matchLabels: {selector}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}, namespace: {ns}, labels: {labels}}}
data: {{LOG_LEVEL: info, UPSTREAM: \"http://svc-{next}.{ns}.svc\"}}
",
        next = i + 1
    )
    .unwrap();
}

fn manifests(objects: usize) -> String {
    let mut out = String::new();
    for n in 0..NAMESPACES {
        write!(
            out,
            "---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: default-deny, namespace: team-{n}}}
spec:
  podSelector: {{}}
  policyTypes: [Ingress, Egress]
"
        )
        .unwrap();
    }
    for i in 0..objects.saturating_sub(NAMESPACES) / 5 {
        app(&mut out, i);
    }
    out
}

/// Runs the binary to completion, with its own peak resident set (KiB) from wait4.
#[allow(clippy::zombie_processes)] // reaped by wait4, which also reports the child's peak RSS
fn measure(bin: &Path, input: &Path, report: &Path) -> (f64, i64, i32) {
    let started = Instant::now();
    let child = Command::new(bin)
        .args(["recommend", "-o", "json", "--fail-on", "never", "-f"])
        .arg(input)
        .env("KUBECTL_AI_CONFIG", input.with_file_name("no-config.yaml"))
        .stdout(File::create(report).expect("report file"))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("kubectl-ai");
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    let code = std::process::ExitStatus::from_raw(status)
        .code()
        .unwrap_or(-1);
    (started.elapsed().as_secs_f64(), usage.ru_maxrss, code)
}

fn main() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_kubectl-ai"));
    let sizes = match arg("--objects") {
        Some(n) => vec![n],
        None => vec![1_000, 10_000, 20_000, 100_000],
    };
    let dir = tempfile::tempdir().expect("tempdir");
    println!(
        "{:>9} {:>9} {:>10} {:>12} {:>16}",
        "objects", "input", "wall", "peak RSS", "recommendations"
    );
    for objects in sizes {
        let input = dir.path().join(format!("shop-{objects}.yaml"));
        let text = manifests(objects);
        std::fs::write(&input, &text).expect("write input");
        let report = dir.path().join("report.json");
        let (wall, rss_kib, code) = measure(&bin, &input, &report);
        assert_eq!(code, 0, "kubectl-ai recommend failed on {objects} objects");
        let out: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("JSON report");
        let found = out["recommendations"].as_array().map_or(0, Vec::len);
        println!(
            "{:>9} {:>6.1} MB {:>8.2} s {:>9.1} MB {:>16}",
            objects,
            text.len() as f64 / 1e6,
            wall,
            rss_kib as f64 / 1024.0,
            found
        );
    }
}
