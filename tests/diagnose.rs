//! Every analyzer against its scenario, through the snapshot source: which findings, on which
//! objects, for how many pods, and the verbatim facts a human would cite.

use crate::support::{Sandbox, scenario, scenarios, summary};

type Expect = (
    &'static str,
    &'static [(&'static str, &'static str, &'static str, usize)],
    &'static [&'static str],
);

/// (scenario, findings as (rule, kind, name, pods), facts that must appear in the findings).
pub const EXPECTED: &[Expect] = &[
    ("healthy", &[], &[]),
    (
        "crash-loop",
        &[("crash-loop", "Deployment", "todo-backend", 2)],
        &[
            "exit code 1 (application error)",
            "previous log: sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to server at \\\"postgres.todo-app.svc.cluster.local\\\"",
            "restarts: 6",
            "service todo-backend has no ready endpoints",
            "cannot reach a service it needs at startup",
        ],
    ),
    (
        "oom-killed",
        &[("oom-killed", "Deployment", "order-worker", 1)],
        &[
            "OOMKilled, exit code 137",
            "memory limit: 128Mi",
            "memory in use now (metrics.k8s.io): 121Mi",
            "from 128Mi to 192Mi",
        ],
    ),
    (
        "image-pull",
        &[("image-pull", "Deployment", "todo-frontend", 1)],
        &[
            "ghcr.io/example/todo-frontend:1.5.0-rc1: not found",
            "does not exist in its registry",
        ],
    ),
    (
        "config-error",
        // The missing objects are the roots, the blocked workloads folded under them.
        &[
            ("config-key-missing", "Secret", "todo-db", 1),
            ("config-missing", "ConfigMap", "frontend-config", 1),
        ],
        &[
            "couldn't find key DATABASE_URL in Secret todo-app/todo-db",
            "Secret todo-db has keys: POSTGRES_PASSWORD",
            "configmap \\\"frontend-config\\\" not found",
            "read by env API_URL of container frontend (key API_URL)",
            "its pods need Secret todo-db, which lacks the key it reads",
            "\"rule\":\"container-config\"",
        ],
    ),
    (
        "unschedulable",
        &[("unschedulable", "Deployment", "reporting", 2)],
        &[
            "1 Insufficient memory",
            "requests: reporting: cpu 500m, memory 12Gi",
            "Lower the pod's resource requests",
        ],
    ),
    (
        "pvc-unbound",
        &[("pvc-unbound", "PersistentVolumeClaim", "data-postgres-0", 1)],
        &[
            "names no StorageClass and the cluster has no default one",
            "no persistent volumes available for this claim and no storage class is set",
            "statefulset postgres has 0 of 1 replicas ready",
        ],
    ),
    (
        "probe-port",
        &[("probe-port", "Deployment", "todo-backend", 2)],
        &[
            "readinessProbe.httpGet.port: 8080",
            "containerPorts of backend: 8000 (http)",
            "dial tcp",
            "to 8000",
        ],
    ),
    (
        "liveness-slow-start",
        &[("liveness-restarts", "Deployment", "todo-backend", 1)],
        &[
            "no startupProbe",
            "Liveness probe failed",
            "initialDelaySeconds 5, periodSeconds 10, failureThreshold 3",
            "Applying migration 0007_add_tags_index",
        ],
    ),
    (
        "init-failing",
        &[("init-container", "Deployment", "todo-backend", 1)],
        &[
            "init container migrate fails (exit code 1)",
            "relation \\\"ix_todos_tags\\\" already exists",
        ],
    ),
    (
        "evicted",
        // The evictions are the node's doing: one finding on the Node, the evictions under it.
        &[("node-pressure", "Node", "minikube", 2)],
        &[
            "The node was low on resource: memory",
            "MemoryPressure=True",
            "the kubelet of node minikube evicted them",
            "pods evicted from it:",
        ],
    ),
    (
        "node-not-ready",
        &[("node-not-ready", "Node", "minikube-m02", 1)],
        &[
            "Ready=Unknown (NodeStatusUnknown): Kubelet stopped posting node status.",
            "taint: node.kubernetes.io/unreachable:NoExecute",
        ],
    ),
    (
        "service-selector",
        &[("service-no-endpoints", "Service", "backend", 0)],
        &[
            "selector: app=backend",
            "nearest: deployment/todo-backend -n todo-app has pods labelled app=todo-backend",
            "Change the selector of Service backend to app=todo-backend",
        ],
    ),
    (
        "ingress-broken",
        &[
            ("ingress-backend", "Ingress", "todo", 0),
            ("ingress-class", "Ingress", "todo", 0),
        ],
        &[
            "todo.local/ -> service todo-web (does not exist)",
            "IngressClasses in the cluster: nginx",
        ],
    ),
    (
        "hpa-no-metrics",
        &[("hpa-metrics", "HorizontalPodAutoscaler", "todo-backend", 0)],
        &[
            "ScalingActive=False (FailedGetResourceMetric)",
            "minikube addons enable metrics-server",
        ],
    ),
    (
        "rollout-stuck",
        &[("rollout-stuck", "Deployment", "todo-frontend", 0)],
        &["ProgressDeadlineExceeded", "has timed out progressing"],
    ),
    (
        "job-failed",
        &[("job-failed", "Job", "db-seed", 3)],
        &[
            "Failed (BackoffLimitExceeded): Job has reached the specified backoff limit (backoffLimit 2)",
            "container seed exited with code 1",
            "KeyError: 'SEED_USER_EMAIL'",
        ],
    ),
];

