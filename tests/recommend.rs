//! `kubectl ai recommend`: every rule against a fixture that must fail it and one that must pass,
//! the output formats (SARIF checked against the official 2.1.0 schema), the exit codes a pipeline
//! gates on, suppression, fixes (files rewritten; a cluster changed only through the plan
//! pipeline), and the bundled chart piped from the real helm.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use serde_json::{Value, json};

use crate::support::fake_api::FakeApi;
use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::{Outcome, Run, Sandbox, root, scenario, tool};

fn fixtures() -> PathBuf {
    root().join("tests/fixtures/recommend")
}

fn report(cmd: &mut Run) -> Value {
    let Outcome {
        code,
        stdout,
        stderr,
    } = cmd.run();
    assert!(code == 0 || code == 3, "exit {code}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// Names of the objects one rule reported.
fn flagged(report: &Value, rule: &str) -> BTreeSet<String> {
    report["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rule"] == rule)
        .map(|r| r["object"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn names_in(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    serde_saphyr::from_str_multiple::<Value, Vec<Value>>(&text)
        .unwrap()
        .iter()
        .filter_map(|d| d["metadata"]["name"].as_str().map(str::to_string))
        .collect()
}

/// Rules that need a cluster: usage from metrics.k8s.io or pod states.
const LIVE_RULES: &[&str] = &[
    "limit-below-usage",
    "memory-limit-oom",
    "rightsizing",
    "oom-kills-seen",
    "cpu-throttled",
    "load-swings",
    "hpa-pinned",
    "hpa-range-unused",
    "hpa-target-far",
];

#[test]
fn every_manifest_rule_fails_its_bad_fixture_and_passes_its_good_one() {
    let sb = Sandbox::new();
    let rules = report(
        sb.kubectl_ai()
            .args(["recommend", "--list-rules", "-o", "json"]),
    );
    let ids: Vec<&str> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(ids.len() >= 50, "{ids:?}");
    let off: Vec<&str> = rules
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["enabled"] == false)
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(off, ["cpu-limit-missing"]);
    for id in ids.iter().filter(|id| !LIVE_RULES.contains(id)) {
        let file = fixtures().join(format!("{id}.yaml"));
        assert!(
            file.is_file(),
            "rule {id} has no fixture {}",
            file.display()
        );
        let names = names_in(&file);
        let fail: BTreeSet<String> = names
            .iter()
            .filter(|n| n.starts_with("fail-"))
            .cloned()
            .collect();
        assert!(!fail.is_empty(), "{id}: no failing fixture");
        assert!(
            names.iter().any(|n| n.starts_with("pass-")),
            "{id}: no passing fixture"
        );
        // A fixture may need flags (`# args: --kubernetes-version 1.28` on its first line).
        let text = std::fs::read_to_string(&file).unwrap();
        let mut args: Vec<&str> = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# args: "))
            .map(|a| a.split_whitespace().collect())
            .unwrap_or_default();
        if off.contains(id) {
            let quiet = report(
                sb.kubectl_ai()
                    .args(["recommend", "-o", "json", "--fail-on", "never", "-f"])
                    .arg(&file),
            );
            assert!(quiet["recommendations"].is_array());
            assert!(flagged(&quiet, id).is_empty(), "{id} is off by default");
            args.extend(["--enable", id]);
        }
        let r = report(
            sb.kubectl_ai()
                .args(["recommend", "-o", "json", "--fail-on", "never"])
                .args(&args)
                .arg("-f")
                .arg(&file),
        );
        assert_eq!(flagged(&r, id), fail, "rule {id} on {}", file.display());
    }
}

/// A snapshot directory with one namespace of StatefulSets, their pods and metrics.
fn snapshot(
    dir: &Path,
    sets: &[(&str, Value)],
    pods: &[(&str, &str, Value)],
    usage: &[(&str, &str, &str)],
) {
    let ns = dir.join("app");
    std::fs::create_dir_all(&ns).unwrap();
    let list = |items: Vec<Value>| json!({"apiVersion": "v1", "kind": "List", "items": items});
    let sets: Vec<Value> = sets
        .iter()
        .map(|(name, container)| json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": "app"},
            "spec": {"replicas": 1, "serviceName": name, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}
        }))
        .collect();
    let pods: Vec<Value> = pods
        .iter()
        .map(|(set, pod, status)| json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": "app", "labels": {"app": set},
                         "creationTimestamp": "2026-11-20T09:00:00Z",
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": set, "uid": "u", "controller": true}]},
            "spec": {"containers": [sets.iter().find(|s| s["metadata"]["name"] == *set).unwrap()["spec"]["template"]["spec"]["containers"][0].clone()]},
            "status": status,
        }))
        .collect();
    let metrics: Vec<Value> = usage
        .iter()
        .map(|(pod, cpu, mem)| json!({
            "metadata": {"name": pod, "namespace": "app"}, "timestamp": "2026-11-20T10:00:00Z", "window": "15s",
            "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": mem}}]
        }))
        .collect();
    std::fs::write(ns.join("statefulsets.json"), list(sets).to_string()).unwrap();
    std::fs::write(ns.join("pods.json"), list(pods).to_string()).unwrap();
    std::fs::write(
        dir.join("metrics-pods.json"),
        json!({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetricsList", "items": metrics})
            .to_string(),
    )
    .unwrap();
}

fn container(requests: Value, limits: Value) -> Value {
    json!({"name": "app", "image": "app:1", "resources": {"requests": requests, "limits": limits}})
}

#[test]
fn rules_that_need_a_cluster_read_usage_and_pod_states() {
    let sb = Sandbox::new();
    let running = json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": "app:1", "imageID": "", "state": {"running": {"startedAt": "2026-11-20T09:00:00Z"}}}]});
    let oom = json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 4, "image": "app:1", "imageID": "",
        "state": {"running": {"startedAt": "2026-11-20T09:58:00Z"}},
        "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-11-20T09:57:00Z"}}}]});
    let dir = sb.path().join("snap");
    snapshot(
        &dir,
        &[
            (
                "fail-near-limit",
                container(
                    json!({"cpu": "100m", "memory": "256Mi"}),
                    json!({"memory": "256Mi"}),
                ),
            ),
            (
                "fail-oom",
                container(
                    json!({"cpu": "100m", "memory": "256Mi"}),
                    json!({"memory": "256Mi"}),
                ),
            ),
            (
                "fail-oversized",
                container(
                    json!({"cpu": "2", "memory": "4Gi"}),
                    json!({"memory": "4Gi"}),
                ),
            ),
            (
                "pass-fitting",
                container(
                    json!({"cpu": "100m", "memory": "256Mi"}),
                    json!({"memory": "512Mi"}),
                ),
            ),
        ],
        &[
            ("fail-near-limit", "fail-near-limit-0", running.clone()),
            ("fail-oom", "fail-oom-0", oom),
            ("fail-oversized", "fail-oversized-0", running.clone()),
            ("pass-fitting", "pass-fitting-0", running),
        ],
        &[
            ("fail-near-limit-0", "90m", "250Mi"),
            ("fail-oom-0", "90m", "200Mi"),
            ("fail-oversized-0", "50m", "300Mi"),
            ("pass-fitting-0", "90m", "220Mi"),
        ],
    );
    let r = report(
        sb.kubectl_ai()
            .args([
                "recommend",
                "-A",
                "-o",
                "json",
                "--fail-on",
                "never",
                "--snapshot",
            ])
            .arg(&dir),
    );
    let set = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(flagged(&r, "limit-below-usage"), set(&["fail-near-limit"]));
    assert_eq!(flagged(&r, "memory-limit-oom"), set(&["fail-oom"]));
    assert_eq!(flagged(&r, "rightsizing"), set(&["fail-oversized"]));
    let rightsizing = r["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == "rightsizing")
        .unwrap();
    // Says plainly that one sample is weak evidence, and how much headroom it keeps.
    let message = rightsizing["message"].as_str().unwrap();
    assert!(
        message.contains("one metrics.k8s.io sample") && message.contains("20% headroom"),
        "{message}"
    );
    // 50m used -> 60m; 300Mi used -> 360Mi.
    assert_eq!(
        rightsizing["fix"]["patch"]["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"],
        json!({"cpu": "60m", "memory": "360Mi"})
    );
    let oom = r["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == "memory-limit-oom")
        .unwrap();
    // 256Mi limit hit: 50% headroom, rounded up to 64Mi.
    assert_eq!(
        oom["fix"]["patch"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"],
        "384Mi"
    );
}

fn sarif_schema() -> PathBuf {
    let out = StdCommand::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root())
        .output()
        .expect("cargo metadata");
    let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "serde-sarif")
        .expect("serde-sarif is a dependency")["manifest_path"]
        .as_str()
        .unwrap()
        .to_string();
    // serde-sarif generates its types from the official OASIS schema, shipped in the crate.
    Path::new(&manifest)
        .parent()
        .unwrap()
        .join("src/schema.json")
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0_with_file_and_line() {
    let sb = Sandbox::new();
    let Outcome {
        code,
        stdout,
        stderr,
    } = sb
        .kubectl_ai()
        .args(["recommend", "-o", "sarif", "-f"])
        .arg(fixtures())
        .run();
    assert_eq!(code, 3, "{stderr}");
    let out = sb.path().join("out.sarif");
    std::fs::write(&out, &stdout).unwrap();
    let schema = sarif_schema();
    let check = StdCommand::new("python3")
        .args([
            "-c",
            "import json,sys,jsonschema; jsonschema.Draft7Validator(json.load(open(sys.argv[1]))).validate(json.load(open(sys.argv[2]))); print('valid')",
        ])
        .arg(&schema)
        .arg(&out)
        .output()
        .expect("python3 with jsonschema (installed by .ci/install-tools)");
    assert!(
        check.status.success(),
        "SARIF does not validate against {}: {}",
        schema.display(),
        String::from_utf8_lossy(&check.stderr)
    );

    let sarif: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run0 = &sarif["runs"][0];
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run0["results"].as_array().unwrap();
    assert!(results.len() > 30);
    for r in results {
        // ruleIndex points at the rule it names, and the location at the object's first line
        // (a schema problem at the offending field).
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"]);
        let loc = &r["locations"][0]["physicalLocation"];
        let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
        let line = loc["region"]["startLine"].as_u64().unwrap() as usize;
        let text = std::fs::read_to_string(uri).unwrap_or_else(|_| panic!("uri {uri} is the file"));
        let at = text.lines().nth(line - 1).unwrap();
        if r["ruleId"] == "schema-invalid" {
            // The offending field's own line (or the object's, for a kind that does not exist).
            assert!(
                !at.trim().is_empty() && !at.trim_start().starts_with('#'),
                "{uri}:{line}"
            );
            continue;
        }
        assert!(
            at.starts_with("apiVersion:"),
            "{uri}:{line} is not where the object starts"
        );
    }
    // Security rules carry GitHub's security-severity.
    let privileged = rules.iter().find(|r| r["id"] == "privileged").unwrap();
    assert_eq!(privileged["properties"]["security-severity"], "8.0");
}

#[test]
fn exit_codes_follow_the_fail_on_threshold() {
    let sb = Sandbox::new();
    let errors = fixtures().join("privileged.yaml");
    let warnings_only = sb.path().join("warn.yaml");
    std::fs::write(
        &warnings_only,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  securityContext: {runAsNonRoot: true}\n  automountServiceAccountToken: false\n  containers: [{name: c, image: app:1, securityContext: {allowPrivilegeEscalation: false}}]\n",
    )
    .unwrap();
    let code = |file: &Path, fail_on: Option<&str>| {
        let mut cmd = sb.kubectl_ai();
        cmd.arg("recommend").arg("-f").arg(file);
        if let Some(f) = fail_on {
            cmd.args(["--fail-on", f]);
        }
        cmd.run().code
    };
    assert_eq!(code(&errors, None), 3, "default threshold is error");
    assert_eq!(code(&errors, Some("never")), 0);
    assert_eq!(code(&warnings_only, None), 0);
    assert_eq!(code(&warnings_only, Some("error")), 0);
    assert_eq!(code(&warnings_only, Some("warning")), 3);
    assert_eq!(code(&warnings_only, Some("info")), 3);
    // The environment sets it too, for a whole CI job.
    let Outcome { code: c, .. } = sb
        .kubectl_ai()
        .env("KUBECTL_AI_FAIL_ON", "warning")
        .args(["recommend", "-f"])
        .arg(&warnings_only)
        .run();
    assert_eq!(c, 3);

    // Could not run: distinct from "found problems".
    let Outcome {
        code: c, stderr, ..
    } = sb
        .kubectl_ai()
        .args(["recommend", "-f", "/nonexistent/k8s"])
        .run();
    assert_eq!(c, 1);
    assert!(stderr.starts_with("error: /nonexistent/k8s:"), "{stderr}");
    let broken = sb.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n---\nmetadata: [unclosed\n",
    )
    .unwrap();
    let Outcome {
        code: c, stderr, ..
    } = sb
        .kubectl_ai()
        .arg("recommend")
        .arg("-f")
        .arg(&broken)
        .run();
    assert_eq!(c, 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("broken.yaml:5:11: invalid YAML: unclosed bracket"),
        "{stderr}"
    );
    let Outcome {
        code: c, stderr, ..
    } = sb
        .kubectl_ai()
        .args(["recommend", "--ignore", "no-such-rule", "-f"])
        .arg(&errors)
        .run();
    assert_eq!(c, 2, "{stderr}");
    let Outcome {
        code: c, stderr, ..
    } = sb
        .kubectl_ai()
        .args(["diagnose", "--demo", "-o", "sarif"])
        .run();
    assert_eq!(c, 2, "{stderr}");
}

#[test]
fn suppression_by_annotation_flag_and_config_file() {
    let sb = Sandbox::new();
    let file = fixtures().join("image-latest.yaml");
    let base = report(
        sb.kubectl_ai()
            .args(["recommend", "-o", "json", "-f"])
            .arg(&file),
    );
    assert_eq!(flagged(&base, "image-latest").len(), 2);
    assert_eq!(base["summary"]["suppressed"], 0);

    let one = report(
        sb.kubectl_ai()
            .args([
                "recommend",
                "-o",
                "json",
                "--ignore",
                "image-latest@deployment/fail-latest",
                "-f",
            ])
            .arg(&file),
    );
    assert_eq!(flagged(&one, "image-latest").len(), 1);
    assert_eq!(one["summary"]["suppressed"], 1);

    let config = sb.path().join("config.yaml");
    std::fs::write(
        &config,
        "recommend:\n  ignore: [image-latest, root-filesystem-writable]\n",
    )
    .unwrap();
    let all = report(
        sb.kubectl_ai()
            .env("KUBECTL_AI_CONFIG", &config)
            .args(["recommend", "-o", "json", "-f"])
            .arg(&file),
    );
    assert!(flagged(&all, "image-latest").is_empty());
    assert!(flagged(&all, "root-filesystem-writable").is_empty());
    assert_eq!(
        all["summary"]["suppressed"].as_u64().unwrap(),
        2 + base["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["rule"] == "root-filesystem-writable")
            .count() as u64
    );
}

#[test]
fn github_annotations_point_at_file_and_line() {
    let sb = Sandbox::new();
    let file = fixtures().join("host-network.yaml");
    let Outcome { code, stdout, .. } = sb
        .kubectl_ai()
        .args(["recommend", "-o", "github", "-f"])
        .arg(&file)
        .run();
    assert_eq!(code, 3);
    let shown = file.display().to_string();
    let line = stdout
        .lines()
        .find(|l| l.contains("host-network ("))
        .expect("an annotation for host-network");
    assert!(
        line.starts_with(&format!(
            "::error file={shown},line=1,title=host-network (pod/fail-host-network -n default)::"
        )),
        "{line}"
    );
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("::notice title=kubectl-ai recommend::")
    );
    // Every line is a workflow command.
    assert!(stdout.lines().all(|l| l.starts_with("::")));
}

#[test]
fn secret_values_never_appear_in_any_output() {
    let sb = Sandbox::new();
    let file = fixtures().join("secret-literal-env.yaml");
    for format in ["text", "json", "yaml", "sarif", "github"] {
        let Outcome { stdout, stderr, .. } = sb
            .kubectl_ai()
            .args(["recommend", "-o", format, "-f"])
            .arg(&file)
            .run();
        assert!(
            stdout.contains("DATABASE_PASSWORD")
                || format == "github" && stdout.contains("secret-literal-env"),
            "{format}: {stdout}"
        );
        assert!(
            !stdout.contains("canary-s3cret") && !stderr.contains("canary-s3cret"),
            "{format} leaked a value"
        );
    }
}

#[test]
fn helm_template_piped_in_finds_no_error_in_the_bundled_chart() {
    let sb = Sandbox::new();
    let chart = root().join("manifests/todo-app/chart");
    let rendered = StdCommand::new(tool("helm"))
        .args(["template", "todo"])
        .arg(&chart)
        .args(["--namespace", "todo-app"])
        .output()
        .expect("helm");
    assert!(rendered.status.success());
    let out = sb
        .kubectl_ai()
        .args(["recommend", "-f", "-", "-o", "json"])
        .stdin(rendered.stdout)
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let piped: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(piped["recommendations"].is_array(), "{piped:#}");
    assert_eq!(piped["summary"]["errors"], 0, "{piped:#}");
    assert_eq!(piped["summary"]["warnings"], 0, "{piped:#}");
    assert!(
        piped["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["location"]["file"] == "-")
    );
    // The committed manifests kubectl-ai deploys say the same.
    let file = report(
        sb.kubectl_ai()
            .args(["recommend", "-o", "json", "-f"])
            .arg(root().join("manifests/todo-app/todo-app.yaml")),
    );
    let rules = |r: &Value| -> Vec<(String, String)> {
        r["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["rule"].as_str().unwrap().into(),
                    x["object"]["name"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    assert_eq!(rules(&piped), rules(&file));
    assert_eq!(file["summary"]["errors"], 0);
    assert_eq!(file["summary"]["warnings"], 0, "{file:#}");
}

#[test]
fn fix_write_rewrites_only_the_documents_it_fixes() {
    let sb = Sandbox::new();
    let file = sb.path().join("app.yaml");
    let untouched = "# the Service, exactly as written\napiVersion: v1\nkind: Service\nmetadata: {name: web}   # keep me\nspec: {selector: {app: web}, ports: [{port: 80}]}\n";
    let original = format!(
        "# Source: app/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n        - name: web\n          image: web:1.0\n          ports: [{{containerPort: 8000}}]\n          readinessProbe: {{httpGet: {{path: /ready, port: 8080}}}}\n---\n{untouched}"
    );
    std::fs::write(&file, &original).unwrap();
    let before = report(
        sb.kubectl_ai()
            .args(["recommend", "-o", "json", "-f"])
            .arg(&file),
    );
    let fixable: BTreeSet<String> = before["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["fix"].is_object())
        .map(|r| r["rule"].as_str().unwrap().to_string())
        .collect();
    assert!(
        fixable.contains("probe-port-undeclared") && fixable.contains("pdb-missing"),
        "{fixable:?}"
    );

    // --fix on files needs --write.
    let Outcome { code, stderr, .. } = sb
        .kubectl_ai()
        .args(["recommend", "--fix", "-f"])
        .arg(&file)
        .run();
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);

    let Outcome {
        code,
        stdout,
        stderr,
    } = sb
        .kubectl_ai()
        .args(["recommend", "--fix", "--write", "-f"])
        .arg(&file)
        .run();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("wrote {} fix(es)", fixable.len())),
        "{stdout}"
    );
    let after = std::fs::read_to_string(&file).unwrap();
    assert!(
        after.starts_with("# Source: app/deployment.yaml\n"),
        "leading comment kept:\n{after}"
    );
    assert!(
        after.contains(&format!("---\n{untouched}")),
        "the Service is byte-identical:\n{after}"
    );
    assert!(after.contains("kind: PodDisruptionBudget"), "{after}");
    // Key order of the fixed document is the user's, not alphabetical.
    let kind_at = after.find("kind: Deployment").unwrap();
    assert!(
        after.find("apiVersion: apps/v1").unwrap() < kind_at
            && kind_at < after.find("metadata:").unwrap()
    );

    let again = report(
        sb.kubectl_ai()
            .args(["recommend", "-o", "json", "-f"])
            .arg(&file),
    );
    for rule in &fixable {
        assert!(
            flagged(&again, rule).is_empty(),
            "{rule} still reported after its fix:\n{after}"
        );
    }
    // The result is still valid Kubernetes, by the real schemas.
    let validate = StdCommand::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "-k", "1.33.0"])
        .arg(&file)
        .output()
        .expect("kubernetes-validate");
    assert!(
        validate.status.success(),
        "{}",
        String::from_utf8_lossy(&validate.stdout)
    );

    // From stdin, the fixed manifests are the output.
    let out = sb
        .kubectl_ai()
        .args(["recommend", "--fix", "-f", "-"])
        .stdin(original)
        .run();
    let printed = &out.stdout;
    assert!(
        printed.contains("port: 8000") && printed.contains("kind: PodDisruptionBudget"),
        "{printed}"
    );
}

#[test]
fn fixes_for_a_cluster_go_through_the_plan_pipeline() {
    let sb = Sandbox::new();
    let api = FakeApi::start(&scenario("oom-killed"));
    let kubeconfig = api.write_kubeconfig(sb.path(), "shop");
    let cmd = |extra: &[&str]| {
        let mut c = sb.kubectl_ai();
        c.args([
            "recommend",
            "--ignore",
            "spread-missing",
            "--ignore",
            "pdb-missing",
            "--ignore",
            "single-replica",
            "--fix",
        ])
        .args(extra)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .env("KUBECTL_AI_STATE_DIR", sb.path().join("state"));
        c
    };
    // No terminal, no --yes: shown, validated, refused.
    let Outcome {
        code,
        stdout,
        stderr,
    } = cmd(&[]).run();
    assert_eq!(code, 5, "{stdout}\n{stderr}");
    assert!(stdout.contains("memory-limit-oom"), "{stdout}");
    assert!(api.real_mutations().is_empty());
    assert!(
        api.journal()
            .iter()
            .any(|r| r.param("dryRun").as_deref() == Some("All"))
    );

    let Outcome {
        code,
        stdout,
        stderr,
    } = cmd(&["--yes", "--timeout", "0"]).run();
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let worker = api
        .object("apps", "deployments", Some("shop"), "order-worker")
        .unwrap();
    let c = &worker["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["resources"]["limits"]["memory"], "192Mi", "{c:#}");
    assert_eq!(
        c["securityContext"]["allowPrivilegeEscalation"], false,
        "{c:#}"
    );
    // Recorded, so it can be undone.
    let history = report(
        sb.kubectl_ai()
            .args(["history", "-o", "json"])
            .env("KUBECTL_AI_STATE_DIR", sb.path().join("state")),
    );
    assert_eq!(history.as_array().unwrap().len(), 1);
}

#[test]
fn explain_asks_the_llm_with_the_findings_only() {
    let sb = Sandbox::new();
    let llm = FakeLlm::start(vec![Reply::Text("Fix the privileged agent first.".into())]);
    let file = fixtures().join("secret-literal-env.yaml");
    let Outcome {
        code,
        stdout,
        stderr,
    } = sb
        .kubectl_ai()
        .env("OPENAI_BASE_URL", &llm.url)
        .env("OPENAI_API_KEY", "sk-test-key-0123456789")
        .args(["recommend", "--explain", "-f"])
        .arg(&file)
        .run();
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stdout.contains("Summary\nFix the privileged agent first."),
        "{stdout}"
    );
    let requests = llm.requests();
    assert_eq!(requests.len(), 1);
    let sent = requests[0].text();
    assert!(
        sent.contains("secret-literal-env") && sent.contains("fail-password"),
        "{sent}"
    );
    assert!(
        !sent.contains("canary-s3cret"),
        "a literal secret reached the LLM"
    );

    // Without an LLM the report is complete and the note says how to get one.
    let Outcome {
        code,
        stdout,
        stderr,
    } = sb
        .kubectl_ai()
        .args(["recommend", "--explain", "-f"])
        .arg(&file)
        .run();
    assert_eq!(code, 3);
    assert!(stdout.contains("secret-literal-env"));
    assert!(stderr.contains("--explain needs an LLM"), "{stderr}");
}

/// (rule, object name, message, line) of every schema finding.
fn schema_findings(report: &Value) -> Vec<(String, String, u64)> {
    report["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rule"] == "schema-invalid")
        .map(|r| {
            (
                r["object"]["name"].as_str().unwrap().to_string(),
                r["message"].as_str().unwrap().to_string(),
                r["location"]["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn broken_manifests_fail_the_gate_with_the_field_path_and_line() {
    let sb = Sandbox::new();
    let file = fixtures().join("schema-invalid.yaml");
    let Outcome {
        code,
        stdout,
        stderr,
    } = sb
        .kubectl_ai()
        .args(["recommend", "-o", "json", "-f"])
        .arg(&file)
        .run();
    assert_eq!(code, 3, "{stderr}");
    let found = schema_findings(&serde_json::from_str(&stdout).unwrap());
    let text = std::fs::read_to_string(&file).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1;
    let expect = [
        (
            "fail-replicas-word",
            "spec.replicas: expected integer, got string \"many\"",
            line_of("replicas: many"),
        ),
        (
            "fail-containers-map",
            "spec.template.spec.containers: expected array, got an object",
            line_of("app: {image: app:1}") - 1,
        ),
        (
            "fail-unknown-field",
            "unknown field \"spec.ports[0].targetPrt\"",
            line_of("targetPrt"),
        ),
        (
            "fail-no-template",
            "spec: required field \"template\" is missing",
            line_of("metadata: {name: fail-no-template}") + 1,
        ),
        (
            "fail-port-string",
            "spec.template.spec.containers[0].ports[0].containerPort: expected integer, got string \"8080\"",
            line_of("containerPort: \"8080\""),
        ),
        (
            "fail-sts-containers-in-spec",
            "spec: required field \"template\" is missing",
            line_of("metadata: {name: fail-sts-containers-in-spec}") + 1,
        ),
        (
            "fail-sts-containers-in-spec",
            "unknown field \"spec.containers\"",
            line_of("containers: [{name: db, image: postgres:16.4}]"),
        ),
    ];
    for (name, message, line) in expect {
        assert!(
            found.contains(&(name.to_string(), message.to_string(), line)),
            "{name}: {message} at {line} not in {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
    // Text output names the file and line too, and `--validate none` is the way around it.
    let Outcome {
        stdout: text_out, ..
    } = sb.kubectl_ai().args(["recommend", "-f"]).arg(&file).run();
    assert!(
        text_out.contains(&format!(
            "schema-invalid.yaml:{}",
            line_of("replicas: many")
        )),
        "{text_out}"
    );
    let none = report(
        sb.kubectl_ai()
            .args(["recommend", "-o", "json", "--validate", "none", "-f"])
            .arg(&file),
    );
    assert!(!none["recommendations"].as_array().unwrap().is_empty());
    assert!(schema_findings(&none).is_empty());
}

#[test]
fn an_empty_input_is_an_error_unless_allowed() {
    let sb = Sandbox::new();
    for (name, content) in [
        ("empty.yaml", ""),
        ("dashes.yaml", "---\n---\n# nothing\n---\n"),
    ] {
        let file = sb.path().join(name);
        std::fs::write(&file, content).unwrap();
        let Outcome {
            code,
            stdout,
            stderr,
        } = sb.kubectl_ai().args(["recommend", "-f"]).arg(&file).run();
        assert_eq!(code, 1, "{name}: {stdout}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: ")
                && stderr.contains(name)
                && stderr.contains("--allow-empty"),
            "{stderr}"
        );
        let Outcome {
            code,
            stdout,
            stderr,
        } = sb
            .kubectl_ai()
            .args(["recommend", "--allow-empty", "-f"])
            .arg(&file)
            .run();
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("No recommendations"), "{stdout}");
    }
    let Outcome { code, stderr, .. } = sb
        .kubectl_ai()
        .args(["recommend", "-f", "-"])
        .stdin("")
        .run();
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error: -: no Kubernetes objects"),
        "{stderr}"
    );
}

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: backups.stash.example.com}
spec:
  group: stash.example.com
  scope: Namespaced
  names: {kind: Backup, plural: backups, singular: backup, listKind: BackupList}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [schedule]
              properties:
                schedule: {type: string}
                retainDays: {type: integer}
"#;

#[test]
fn custom_resources_are_skipped_with_a_note_or_checked_with_their_crd() {
    let sb = Sandbox::new();
    let cr = sb.path().join("backup.yaml");
    std::fs::write(
        &cr,
        "apiVersion: stash.example.com/v1\nkind: Backup\nmetadata: {name: nightly}\nspec:\n  schedule: \"0 3 * * *\"\n  retainDays: seven\n",
    )
    .unwrap();
    let Outcome {
        code,
        stdout,
        stderr,
    } = sb.kubectl_ai().args(["recommend", "-f"]).arg(&cr).run();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("note: not validated")
            && stderr.contains("Backup (stash.example.com/v1)")
            && stderr.contains("--crd-schemas"),
        "{stderr}"
    );
    let crds = sb.path().join("crds");
    std::fs::create_dir(&crds).unwrap();
    std::fs::write(crds.join("backup-crd.yaml"), CRD).unwrap();
    let checked = report(
        sb.kubectl_ai()
            .args(["recommend", "-o", "json", "--crd-schemas"])
            .arg(&crds)
            .arg("-f")
            .arg(&cr),
    );
    assert_eq!(
        schema_findings(&checked),
        vec![(
            "nightly".to_string(),
            "spec.retainDays: expected integer, got string \"seven\"".to_string(),
            6
        )]
    );
    // A CRD among the inputs describes its resources as well.
    let both = sb.path().join("both.yaml");
    std::fs::write(&both, format!("{CRD}---\napiVersion: stash.example.com/v1\nkind: Backup\nmetadata: {{name: weekly}}\nspec: {{retainDays: 7}}\n")).unwrap();
    let inline = report(
        sb.kubectl_ai()
            .args(["recommend", "-o", "json", "-f"])
            .arg(&both),
    );
    assert_eq!(
        schema_findings(&inline),
        vec![(
            "weekly".to_string(),
            "spec: required field \"schedule\" is missing".to_string(),
            26
        )]
    );
}

#[test]
fn kubernetes_version_chooses_the_schemas() {
    let sb = Sandbox::new();
    let hpa = sb.path().join("hpa.yaml");
    std::fs::write(
        &hpa,
        "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 2\n  maxReplicas: 5\n",
    )
    .unwrap();
    let old = report(
        sb.kubectl_ai()
            .args([
                "recommend",
                "-o",
                "json",
                "--kubernetes-version",
                "v1.25.3",
                "-f",
            ])
            .arg(&hpa),
    );
    assert!(old["recommendations"].is_array());
    assert!(schema_findings(&old).is_empty(), "{old:#}");
    let new = report(
        sb.kubectl_ai()
            .args(["recommend", "-o", "json", "-f"])
            .arg(&hpa),
    );
    let found = schema_findings(&new);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].1.contains("Kubernetes 1.33 has no kind HorizontalPodAutoscaler in apiVersion \"autoscaling/v2beta2\""), "{found:?}");
    let Outcome { code, stderr, .. } = sb
        .kubectl_ai()
        .args(["recommend", "--kubernetes-version", "1.12", "-f"])
        .arg(&hpa)
        .run();
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with("error: no bundled schemas for Kubernetes 1.12"),
        "{stderr}"
    );
}

