//! The bundled todo app: the Helm chart and the plain manifests kubectl-ai deploys are the same
//! objects, every object is valid against the real Kubernetes 1.33 schemas, and every workload has
//! the security and reliability settings the app promises.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::{root, tool};

fn chart() -> PathBuf {
    root().join("manifests/todo-app/chart")
}

fn helm(args: &[&str]) -> String {
    let out = Command::new(tool("helm"))
        .args(args)
        .output()
        .expect("helm runs");
    assert!(
        out.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The chart rendered with the minikube values.
fn minikube() -> String {
    let chart = chart();
    let values = chart.join("values-minikube.yaml");
    helm(&[
        "template",
        "todo",
        chart.to_str().unwrap(),
        "--namespace",
        "todo-app",
        "-f",
        values.to_str().unwrap(),
    ])
}

fn bundled() -> String {
    std::fs::read_to_string(root().join("manifests/todo-app/todo-app.yaml")).unwrap()
}

fn objects(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_str_multiple::<Value, Vec<Value>>(yaml)
        .expect("valid YAML")
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn the_chart_lints_and_renders_exactly_the_bundled_manifests() {
    let chart = chart();
    let chart = chart.to_str().unwrap();
    let lint = helm(&["lint", chart, "--namespace", "todo-app", "--strict"]);
    assert!(lint.contains("0 chart(s) failed"), "{lint}");
    helm(&[
        "lint",
        chart,
        "--namespace",
        "todo-app",
        "-f",
        &format!("{chart}/values-minikube.yaml"),
    ]);
    let rendered = helm(&["template", "todo", chart, "--namespace", "todo-app"]);
    let bundled = bundled();
    let body: String = bundled
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        body, rendered,
        "manifests/todo-app/todo-app.yaml drifted from the chart; re-render it (see its header)"
    );
}

#[test]
fn every_object_validates_strictly_against_kubernetes_1_33() {
    let dir = tempfile::tempdir().unwrap();
    let minikube = minikube();
    for (name, text) in [("default.yaml", bundled()), ("minikube.yaml", minikube)] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = Command::new("python3")
            .args(["-m", "kubernetes_validate", "--strict", "-k", "1.33.0"])
            .arg(&path)
            .output()
            .expect("python3 -m kubernetes_validate (installed by .ci/install-tools)");
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}:\n{report}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            report.matches(" passed for resource ").count(),
            26,
            "{name}: {report}"
        );
    }
}

fn pod_spec(obj: &Value) -> Option<&Value> {
    match obj["kind"].as_str()? {
        "Deployment" | "StatefulSet" => Some(&obj["spec"]["template"]["spec"]),
        "CronJob" => Some(&obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]),
        _ => None,
    }
}

/// The one bundled object of this kind and name.
fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name}"))
}

#[test]
fn workloads_are_non_root_bounded_and_pinned() {
    let objs = objects(&bundled());
    let mut workloads = 0;
    for obj in &objs {
        let Some(spec) = pod_spec(obj) else { continue };
        workloads += 1;
        let what = format!("{}/{}", obj["kind"], obj["metadata"]["name"]);
        assert_eq!(spec["automountServiceAccountToken"], false, "{what}");
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true, "{what}");
        for c in spec["containers"].as_array().unwrap() {
            let sc = &c["securityContext"];
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{what}");
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{what}");
            assert_eq!(
                sc["capabilities"]["drop"],
                serde_json::json!(["ALL"]),
                "{what}"
            );
            for k in ["cpu", "memory"] {
                assert!(
                    c["resources"]["requests"][k].is_string()
                        && c["resources"]["limits"][k].is_string(),
                    "{what} {k}"
                );
            }
            let image = c["image"].as_str().unwrap();
            assert!(
                image.contains(':') && !image.ends_with(":latest"),
                "{what}: {image}"
            );
        }
    }
    assert_eq!(workloads, 4, "frontend, backend, postgres, backup");
}

