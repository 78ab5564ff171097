//! `kubectl ai mcp` driven by a real MCP client, the official Python SDK (tests/mcp/client.py),
//! over stdio and streamable HTTP against the fake API server. The client reports what it saw as
//! JSON; the judges here are that report, the tokenizer the budget is defined in, and the fake
//! API's journal of what was really changed.

use std::process::Command;

use base64::Engine as _;
use kubectl_ai::testing::count_tokens;
use kubectl_ai::testing::kinds;
use serde_json::{Value, json};

use crate::support::fake_api::FakeApi;
use crate::support::{OFFLINE, Sandbox, root, scenario};

/// The result budget the servers run with.
const BUDGET: usize = 1500;
const SECRET_CANARY: &str = "s3cr3t-canary-value-7f1c";
const ENV_CANARY: &str = "envTOKENcanary9d2e41ab";
const LOG_CANARY: &str = "logBEARERcanary5c83e0f2";
const LOG_POD: &str = "todo-backend-dheaddmmjc-r6j5k";

fn python_has_mcp() {
    let ok = Command::new("python3")
        .args(["-c", "import mcp.client.stdio, mcp.client.streamable_http"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the official MCP Python SDK is missing: run `bash .ci/install-tools` (pip install mcp)"
    );
}

/// The scenario with canaries planted: a Secret's value, a token in a pod's env, and one in a log.
fn cluster() -> FakeApi {
    let api = FakeApi::start(&scenario("probe-port"));
    let encoded = base64::engine::general_purpose::STANDARD.encode(SECRET_CANARY);
    api.insert(
        &kinds::SECRETS,
        vec![json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "api-keys", "namespace": "todo-app", "uid": "0b5e2d7c-3f0a-4c51-9a43-8f7f0c2d1e01",
                         "resourceVersion": "4711", "creationTimestamp": "2026-11-20T09:00:00Z"},
            "data": {"password": encoded}})],
    );
    api.insert(&kinds::PODS, vec![canary_pod()]);
    let mut log = String::new();
    for i in 0..3000 {
        log.push_str(&format!(
            "2026-11-23T10:{:02}:{:02}Z INFO GET /api/todos 200 {i}\n",
            i / 60 % 60,
            i % 60
        ));
    }
    log.push_str("2026-11-23T11:00:00Z ERROR connection refused: postgres:5432\n");
    log.push_str(&format!(
        "2026-11-23T11:00:01Z WARN upstream call failed, Authorization: Bearer {LOG_CANARY}\n"
    ));
    log.push_str("2026-11-23T11:00:02Z INFO the newest line\n");
    api.insert_log("todo-app", LOG_POD, "backend", Some(log), None);
    api
}

/// A standalone pod as the API server returns it, with a literal token in its env.
fn canary_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "canary", "namespace": "todo-app", "uid": "5d6c1b7e-9a2f-4e3d-8c1b-2a3f4e5d6c7b",
                     "resourceVersion": "4712", "creationTimestamp": "2026-11-23T09:00:00Z", "labels": {"app": "canary"}},
        "spec": {"containers": [{"name": "worker", "image": "busybox:1.36", "command": ["sleep", "3600"],
                     "env": [{"name": "API_TOKEN", "value": ENV_CANARY},
                             {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "api-keys", "key": "password"}}}],
                     "resources": {}, "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                     "imagePullPolicy": "IfNotPresent"}],
                 "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
                 "nodeName": "minikube", "schedulerName": "default-scheduler", "terminationGracePeriodSeconds": 30},
        "status": {"phase": "Running", "podIP": "10.244.0.31", "hostIP": "192.168.49.2", "qosClass": "BestEffort",
                   "startTime": "2026-11-23T09:00:00Z",
                   "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-23T09:00:03Z"}],
                   "containerStatuses": [{"name": "worker", "ready": true, "started": true, "restartCount": 0,
                       "image": "docker.io/library/busybox:1.36", "imageID": "docker.io/library/busybox@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7",
                       "containerID": "containerd://4f1f3c0e0b6c", "state": {"running": {"startedAt": "2026-11-23T09:00:02Z"}}}]}
    })
}

const MANIFEST: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:latest
";