/// The severities a report gives one rule's recommendations.
fn severity_of(r: &Value, rule: &str) -> Vec<String> {
    r["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["rule"] == rule)
        .map(|x| x["severity"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn rules_are_configuration_in_flags() {
    let sb = Sandbox::new();
    let file = fixtures().join("image-latest.yaml");
    let base = report(
        sb.kubectl_ai()
            .args(["recommend", "-o", "json", "-f"])
            .arg(&file),
    );
    let before = severity_of(&base, "image-latest");
    assert!(
        !before.is_empty() && before.iter().all(|s| s == "warning"),
        "{before:?}"
    );
    // Flags: a severity raised, a rule turned off.
    let Outcome {
        code,
        stdout,
        stderr,
    } = sb
        .kubectl_ai()
        .args([
            "recommend",
            "-o",
            "json",
            "--severity",
            "image-latest=error",
            "--disable",
            "root-filesystem-writable",
            "-f",
        ])
        .arg(&file)
        .run();
    assert_eq!(code, 3, "{stderr}");
    let flags: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        severity_of(&flags, "image-latest")
            .iter()
            .all(|s| s == "error")
    );
    assert_eq!(severity_of(&flags, "image-latest").len(), before.len());
    assert!(!severity_of(&base, "root-filesystem-writable").is_empty());
    assert!(severity_of(&flags, "root-filesystem-writable").is_empty());
}

#[test]
fn rules_are_configuration_in_the_config_file_and_list_rules_shows_it() {
    let sb = Sandbox::new();
    let file = fixtures().join("image-latest.yaml");
    // The config file says what the flags say, and flags win over it.
    let config = sb.path().join("config.yaml");
    std::fs::write(
        &config,
        "recommend:\n  severity: {image-latest: info}\n  disable: [root-filesystem-writable]\n  enable: [cpu-limit-missing]\n",
    )
    .unwrap();
    let from_file = report(
        sb.kubectl_ai()
            .env("KUBECTL_AI_CONFIG", &config)
            .args(["recommend", "-o", "json", "-f"])
            .arg(&file),
    );
    assert!(
        severity_of(&from_file, "image-latest")
            .iter()
            .all(|s| s == "info")
    );
    assert!(severity_of(&from_file, "root-filesystem-writable").is_empty());
    assert!(!severity_of(&from_file, "cpu-limit-missing").is_empty());
    let listed = report(sb.kubectl_ai().env("KUBECTL_AI_CONFIG", &config).args([
        "recommend",
        "--list-rules",
        "-o",
        "json",
        "--severity",
        "image-latest=error",
    ]));
    let row = |id: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(row("image-latest")["severity"], "error");
    assert_eq!(row("image-latest")["defaultSeverity"], "warning");
    assert_eq!(row("cpu-limit-missing")["enabled"], true);
    assert_eq!(row("root-filesystem-writable")["enabled"], false);
    assert!(row("rbac-wildcard")["help"].as_str().unwrap().len() > 40);
    let Outcome {
        code, stdout: text, ..
    } = sb.kubectl_ai().args(["recommend", "--list-rules"]).run();
    assert_eq!(code, 0);
    assert!(
        text.lines()
            .any(|l| l.starts_with("cpu-limit-missing") && l.contains(" no ")),
        "{text}"
    );
}

#[test]
fn mistakes_in_rule_choices_are_usage_errors() {
    let sb = Sandbox::new();
    let file = fixtures().join("image-latest.yaml");
    // Mistakes are usage errors, in one line.
    for bad in [
        ["--severity", "image-latest=fatal"],
        ["--severity", "no-such-rule=error"],
        ["--disable", "no-such-rule"],
    ] {
        let Outcome { code, stderr, .. } = sb
            .kubectl_ai()
            .args(["recommend", "-f"])
            .arg(&file)
            .args(bad)
            .run();
        assert_eq!(code, 2, "{bad:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.lines().count() == 1,
            "{stderr}"
        );
    }
}

#[test]
fn validate_cluster_checks_against_the_clusters_own_openapi() {
    let sb = Sandbox::new();
    let api = FakeApi::empty();
    let file = sb.path().join("web.yaml");
    std::fs::write(
        &file,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: many\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: web:1.0}]\n",
    )
    .unwrap();
    let r = report(
        sb.against(&api, "default")
            .args(["recommend", "-o", "json", "--validate", "cluster", "-f"])
            .arg(&file),
    );
    assert_eq!(
        schema_findings(&r),
        vec![(
            "web".to_string(),
            "spec.replicas: expected integer, got string \"many\"".to_string(),
            5
        )]
    );
    assert!(
        api.journal()
            .iter()
            .any(|j| j.path == "/openapi/v3/apis/apps/v1"),
        "the schema came from the cluster"
    );
}
