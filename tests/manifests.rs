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

#[test]
fn workloads_are_non_root_bounded_probed_and_spread() {
    let objs = objects(&bundled());
    let find = |kind: &str, name: &str| {
        objs.iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{kind}/{name}"))
    };
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
    for name in ["todo-frontend", "todo-backend"] {
        let d = find("Deployment", name);
        let spec = &d["spec"]["template"]["spec"];
        let c = &spec["containers"][0];
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready");
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
        assert_eq!(c["securityContext"]["runAsUser"], 1001);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
        assert!(spec["topologySpreadConstraints"].is_array());
        assert_eq!(
            find("HorizontalPodAutoscaler", name)["spec"]["scaleTargetRef"]["name"],
            name
        );
        assert_eq!(find("PodDisruptionBudget", name)["spec"]["minAvailable"], 1);
        assert_eq!(
            find("ServiceAccount", name)["automountServiceAccountToken"],
            false
        );
    }
    assert!(find("Deployment", "todo-backend")["spec"]["template"]["spec"]["containers"][0]["startupProbe"].is_object());
    assert_eq!(
        find("Deployment", "todo-frontend")["spec"]["template"]["spec"]["containers"][0]["ports"]
            [0]["containerPort"],
        3000
    );
    assert_eq!(
        find("Deployment", "todo-backend")["spec"]["template"]["spec"]["containers"][0]["ports"][0]
            ["containerPort"],
        8000
    );
    let pg = find("StatefulSet", "postgres");
    assert_eq!(
        pg["spec"]["template"]["spec"]["containers"][0]["image"],
        "postgres:16-alpine"
    );
    assert!(
        pg["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
            .is_string()
    );
    assert_eq!(find("Service", "postgres")["spec"]["clusterIP"], "None");
    assert_eq!(find("Service", "todo-backend")["spec"]["type"], "ClusterIP");
    assert_eq!(
        find("NetworkPolicy", "default-deny")["spec"]["podSelector"],
        serde_json::json!({})
    );
    assert_eq!(
        find("CronJob", "postgres-backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
            [0]["persistentVolumeClaim"]["claimName"],
        "postgres-backups"
    );
    assert!(
        objs.iter().all(|o| o["kind"] != "Secret"),
        "credentials are generated at deploy time, never committed"
    );
    // minikube exposes the frontend on a NodePort.
    let minikube = objects(&minikube());
    let fe = minikube
        .iter()
        .find(|o| o["kind"] == "Service" && o["metadata"]["name"] == "todo-frontend")
        .unwrap();
    assert_eq!(
        (
            fe["spec"]["type"].as_str(),
            fe["spec"]["ports"][0]["nodePort"].as_i64()
        ),
        (Some("NodePort"), Some(30080))
    );
}