#[test]
fn every_scenario_has_expectations() {
    let expected: Vec<&str> = EXPECTED.iter().map(|e| e.0).collect();
    assert_eq!(scenarios(), {
        let mut e: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        e.sort();
        e
    });
}

#[test]
fn each_scenario_yields_exactly_its_findings_with_evidence() {
    let sb = Sandbox::new();
    for (name, findings, facts) in EXPECTED {
        let report = sb
            .kubectl_ai()
            .args(["diagnose", "-o", "json", "--snapshot"])
            .arg(scenario(name))
            .json();
        let mut got = summary(&report);
        got.sort();
        let mut want: Vec<_> = findings
            .iter()
            .map(|(r, k, n, p)| (r.to_string(), k.to_string(), n.to_string(), *p))
            .collect();
        want.sort();
        assert_eq!(got, want, "scenario {name}");
        let text = report["findings"].to_string();
        for fact in *facts {
            assert!(
                text.contains(fact),
                "scenario {name}: {fact:?} missing from {text}"
            );
        }
        for f in report["findings"].as_array().unwrap() {
            assert!(
                !f["fix"].as_str().unwrap().is_empty(),
                "{name}: a finding without a fix"
            );
            assert!(
                !f["evidence"].as_array().unwrap().is_empty(),
                "{name}: a finding without evidence"
            );
        }
    }
}

#[test]
fn healthy_cluster_has_no_error_and_benign_states_stay_quiet() {
    let sb = Sandbox::new();
    let report = sb
        .kubectl_ai()
        .args(["diagnose", "-o", "json", "--snapshot"])
        .arg(scenario("healthy"))
        .json();
    // The scenario holds a Completed backup pod, an HPA at minReplicas and Normal events.
    assert_eq!(report["summary"]["errors"], 0);
    assert_eq!(report["summary"]["warnings"], 0);
    assert_eq!(report["findings"].as_array().unwrap().len(), 0);
    assert_eq!(report["summary"]["podsChecked"], 6);
}

#[test]
fn findings_are_ranked_errors_first_and_a_guessed_cause_is_said_as_one() {
    let sb = Sandbox::new();
    let report = sb
        .kubectl_ai()
        .args(["diagnose", "--demo", "-o", "json"])
        .json();
    let findings = report["findings"].as_array().unwrap();
    let severities: Vec<&str> = findings
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .collect();
    assert_eq!(severities, ["error", "error", "error", "warning"]);
    // The backend's log names host postgres, whose only pod waits for an unbound claim: a link
    // guessed from a name, so the crash loop stays a finding and says what probably causes it.
    let crash = findings
        .iter()
        .find(|f| f["rule"] == "crash-loop")
        .expect("the crash loop");
    let cause = &crash["causedBy"];
    assert_eq!(cause["rule"], "pvc-unbound");
    assert_eq!(cause["object"]["name"], "data-postgres-0");
    assert_eq!(cause["guessed"], true);
    let via = cause["via"].as_str().unwrap();
    assert!(
        via.contains("postgres.todo-app.svc.cluster.local")
            && via.contains("Service postgres has no ready endpoints"),
        "{via}"
    );
    let text = sb.kubectl_ai().args(["diagnose", "--demo"]).run();
    let text = text.stdout;
    assert!(
        text.contains(
            "probably caused by: persistentvolumeclaim/data-postgres-0 -n todo-app [pvc-unbound]"
        ),
        "{text}"
    );
}

#[test]
fn secret_values_never_reach_the_output() {
    let sb = Sandbox::new();
    for name in ["healthy", "config-error", "crash-loop"] {
        for format in ["json", "yaml", "text"] {
            let out = sb
                .kubectl_ai()
                .args(["diagnose", "-o", format, "--snapshot"])
                .arg(scenario(name))
                .run();
            let text = &out.stdout;
            // The fixtures' secret values are "canary-<secret>-<key>-value", base64-encoded.
            assert!(
                !text.contains("canary") && !text.contains("Y2FuYXJ5"),
                "{name} {format} leaked a secret value"
            );
        }
    }
}

#[test]
fn services_without_an_endpoints_object_are_judged_by_pod_readiness() {
    let sb = Sandbox::new();
    let dir = sb.path().join("dump");
    let copy = std::process::Command::new("cp")
        .arg("-r")
        .arg(scenario("crash-loop"))
        .arg(&dir)
        .status()
        .unwrap();
    assert!(copy.success());
    std::fs::remove_file(dir.join("todo-app/endpoints.json")).unwrap();
    let report = sb
        .kubectl_ai()
        .args(["diagnose", "-o", "json", "--snapshot"])
        .arg(&dir)
        .json();
    assert_eq!(
        summary(&report),
        [(
            "crash-loop".to_string(),
            "Deployment".to_string(),
            "todo-backend".to_string(),
            2
        )]
    );
    assert!(
        report["findings"]
            .to_string()
            .contains("service todo-backend has no ready endpoints")
    );

    let dir = sb.path().join("healthy");
    assert!(
        std::process::Command::new("cp")
            .arg("-r")
            .arg(scenario("healthy"))
            .arg(&dir)
            .status()
            .unwrap()
            .success()
    );
    std::fs::remove_file(dir.join("todo-app/endpoints.json")).unwrap();
    let report = sb
        .kubectl_ai()
        .args(["diagnose", "-o", "json", "--snapshot"])
        .arg(&dir)
        .json();
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        0,
        "ready pods behind a Service are fine"
    );
}