#[test]
fn the_frontend_and_backend_are_probed_spread_scaled_and_budgeted() {
    let objs = objects(&bundled());
    for name in ["todo-frontend", "todo-backend"] {
        let d = find(&objs, "Deployment", name);
        let spec = &d["spec"]["template"]["spec"];
        let c = &spec["containers"][0];
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready");
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
        assert_eq!(c["securityContext"]["runAsUser"], 1001);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
        assert!(spec["topologySpreadConstraints"].is_array());
        assert_eq!(
            find(&objs, "HorizontalPodAutoscaler", name)["spec"]["scaleTargetRef"]["name"],
            name
        );
        assert_eq!(
            find(&objs, "PodDisruptionBudget", name)["spec"]["minAvailable"],
            1
        );
        assert_eq!(
            find(&objs, "ServiceAccount", name)["automountServiceAccountToken"],
            false
        );
    }
    assert!(
        find(&objs, "Deployment", "todo-backend")["spec"]["template"]["spec"]["containers"][0]
            ["startupProbe"]
            .is_object()
    );
    assert_eq!(
        find(&objs, "Deployment", "todo-frontend")["spec"]["template"]["spec"]["containers"][0]["ports"]
            [0]["containerPort"],
        3000
    );
    assert_eq!(
        find(&objs, "Deployment", "todo-backend")["spec"]["template"]["spec"]["containers"][0]["ports"]
            [0]["containerPort"],
        8000
    );
}