/// Runs the Python client against the fake API; its report.
fn drive(sb: &Sandbox, api: &FakeApi) -> Value {
    python_has_mcp();
    let kubeconfig = api.write_kubeconfig(sb.path(), "todo-app");
    let mut env: serde_json::Map<String, Value> = OFFLINE
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    env.insert("HOME".into(), json!(sb.path()));
    env.insert("NO_COLOR".into(), json!("1"));
    env.insert(
        "KUBECTL_AI_STATE_DIR".into(),
        json!(sb.path().join("state")),
    );
    let config = json!({
        "binary": assert_cmd::cargo::cargo_bin("kubectl-ai"),
        "kubeconfig": kubeconfig,
        "args": ["--max-result-tokens", BUDGET.to_string(), "--timeout", "0"],
        "env": env,
        "api": api.url,
        "token": "mcp-test-token-0f9e8d7c6b5a",
        "stderr": sb.path().join("server.stderr"),
        "canary_pod": "canary",
        "log_pod": LOG_POD,
        "log_container": "backend",
        "manifest": MANIFEST,
    });
    let path = sb.path().join("client.json");
    std::fs::write(&path, config.to_string()).unwrap();
    // The builder clears the environment, so the server inherits only what `env` above says.
    let out = sb
        .program("python3")
        .arg(root().join("tests/mcp/client.py"))
        .arg(&path)
        .run();
    let stderr = std::fs::read_to_string(sb.path().join("server.stderr")).unwrap_or_default();
    assert!(
        out.code == 0,
        "the MCP client failed: {}\nserver stderr:\n{stderr}",
        out.stderr
    );
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("the client's report is not JSON ({e}): {}", out.stdout))
}

/// Every tool result in the report, by where it was seen.
fn results(report: &Value) -> Vec<(String, &Value)> {
    let parts = [
        ("read_only", &report["read_only"]["calls"]),
        ("writes", &report["writes"]),
        ("http", &report["http"]),
    ];
    let mut out = Vec::new();
    for (part, calls) in parts {
        for (name, v) in calls.as_object().unwrap() {
            if v.get("error").is_some() && v.get("text").is_some() {
                out.push((format!("{part}.{name}"), v));
            }
        }
    }
    out
}

fn tokens(result: &Value) -> usize {
    let structured = match &result["structured"] {
        Value::Null => 0,
        v => count_tokens(&v.to_string()),
    };
    structured + count_tokens(result["text"].as_str().unwrap())
}

fn ok<'a>(report: &'a Value, pointer: &str) -> &'a Value {
    let r = report
        .pointer(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the report"));
    assert_eq!(r["error"], false, "{pointer}: {}", r["text"]);
    &r["structured"]
}

fn failed<'a>(report: &'a Value, pointer: &str) -> &'a str {
    let r = report
        .pointer(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in the report"));
    assert_eq!(r["error"], true, "{pointer} should fail: {r}");
    let text = r["text"].as_str().unwrap();
    assert!(
        text.starts_with("error: ") && !text.trim().contains('\n'),
        "{pointer}: one line, as the CLI says it: {text}"
    );
    text
}

fn names(tools: &Value) -> Vec<&str> {
    tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

/// The tools every server offers, read-only, in order.
const READERS: [&str; 6] = [
    "diagnose",
    "list_problems",
    "explain_object",
    "recommend",
    "get_logs",
    "propose_plan",
];

#[test]
fn an_mcp_client_reads_bounded_redacted_evidence_and_applies_only_proposed_plans() {
    let sb = Sandbox::new();
    let api = cluster();
    let report = drive(&sb, &api);
    assert_tools_and_schemas(&report);
    assert_results_within_budget(&report);
    assert_no_secret_value_appears(&report);
    assert_read_tools_answer_from_the_cluster(&report);
    assert_errors_are_tool_errors(&report);
    assert_plans_are_shown_without_allow_writes(&report);
    let history_id = assert_writes_refused_but_the_proposed_one(&report);
    assert_journal_holds_one_change_as_dry_run(&api);
    assert_undo_puts_it_back(&sb, &api, history_id);
    assert_http_needs_the_token_and_serves_the_same(&report);
}

/// Tools and their schemas: apply_plan only with --allow-writes, annotations truthful.
fn assert_tools_and_schemas(report: &Value) {
    let read = &report["read_only"];
    assert_eq!(read["server"], "kubectl-ai");
    assert_eq!(names(&read["tools"]), READERS);
    for t in read["tools"].as_array().unwrap() {
        let schema = &t["inputSchema"];
        assert_eq!(schema["type"], "object", "{t}");
        assert_eq!(schema["additionalProperties"], false, "{t}");
        assert!(schema["properties"].is_object(), "{t}");
        assert_eq!(t["annotations"]["readOnlyHint"], true, "{t}");
        assert_eq!(t["annotations"]["destructiveHint"], false, "{t}");
    }
    let tool = |name: &str| {
        read["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()
    };
    assert_eq!(
        tool("explain_object")["inputSchema"]["required"],
        json!(["kind", "name"])
    );
    assert_eq!(tool("get_logs")["inputSchema"]["required"], json!(["pod"]));
    assert_eq!(
        tool("propose_plan")["inputSchema"],
        kubectl_ai::testing::proposal_schema(),
        "the same schema as the LLM's proposal tool"
    );
    let writer = &report["writes"]["tools"];
    assert_eq!(names(writer).last(), Some(&"apply_plan"));
    let apply = writer.as_array().unwrap().last().unwrap();
    assert_eq!(apply["annotations"]["readOnlyHint"], false);
    assert_eq!(apply["annotations"]["destructiveHint"], true);
}

/// Every result within the budget, counted as sent; the big log shows what it left out.
fn assert_results_within_budget(report: &Value) {
    let all = results(report);
    assert!(all.len() > 20, "{}", all.len());
    for (place, r) in &all {
        let n = tokens(r);
        assert!(n <= BUDGET, "{place}: {n} tokens > {BUDGET}");
    }
    let logs = ok(report, "/read_only/calls/get_logs");
    assert!(
        logs["budget"]["omitted"]["lines"].as_u64().unwrap() > 1000,
        "{}",
        logs["budget"]
    );
    let lines = logs["lines"].as_array().unwrap();
    assert!(lines.len() > 10);
    assert_eq!(
        lines.last().unwrap(),
        "2026-11-23T11:00:02Z INFO the newest line"
    );
    let errors: Vec<&str> = logs["errorLines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        errors
            .iter()
            .any(|l| l.ends_with("ERROR connection refused: postgres:5432")),
        "{errors:?}"
    );
    assert_eq!(
        logs["read"]["lines"], 2000,
        "bounded by the lines asked for"
    );
}

/// Secret values never appear: not the Secret's, not a literal env token, not a log's token.
fn assert_no_secret_value_appears(report: &Value) {
    let everything = report.to_string();
    let encoded = base64::engine::general_purpose::STANDARD.encode(SECRET_CANARY);
    for canary in [SECRET_CANARY, encoded.as_str(), ENV_CANARY, LOG_CANARY] {
        assert!(!everything.contains(canary), "{canary} leaked");
    }
    let pod = report["read_only"]["calls"]["explain_pod"].to_string();
    assert!(pod.contains("API_TOKEN=[REDACTED-"), "{pod}");
    assert!(
        pod.contains("api-keys"),
        "the Secret is named, its value is not: {pod}"
    );
    let log_text = report["read_only"]["calls"]["get_logs"]["text"]
        .as_str()
        .unwrap();
    assert!(log_text.contains("Bearer [REDACTED-"), "{log_text}");
    let logs = ok(report, "/read_only/calls/get_logs");
    assert!(logs["budget"]["redacted"].as_u64().unwrap() >= 1);
}

/// The read tools answer from the cluster.
fn assert_read_tools_answer_from_the_cluster(report: &Value) {
    let diagnosis = ok(report, "/read_only/calls/diagnose");
    let rules: Vec<&str> = diagnosis["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"probe-port"), "{rules:?}");
    assert_eq!(
        ok(report, "/read_only/calls/diagnose_target")["target"],
        "deployment/todo-backend"
    );
    let problems = ok(report, "/read_only/calls/list_problems")["problems"]
        .as_array()
        .unwrap();
    assert!(!problems.is_empty() && problems.iter().all(|p| p["severity"] != "info"));
    let explained = ok(report, "/read_only/calls/explain_object");
    let related = explained["related"].to_string();
    assert!(
        related.contains(LOG_POD) && related.contains("\"service\""),
        "{related}"
    );
    assert!(!explained["evidence"].as_array().unwrap().is_empty());
    let inline = ok(report, "/read_only/calls/recommend_inline");
    assert!(
        inline["recommendations"]
            .to_string()
            .contains("image-latest"),
        "{inline}"
    );
    assert!(
        !ok(report, "/read_only/calls/recommend")["recommendations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// Errors are tool errors in the CLI's words; a bad argument does not end the server. The
/// troubleshooting prompt names the target.
fn assert_errors_are_tool_errors(report: &Value) {
    assert!(failed(report, "/read_only/calls/bad_argument").contains("unknown field `bogus`"));
    assert!(
        failed(report, "/read_only/calls/bad_target")
            .contains("deployment/no-such-thing not found")
    );
    ok(report, "/read_only/calls/still_alive");
    let read = &report["read_only"];
    assert_eq!(read["prompts"], json!(["troubleshoot"]));
    assert!(
        read["troubleshoot"]
            .as_str()
            .unwrap()
            .contains("Call diagnose with target \"deployment/todo-backend\"")
    );
}

/// Without --allow-writes a plan is validated and shown, and nothing can apply it.
fn assert_plans_are_shown_without_allow_writes(report: &Value) {
    let proposed = ok(report, "/read_only/calls/propose_plan");
    let diff = proposed["actions"][0]["diff"].as_str().unwrap();
    assert!(
        diff.contains("-  replicas: 2") && diff.contains("+  replicas: 3"),
        "{diff}"
    );
    assert_eq!(proposed["policy"]["allowed"], true);
    assert_eq!(proposed["actions"][0]["rbac"]["verbs"], json!(["patch"]));
    assert!(
        proposed["next"]
            .as_str()
            .unwrap()
            .contains("--allow-writes")
    );
    assert!(failed(report, "/read_only/calls/apply_plan").contains("without --allow-writes"));
}

/// With --allow-writes: an unknown id, a plan whose object changed since, an applied one, a
/// deletion without --allow-delete, all refused but the one. Returns the applied plan's history id.
fn assert_writes_refused_but_the_proposed_one(report: &Value) -> &str {
    let w = "/writes";
    assert!(failed(report, &format!("{w}/unknown")).contains("unknown plan id"));
    assert_eq!(report["writes"]["changed_behind"], 200);
    assert!(failed(report, &format!("{w}/stale")).contains("changed since the plan was proposed"));
    let applied = ok(report, &format!("{w}/applied"));
    let history_id = applied["historyId"].as_str().unwrap();
    assert!(
        failed(report, &format!("{w}/again")).contains("unknown plan id"),
        "applied once"
    );
    assert!(
        !ok(report, &format!("{w}/delete_proposed"))["destructive"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(failed(report, &format!("{w}/delete")).contains("--allow-delete"));
    history_id
}

/// The backend's replicas as the fake API holds them now.
fn backend_replicas(api: &FakeApi) -> Value {
    api.object("apps", "deployments", Some("todo-app"), "todo-backend")
        .unwrap()["spec"]["replicas"]
        .clone()
}

/// The journal: exactly one real change by kubectl-ai, the same bytes as its dry run.
fn assert_journal_holds_one_change_as_dry_run(api: &FakeApi) {
    let ours: Vec<_> = api
        .journal()
        .into_iter()
        .filter(|r| r.is_mutation() && r.param("fieldManager").as_deref() == Some("kubectl-ai"))
        .collect();
    let real: Vec<usize> = (0..ours.len())
        .filter(|&i| ours[i].param("dryRun").is_none())
        .collect();
    assert_eq!(real.len(), 1, "{ours:#?}");
    let applied_req = &ours[real[0]];
    assert!(
        applied_req.path.ends_with("/deployments/todo-backend"),
        "{applied_req:?}"
    );
    let dry = ours[..real[0]]
        .iter()
        .rev()
        .find(|r| r.path == applied_req.path && r.param("dryRun").as_deref() == Some("All"))
        .expect("the dry run it was proposed with");
    assert_eq!(dry.body, applied_req.body);
    assert_eq!(dry.content_type, applied_req.content_type);
    let others: Vec<_> = api
        .real_mutations()
        .into_iter()
        .filter(|r| r.param("fieldManager").is_none())
        .collect();
    assert_eq!(
        others.len(),
        1,
        "only the test's own change behind the server's back: {others:#?}"
    );
    assert!(api.real_mutations().iter().all(|r| r.method != "DELETE"));
    assert_eq!(backend_replicas(api), 3);
}

/// Recorded in history, so `kubectl ai undo` puts it back.
fn assert_undo_puts_it_back(sb: &Sandbox, api: &FakeApi, history_id: &str) {
    let out = sb
        .against(api, "todo-app")
        .args(["history", "-o", "json"])
        .run();
    let history: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(history[0]["id"], history_id, "{history}");
    let out = sb
        .against(api, "todo-app")
        .args(["undo", history_id, "--yes", "--timeout", "0"])
        .run();
    assert!(out.code == 0, "{}", out.stderr.as_str());
    assert_eq!(backend_replicas(api), 2);
}

/// Streamable HTTP: a bearer token is required when one is set, and then it serves the same.
fn assert_http_needs_the_token_and_serves_the_same(report: &Value) {
    let http = &report["http"];
    assert_eq!(http["without_token"], 401);
    assert_eq!(names(&http["tools"]), READERS);
    assert!(
        !ok(report, "/http/diagnose")["findings"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(failed(report, "/http/bad_argument").contains("missing field `pod`"));
    ok(report, "/http/still_alive");
}

#[test]
fn http_beyond_loopback_needs_a_token() {
    let sb = Sandbox::new();
    let out = sb.kubectl_ai().args(["mcp", "--http", "0.0.0.0:0"]).run();
    assert_eq!(out.code, 2);
    let stderr = out.stderr.as_str();
    assert!(
        stderr.starts_with("error: --http 0.0.0.0:0 is reachable from other machines: give a bearer token with --token-file")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    let short = sb.path().join("token");
    std::fs::write(&short, "short\n").unwrap();
    let out = sb
        .kubectl_ai()
        .args(["mcp", "--http", "0.0.0.0:0", "--token-file"])
        .arg(&short)
        .run();
    assert_eq!(out.code, 2);
    assert!(out.stderr.as_str().contains("at least 16 characters"));
}