#[test]
fn the_database_backups_services_and_exposure_are_as_documented() {
    let objs = objects(&bundled());
    let pg = find(&objs, "StatefulSet", "postgres");
    assert_eq!(
        pg["spec"]["template"]["spec"]["containers"][0]["image"],
        "postgres:16-alpine"
    );
    assert!(
        pg["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
            .is_string()
    );
    assert_eq!(
        find(&objs, "Service", "postgres")["spec"]["clusterIP"],
        "None"
    );
    assert_eq!(
        find(&objs, "Service", "todo-backend")["spec"]["type"],
        "ClusterIP"
    );
    assert_eq!(
        find(&objs, "NetworkPolicy", "default-deny")["spec"]["podSelector"],
        serde_json::json!({})
    );
    assert_eq!(
        find(&objs, "CronJob", "postgres-backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            ["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "postgres-backups"
    );
    assert!(
        objs.iter().all(|o| o["kind"] != "Secret"),
        "credentials are generated at deploy time, never committed"
    );
    // minikube exposes the frontend on a NodePort.
    let minikube = objects(&minikube());
    let fe = find(&minikube, "Service", "todo-frontend");
    assert_eq!(
        (
            fe["spec"]["type"].as_str(),
            fe["spec"]["ports"][0]["nodePort"].as_i64()
        ),
        (Some("NodePort"), Some(30080))
    );
}

// ---- monitoring (chart-only until `monitoring.enabled`) ---------------------------------------

const MONITORING_ON: &[&str] = &[
    "--set",
    "monitoring.enabled=true",
    "--set",
    "monitoring.backend.enabled=true",
];

fn bundled_monitoring() -> String {
    std::fs::read_to_string(root().join("manifests/todo-app/monitoring.yaml")).unwrap()
}

fn crds() -> PathBuf {
    root().join("tests/fixtures/crds/prometheus-operator")
}

fn key(o: &Value) -> String {
    format!("{}/{}", o["kind"], o["metadata"]["name"])
}

/// The chart with `helm template` and these extra arguments.
fn rendered(extra: &[&str]) -> String {
    let chart = chart();
    let mut args = vec![
        "template",
        "todo",
        chart.to_str().unwrap(),
        "--namespace",
        "todo-app",
    ];
    args.extend(extra);
    helm(&args)
}

#[test]
fn monitoring_renders_exactly_the_bundled_monitoring_objects_and_changes_nothing_else() {
    let chart = chart();
    let chart = chart.to_str().unwrap();
    let mut lint = vec!["lint", chart, "--namespace", "todo-app", "--strict"];
    lint.extend(MONITORING_ON);
    let linted = helm(&lint);
    assert!(linted.contains("0 chart(s) failed"), "{linted}");

    let mut only = MONITORING_ON.to_vec();
    only.extend(["--show-only", "templates/monitoring.yaml"]);
    let body: String = bundled_monitoring()
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        body,
        rendered(&only),
        "manifests/todo-app/monitoring.yaml drifted from the chart; re-render it (see its header)"
    );
    let monitoring = objects(&body);
    let kinds: Vec<String> = monitoring.iter().map(key).collect();
    for want in [
        "\"ServiceMonitor\"/\"postgres-exporter\"",
        "\"ServiceMonitor\"/\"todo-backend\"",
        "\"PrometheusRule\"/\"todo-app\"",
        "\"Deployment\"/\"postgres-exporter\"",
        "\"ConfigMap\"/\"todo-app-dashboard\"",
    ] {
        assert!(kinds.iter().any(|k| k == want), "{want}: {kinds:?}");
    }

    // Turned on, the chart is the bundled app plus these objects; the rest is untouched.
    let mut all = objects(&bundled());
    all.extend(monitoring);
    all.sort_by_key(key);
    let mut on = objects(&rendered(MONITORING_ON));
    on.sort_by_key(key);
    assert_eq!(
        on.iter().map(key).collect::<Vec<_>>(),
        all.iter().map(key).collect::<Vec<_>>()
    );
    assert_eq!(on, all);
    // Off (the default), nothing of it.
    assert!(
        objects(&bundled())
            .iter()
            .all(|o| o["apiVersion"] != "monitoring.coreos.com/v1"
                && o["metadata"]["name"] != "postgres-exporter")
    );
}

#[test]
fn monitoring_objects_validate_against_the_operators_crds_and_recommend_stays_clean() {
    let sb = crate::support::Sandbox::new();
    let file = sb.path().join("todo-app.yaml");
    std::fs::write(&file, rendered(MONITORING_ON)).unwrap();
    let run = |file: &std::path::Path| {
        let out = sb
            .kubectl_ai()
            .args(["recommend", "-o", "json", "--crd-schemas"])
            .arg(crds())
            .arg("-f")
            .arg(file)
            .run();
        let report: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stderr));
        (Some(out.code), report, out.stderr)
    };
    let (code, report, stderr) = run(&file);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(report["recommendations"].is_array(), "{report:#}");
    assert_eq!(report["summary"]["errors"], 0, "{report:#}");
    assert_eq!(report["summary"]["warnings"], 0, "{report:#}");
    assert!(!stderr.contains("not validated"), "{stderr}");

    // The core objects among them pass the strict Kubernetes 1.33 schemas too.
    let core: Vec<Value> = objects(&bundled_monitoring())
        .into_iter()
        .filter(|o| o["apiVersion"] != "monitoring.coreos.com/v1")
        .collect();
    let core_file = sb.path().join("core.yaml");
    let docs: Vec<String> = core
        .iter()
        .map(|o| serde_saphyr::to_string(o).unwrap())
        .collect();
    std::fs::write(&core_file, docs.join("---\n")).unwrap();
    let out = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "-k", "1.33.0"])
        .arg(&core_file)
        .output()
        .expect("python3 -m kubernetes_validate (installed by .ci/install-tools)");
    let strict = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{strict}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        strict.matches(" passed for resource ").count(),
        core.len(),
        "{strict}"
    );
    assert_eq!(core.len(), 7, "{strict}");

    // The CRDs' schemas are what checked them: a misspelt endpoint field is an error.
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\n    - port: metrics\n"));
    let broken = sb.path().join("broken.yaml");
    std::fs::write(
        &broken,
        text.replacen("\n    - port: metrics\n", "\n    - portt: metrics\n", 1),
    )
    .unwrap();
    let (code, report, _) = run(&broken);
    assert_eq!(code, Some(3));
    let invalid: Vec<(&str, &str)> = report["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rule"] == "schema-invalid")
        .map(|r| {
            (
                r["object"]["name"].as_str().unwrap(),
                r["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        invalid,
        [(
            "postgres-exporter",
            "unknown field \"spec.endpoints[0].portt\""
        )]
    );
}

/// The PrometheusRule's `spec` as a Prometheus rule file.
fn rule_file(dir: &std::path::Path, keep_annotations: bool) -> PathBuf {
    let rule = objects(&bundled_monitoring())
        .into_iter()
        .find(|o| o["kind"] == "PrometheusRule")
        .unwrap();
    let mut spec = rule["spec"].clone();
    if !keep_annotations {
        for g in spec["groups"].as_array_mut().unwrap() {
            for r in g["rules"].as_array_mut().unwrap() {
                r.as_object_mut().unwrap().remove("annotations");
            }
        }
    }
    let path = dir.join(if keep_annotations {
        "rules.yaml"
    } else {
        "bare.yaml"
    });
    std::fs::write(&path, serde_saphyr::to_string(&spec).unwrap()).unwrap();
    path
}

fn promtool(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(crate::support::tool("promtool"))
        .args(args)
        .output()
        .expect("promtool (Debian's prometheus package, installed by .ci/install-tools)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

/// Each alert against series named and labelled as kube-state-metrics, the kubelet and
/// postgres_exporter publish them: it fires when it should, and healthy series fire nothing.
const ALERT_TESTS: &str = r#"
rule_files: [bare.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'kube_pod_container_status_waiting_reason{namespace="todo-app", pod="todo-backend-7d4b9c6f8-x2x9z", container="backend", reason="CrashLoopBackOff"}'
        values: '1x30'
      - series: 'kube_deployment_status_replicas_unavailable{namespace="todo-app", deployment="todo-frontend"}'
        values: '1x30'
      - series: 'kube_deployment_status_replicas_available{namespace="todo-app", deployment="todo-backend"}'
        values: '0x30'
      - series: 'kube_deployment_spec_replicas{namespace="todo-app", deployment="todo-backend"}'
        values: '2x30'
      - series: 'kubelet_volume_stats_available_bytes{namespace="todo-app", persistentvolumeclaim="data-postgres-0"}'
        values: '500000000x30'
      - series: 'kubelet_volume_stats_capacity_bytes{namespace="todo-app", persistentvolumeclaim="data-postgres-0"}'
        values: '5368709120x30'
      - series: 'kube_job_status_failed{namespace="todo-app", job_name="postgres-backup-29410560", reason="BackoffLimitExceeded"}'
        values: '1x30'
      - series: 'kube_job_owner{namespace="todo-app", job_name="postgres-backup-29410560", owner_kind="CronJob", owner_name="postgres-backup", owner_is_controller="true"}'
        values: '1x30'
      - series: 'kube_job_status_failed{namespace="todo-app", job_name="manual-cleanup", reason="BackoffLimitExceeded"}'
        values: '1x30'
      - series: 'kube_job_owner{namespace="todo-app", job_name="manual-cleanup", owner_kind="<none>", owner_name="<none>", owner_is_controller="<none>"}'
        values: '1x30'
      - series: 'pg_up{namespace="todo-app", service="postgres-exporter", instance="10.244.0.17:9187", job="postgres-exporter"}'
        values: '0x30'
      - series: 'kube_statefulset_status_replicas_ready{namespace="todo-app", statefulset="postgres"}'
        values: '1x30'
      # Another namespace's app is not this one's problem.
      - series: 'kube_deployment_status_replicas_unavailable{namespace="shop", deployment="todo-backend"}'
        values: '3x30'
    alert_rule_test:
      - eval_time: 10m
        alertname: TodoAppPodCrashLooping
        exp_alerts: []
      - eval_time: 20m
        alertname: TodoAppPodCrashLooping
        exp_alerts:
          - exp_labels: {severity: warning, namespace: todo-app, pod: todo-backend-7d4b9c6f8-x2x9z, container: backend, reason: CrashLoopBackOff}
      - eval_time: 20m
        alertname: TodoAppReplicasUnavailable
        exp_alerts:
          - exp_labels: {severity: warning, namespace: todo-app, deployment: todo-frontend}
      - eval_time: 10m
        alertname: TodoAppNoReplicasAvailable
        exp_alerts:
          - exp_labels: {severity: critical, namespace: todo-app, deployment: todo-backend}
      - eval_time: 10m
        alertname: TodoAppVolumeFillingUp
        exp_alerts:
          - exp_labels: {severity: warning, namespace: todo-app, persistentvolumeclaim: data-postgres-0}
      - eval_time: 5m
        alertname: TodoAppBackupFailed
        exp_alerts:
          - exp_labels: {severity: warning, namespace: todo-app, job_name: postgres-backup-29410560, reason: BackoffLimitExceeded}
      - eval_time: 10m
        alertname: TodoAppPostgresDown
        exp_alerts:
          - exp_labels: {severity: critical, namespace: todo-app, service: postgres-exporter, instance: "10.244.0.17:9187", job: postgres-exporter}
      - eval_time: 10m
        alertname: TodoAppDatabaseNotReady
        exp_alerts: []
  # A volume filling at a steady 40 MB/h from 2.5 GB free: still 40% free after 8 hours, but full
  # within 96 hours at that rate.
  - interval: 1m
    input_series:
      - series: 'kubelet_volume_stats_available_bytes{namespace="todo-app", persistentvolumeclaim="data-postgres-0"}'
        values: '2500000000-666666x600'
      - series: 'kubelet_volume_stats_used_bytes{namespace="todo-app", persistentvolumeclaim="data-postgres-0"}'
        values: '2868709120+666666x600'
      - series: 'kubelet_volume_stats_capacity_bytes{namespace="todo-app", persistentvolumeclaim="data-postgres-0"}'
        values: '5368709120x600'
    alert_rule_test:
      - eval_time: 8h
        alertname: TodoAppVolumeFullSoon
        exp_alerts:
          - exp_labels: {severity: warning, namespace: todo-app, persistentvolumeclaim: data-postgres-0}
      - eval_time: 8h
        alertname: TodoAppVolumeFillingUp
        exp_alerts: []
  # The last successful backup 31 hours before, a suspended CronJob, connections near the limit.
  - interval: 1m
    input_series:
      - series: 'kube_cronjob_status_last_successful_time{namespace="todo-app", cronjob="postgres-backup"}'
        values: '-108000x120'
      - series: 'kube_cronjob_spec_suspend{namespace="todo-app", cronjob="postgres-backup"}'
        values: '1x120'
      - series: 'pg_stat_database_numbackends{namespace="todo-app", instance="10.244.0.17:9187", datname="todo"}'
        values: '85x120'
      - series: 'pg_stat_database_numbackends{namespace="todo-app", instance="10.244.0.17:9187", datname="postgres"}'
        values: '1x120'
      - series: 'pg_settings_max_connections{namespace="todo-app", instance="10.244.0.17:9187", server="postgres:5432"}'
        values: '100x120'
    alert_rule_test:
      - eval_time: 90m
        alertname: TodoAppBackupTooOld
        exp_alerts:
          - exp_labels: {severity: critical, namespace: todo-app, cronjob: postgres-backup}
      - eval_time: 90m
        alertname: TodoAppBackupSuspended
        exp_alerts:
          - exp_labels: {severity: warning, namespace: todo-app, cronjob: postgres-backup}
      - eval_time: 90m
        alertname: TodoAppPostgresTooManyConnections
        exp_alerts:
          - exp_labels: {severity: warning, namespace: todo-app, instance: "10.244.0.17:9187"}
  # All healthy: nothing fires.
  - interval: 1m
    input_series:
      - series: 'kube_deployment_status_replicas_unavailable{namespace="todo-app", deployment="todo-backend"}'
        values: '0x60'
      - series: 'kubelet_volume_stats_available_bytes{namespace="todo-app", persistentvolumeclaim="data-postgres-0"}'
        values: '4000000000x60'
      - series: 'kubelet_volume_stats_capacity_bytes{namespace="todo-app", persistentvolumeclaim="data-postgres-0"}'
        values: '5368709120x60'
      - series: 'kube_job_status_failed{namespace="todo-app", job_name="postgres-backup-29410560", reason="BackoffLimitExceeded"}'
        values: '0x60'
      - series: 'kube_job_owner{namespace="todo-app", job_name="postgres-backup-29410560", owner_kind="CronJob", owner_name="postgres-backup", owner_is_controller="true"}'
        values: '1x60'
      - series: 'pg_up{namespace="todo-app", instance="10.244.0.17:9187"}'
        values: '1x60'
      - series: 'up{namespace="todo-app", instance="10.244.0.17:9187", job="postgres-exporter"}'
        values: '1x60'
    alert_rule_test:
      - {eval_time: 50m, alertname: TodoAppReplicasUnavailable, exp_alerts: []}
      - {eval_time: 50m, alertname: TodoAppVolumeFillingUp, exp_alerts: []}
      - {eval_time: 50m, alertname: TodoAppVolumeFullSoon, exp_alerts: []}
      - {eval_time: 50m, alertname: TodoAppBackupFailed, exp_alerts: []}
      - {eval_time: 50m, alertname: TodoAppPostgresDown, exp_alerts: []}
      - {eval_time: 50m, alertname: TodoAppMetricsTargetDown, exp_alerts: []}
"#;

#[test]
fn the_alerts_parse_and_fire_on_the_series_their_exporters_publish() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rule_file(dir.path(), true);
    let checked = promtool(&["check".as_ref(), "rules".as_ref(), rules.as_os_str()]);
    assert!(checked.contains("SUCCESS: 13 rules found"), "{checked}");
    rule_file(dir.path(), false);
    let tests = dir.path().join("tests.yaml");
    std::fs::write(&tests, ALERT_TESTS).unwrap();
    let tested = promtool(&["test".as_ref(), "rules".as_ref(), tests.as_os_str()]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// Every metric the rules and the dashboard query, as the exporters that publish it name it.
const PUBLISHED: &[&str] = &[
    // kube-state-metrics
    "kube_pod_container_status_waiting_reason",
    "kube_pod_container_status_restarts_total",
    "kube_pod_container_status_last_terminated_reason",
    "kube_deployment_status_replicas_unavailable",
    "kube_deployment_status_replicas_available",
    "kube_deployment_spec_replicas",
    "kube_statefulset_status_replicas_ready",
    "kube_job_status_failed",
    "kube_job_owner",
    "kube_cronjob_status_last_successful_time",
    "kube_cronjob_spec_suspend",
    // the kubelet, and cAdvisor through it
    "kubelet_volume_stats_available_bytes",
    "kubelet_volume_stats_capacity_bytes",
    "kubelet_volume_stats_used_bytes",
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    // postgres_exporter
    "pg_up",
    "pg_stat_database_numbackends",
    "pg_settings_max_connections",
    "pg_stat_database_xact_commit",
    "pg_stat_database_xact_rollback",
    "pg_database_size_bytes",
    // Prometheus itself
    "up",
];

fn metrics_in(expr: &str) -> Vec<String> {
    let selector = regex::Regex::new(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{").unwrap();
    selector
        .captures_iter(expr)
        .map(|c| c[1].to_string())
        .collect()
}

#[test]
fn the_dashboard_is_for_grafanas_sidecar_and_queries_published_metrics() {
    let monitoring = objects(&bundled_monitoring());
    let dashboard = monitoring
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "todo-app-dashboard")
        .unwrap();
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json: Value = serde_json::from_str(dashboard["data"]["todo-app.json"].as_str().unwrap())
        .expect("the dashboard is JSON");
    assert_eq!(json["uid"], "todo-app");
    let vars: Vec<&str> = json["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vars, ["datasource", "namespace"]);
    let mut exprs: Vec<String> = Vec::new();
    for panel in json["panels"].as_array().unwrap() {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", panel["title"]);
        assert_eq!(panel["datasource"]["uid"], "${datasource}");
        for t in targets {
            let e = t["expr"].as_str().unwrap();
            assert!(e.contains("namespace=\"$namespace\""), "{e}");
            exprs.push(e.to_string());
        }
    }
    assert!(exprs.len() >= 10, "{exprs:?}");
    let rule = monitoring
        .iter()
        .find(|o| o["kind"] == "PrometheusRule")
        .unwrap();
    for g in rule["spec"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            exprs.push(r["expr"].as_str().unwrap().to_string());
        }
    }
    let mut queried = std::collections::BTreeSet::new();
    for e in &exprs {
        let found = metrics_in(e);
        assert!(!found.is_empty(), "{e}");
        queried.extend(found);
    }
    let unknown: Vec<&String> = queried
        .iter()
        .filter(|m| !PUBLISHED.contains(&m.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "not published by the exporters: {unknown:?}"
    );
    assert_eq!(queried.len(), PUBLISHED.len(), "{queried:?}");
}
