//! The live source against the fake API server: the same scenarios give the same findings as
//! their snapshots, collection is bounded and paged, and every way a cluster can refuse or fail
//! ends in one clear line.

use std::time::Duration;

use serde_json::Value;

use crate::support::fake_api::{FakeApi, Fault};
use crate::support::{Sandbox, scenario, scenarios, wait_until};

fn live(sb: &Sandbox, api: &FakeApi, namespace: &str) -> crate::support::Run {
    let kubeconfig = api.write_kubeconfig(sb.path(), namespace);
    let mut cmd = sb.kubectl_ai();
    cmd.arg("--kubeconfig").arg(kubeconfig);
    cmd
}

#[test]
fn live_and_snapshot_agree_on_every_scenario() {
    let sb = Sandbox::new();
    for name in scenarios() {
        let snap = sb
            .kubectl_ai()
            .args(["diagnose", "-o", "json", "--snapshot"])
            .arg(scenario(&name))
            .json();
        let api = FakeApi::start(&scenario(&name));
        let report = live(&sb, &api, "todo-app")
            .args(["diagnose", "-A", "-o", "json"])
            .json();
        assert_eq!(
            report["findings"], snap["findings"],
            "scenario {name}: live and snapshot disagree"
        );
        assert_eq!(report["summary"], snap["summary"], "scenario {name}");
        assert_eq!(api.mutations().len(), 0, "diagnosis must never write");
    }
}

#[test]
fn default_namespace_comes_from_the_kubeconfig_context() {
    let sb = Sandbox::new();
    let api = FakeApi::start(&scenario("crash-loop"));
    let report = live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json"])
        .json();
    assert_eq!(
        report["scope"],
        serde_json::json!({"type": "namespace", "namespace": "todo-app"})
    );
    assert_eq!(report["findings"].as_array().unwrap().len(), 1);
    assert!(
        api.journal()
            .iter()
            .any(|r| r.path == "/api/v1/namespaces/todo-app/pods")
    );

    let report = live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json", "--context", "other"])
        .json();
    assert_eq!(report["scope"]["namespace"], "default");
    assert_eq!(report["findings"].as_array().unwrap().len(), 0);

    let report = live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json"])
        .env("KUBECTL_AI_NAMESPACE", "default")
        .json();
    assert_eq!(report["scope"]["namespace"], "default");
}

#[test]
fn lists_are_paged_and_run_concurrently() {
    let sb = Sandbox::new();
    let api = FakeApi::start(&scenario("job-failed"));
    let whole = live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json"])
        .json();
    api.reset_journal();
    let paged = live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json", "--chunk-size", "1"])
        .json();
    assert_eq!(whole["findings"], paged["findings"]);
    let pod_pages: Vec<_> = api
        .journal()
        .into_iter()
        .filter(|r| r.path.ends_with("/pods") && !r.path.contains("metrics"))
        .collect();
    assert!(
        pod_pages
            .iter()
            .all(|r| r.param("limit").as_deref() == Some("1"))
    );
    // A first page that shows more gets the list cut by node: one part per node, one for the
    // rest, each paged on its own.
    let selectors: Vec<String> = pod_pages
        .iter()
        .filter_map(|r| r.param("fieldSelector"))
        .collect();
    assert!(
        selectors
            .iter()
            .any(|s| s.starts_with("spec.nodeName=") && !s.contains(',')),
        "{selectors:?}"
    );
    assert!(
        selectors.iter().any(|s| s.starts_with("spec.nodeName!=")),
        "{selectors:?}"
    );
    assert!(
        pod_pages.iter().any(|r| r.param("continue").is_some()),
        "parts are paged"
    );

    // Across namespaces, pods and events are cut by namespace (one here), then by node and by
    // reason: the same findings as one page per list.
    let api = FakeApi::start(&scenario("image-pull"));
    let whole = live(&sb, &api, "todo-app")
        .args(["diagnose", "-A", "-o", "json"])
        .json();
    api.reset_journal();
    let paged = live(&sb, &api, "todo-app")
        .args(["diagnose", "-A", "-o", "json", "--chunk-size", "1"])
        .json();
    assert!(!whole["findings"].as_array().unwrap().is_empty());
    assert_eq!(whole["findings"], paged["findings"]);
    assert_eq!(whole["summary"], paged["summary"]);
    assert!(
        api.journal().iter().any(|r| r.path.ends_with("/events")
            && r.param("fieldSelector").as_deref() == Some("type!=Normal,reason=Failed")),
        "events were cut by reason"
    );

    // With 200 ms per request, ~25 lists one after another would take 5 s; concurrently, well under 2.
    api.set_latency(Duration::from_millis(200));
    let started = std::time::Instant::now();
    live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json"])
        .json();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(2),
        "collection was sequential: {elapsed:?}"
    );
}

#[test]
fn logs_are_read_for_unhealthy_containers_and_small_namespaces_with_a_bounded_tail() {
    let sb = Sandbox::new();
    // A small namespace: the current logs of its running containers, never a previous one.
    let api = FakeApi::start(&scenario("healthy"));
    live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json"])
        .json();
    let read: Vec<_> = api
        .journal()
        .into_iter()
        .filter(|r| r.path.ends_with("/log"))
        .collect();
    assert!(
        !read.is_empty(),
        "a small namespace has its running logs read"
    );
    assert!(read.iter().all(|r| r.param("previous").is_none()));
    // Above the threshold a healthy namespace needs no logs.
    let api = FakeApi::start(&scenario("healthy"));
    live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json", "--log-pods", "0"])
        .json();
    assert!(
        api.journal().iter().all(|r| !r.path.ends_with("/log")),
        "a healthy namespace above --log-pods needs no logs"
    );

    let api = FakeApi::start(&scenario("crash-loop"));
    live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json", "--log-pods", "0"])
        .json();
    let logs: Vec<_> = api
        .journal()
        .into_iter()
        .filter(|r| r.path.ends_with("/log"))
        .collect();
    assert_eq!(logs.len(), 4, "current and previous of 2 crashing pods");
    assert_eq!(
        logs.iter()
            .filter(|r| r.param("previous").as_deref() == Some("true"))
            .count(),
        2
    );
    for r in &logs {
        assert_eq!(r.param("container").as_deref(), Some("backend"));
        assert_eq!(r.param("tailLines").as_deref(), Some("200"));
        assert!(r.param("limitBytes").is_some());
    }
    // Three failed pods of one Job: replicas fail alike, so two are read.
    let api_job = FakeApi::start(&scenario("job-failed"));
    live(&sb, &api_job, "todo-app")
        .args(["diagnose", "-o", "json", "--log-pods", "0"])
        .json();
    let job_logs = api_job
        .journal()
        .into_iter()
        .filter(|r| r.path.ends_with("/log"))
        .count();
    assert_eq!(job_logs, 2, "at most two pods per workload");

    let events = api
        .journal()
        .into_iter()
        .find(|r| r.path.ends_with("/events"))
        .unwrap();
    assert_eq!(
        events.param("fieldSelector").as_deref(),
        Some("type!=Normal")
    );
}

#[test]
fn a_target_has_its_running_logs_read_whatever_the_size_of_its_namespace() {
    let sb = Sandbox::new();
    // A Ready pod that logs the API server's refusals: nothing but its log tells.
    let dir = crate::support::root()
        .join("tests/fixtures/corpus/broken/serviceaccount-forbidden/snapshot");
    let api = FakeApi::start(&dir);
    let whole = live(&sb, &api, "ops")
        .args(["diagnose", "-o", "json", "--log-pods", "0"])
        .json();
    assert!(whole["summary"]["podsChecked"].as_u64().unwrap() > 0);
    assert!(
        api.journal().iter().all(|r| !r.path.ends_with("/log")),
        "above --log-pods nothing points at a Ready pod"
    );
    assert_eq!(whole["findings"].as_array().unwrap().len(), 0);
    let args = [
        "diagnose",
        "deploy/pod-reaper",
        "-o",
        "json",
        "--log-pods",
        "0",
    ];
    let api = FakeApi::start(&dir);
    let targeted = live(&sb, &api, "ops").args(args).json();
    let logs: Vec<String> = api
        .journal()
        .into_iter()
        .filter(|r| r.path.ends_with("/log"))
        .map(|r| r.path)
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].contains("/pods/pod-reaper-"), "{logs:?}");
    let findings = &targeted["findings"];
    assert_eq!(findings[0]["rule"], "log-errors", "{findings}");
    assert!(
        findings.to_string().contains("may not list pods"),
        "{findings}"
    );
    let snapshot = sb
        .kubectl_ai()
        .args(args)
        .args(["-n", "ops", "--snapshot"])
        .arg(&dir)
        .json();
    assert_eq!(snapshot["findings"], targeted["findings"]);
}

/// `diagnose --fix` reads the logs `diagnose` reads: none above `--log-pods` without a target, and
/// the target's running logs with one, so a finding only a log shows is in the report it plans from.
#[test]
fn diagnose_fix_reads_the_logs_diagnose_reads() {
    let sb = Sandbox::new();
    let dir = crate::support::root()
        .join("tests/fixtures/corpus/broken/serviceaccount-forbidden/snapshot");
    let logs_read = |api: &FakeApi| {
        api.journal()
            .into_iter()
            .filter(|r| r.path.ends_with("/log"))
            .count()
    };
    let api = FakeApi::start(&dir);
    let out = live(&sb, &api, "ops")
        .args(["diagnose", "--fix", "--log-pods", "0"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("No problems found"), "{}", out.stdout);
    assert_eq!(logs_read(&api), 0, "--log-pods 0 holds for --fix too");

    let api = FakeApi::start(&dir);
    let out = live(&sb, &api, "ops")
        .args(["diagnose", "deploy/pod-reaper", "--fix", "--log-pods", "0"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(logs_read(&api), 1, "the target's one running container");
    assert!(out.stdout.contains("[log-errors]"), "{}", out.stdout);
    assert!(out.stdout.contains("may not list pods"), "{}", out.stdout);
    assert!(api.mutations().is_empty());
}

#[test]
fn rbac_is_read_only_when_a_log_shows_a_refused_service_account() {
    let sb = Sandbox::new();
    let rbac = |api: &FakeApi| -> Vec<String> {
        api.journal()
            .into_iter()
            .filter(|r| r.path.starts_with("/apis/rbac.authorization.k8s.io/"))
            .map(|r| r.path)
            .collect()
    };
    let api = FakeApi::start(&scenario("crash-loop"));
    let before = live(&sb, &api, "todo-app")
        .args(["diagnose", "-A", "-o", "json"])
        .json();
    assert!(!before["findings"].as_array().unwrap().is_empty());
    assert_eq!(
        rbac(&api),
        Vec::<String>::new(),
        "no refusal, no RBAC request"
    );

    let dir = crate::support::root()
        .join("tests/fixtures/corpus/broken/serviceaccount-forbidden/snapshot");
    let api = FakeApi::start(&dir);
    let report = live(&sb, &api, "default")
        .args(["diagnose", "-A", "-o", "json"])
        .json();
    let mut paths = rbac(&api);
    paths.sort();
    assert_eq!(
        paths,
        [
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/ops/rolebindings",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/ops/roles",
        ],
        "one wave of four lists for one refused account"
    );
    let text = report["findings"].to_string();
    assert!(
        text.contains("RoleBinding ops/pod-reaper -> Role pod-reaper: get, delete on pods"),
        "{text}"
    );

    // May not read RBAC: a note, and the refusal is still reported.
    let api = FakeApi::start(&dir);
    api.forbid("rolebindings");
    let out = live(&sb, &api, "default")
        .args(["diagnose", "-A", "-o", "json"])
        .run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        report["notes"]
            .to_string()
            .contains("rolebindings: forbidden"),
        "{}",
        report["notes"]
    );
    let text = report["findings"].to_string();
    assert!(text.contains("may not list pods"), "{text}");
    assert!(!text.contains("has RoleBinding"), "{text}");
}

#[test]
fn huge_logs_are_cut_to_their_tail() {
    let sb = Sandbox::new();
    let api = FakeApi::start(&scenario("crash-loop"));
    let report = live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json"])
        .json();
    let pod = report["findings"][0]["pods"][0]
        .as_str()
        .unwrap()
        .to_string();
    let mut huge: String = (0..200_000)
        .map(|i| format!("INFO request {i} ok\n"))
        .collect();
    huge.push_str("FATAL: the real reason is at the very end\n");
    api.insert_log("todo-app", &pod, "backend", Some(huge.clone()), Some(huge));
    let report = live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json"])
        .json();
    let text = report["findings"].to_string();
    assert!(
        text.contains("FATAL: the real reason is at the very end"),
        "{text}"
    );
    assert!(
        text.len() < 20_000,
        "evidence stays small: {} bytes",
        text.len()
    );
}

#[test]
fn a_forbidden_kind_or_missing_api_degrades_to_a_note() {
    let sb = Sandbox::new();
    let api = FakeApi::start(&scenario("config-error"));
    api.forbid("secrets");
    let out = live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json"])
        .run();
    assert_eq!(out.code, 0);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let notes = report["notes"].to_string();
    assert!(notes.contains("secrets: forbidden"), "{notes}");
    assert!(
        notes.contains("pods.metrics.k8s.io: not available") && notes.contains("metrics-server"),
        "{notes}"
    );
    // Still diagnosed from the kubelet's own message, without the Secret's keys.
    assert_eq!(report["findings"].as_array().unwrap().len(), 2);
    assert!(!report["findings"].to_string().contains("has keys"));

    let text = live(&sb, &api, "todo-app").args(["diagnose"]).run();
    assert!(text.stdout.contains("note: secrets: forbidden"));
}

fn fails_with(cmd: &mut crate::support::Run, code: i32, message: &str) {
    let out = cmd.run();
    let stderr = &out.stderr;
    assert_eq!(out.code, code, "stderr: {stderr}");
    assert!(
        stderr.contains(message),
        "expected {message:?} in {stderr:?}"
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line, no trace: {stderr:?}"
    );
    assert!(!stderr.contains("panicked"));
}

/// The crash-loop scenario's API server, answering `status` to the first `times` GETs whose path
/// ends in `path`.
fn failing(path: &str, status: u16, times: usize) -> FakeApi {
    let api = FakeApi::start(&scenario("crash-loop"));
    api.inject(Fault {
        method: Some("GET".into()),
        path: path.into(),
        status,
        times,
        real_only: false,
    });
    api
}

/// How many times the API server was asked for events.
fn event_lists(api: &FakeApi) -> usize {
    api.journal()
        .iter()
        .filter(|r| r.path.ends_with("/events"))
        .count()
}

#[test]
fn every_cluster_failure_ends_in_one_clear_line() {
    let sb = Sandbox::new();
    let api = FakeApi::start(&scenario("crash-loop"));
    api.forbid("pods");
    fails_with(
        live(&sb, &api, "todo-app").arg("diagnose"),
        1,
        "error: not allowed to list pods: pods is forbidden: User",
    );

    let api = failing("/pods", 401, 100);
    fails_with(
        live(&sb, &api, "todo-app").arg("diagnose"),
        1,
        "rejected the credentials (401 Unauthorized)",
    );

    let api = failing("/deployments", 500, 100);
    fails_with(
        live(&sb, &api, "todo-app").arg("diagnose"),
        1,
        "listing deployments failed (500)",
    );
}

#[test]
fn a_throttled_server_is_retried_a_few_times_then_reported_in_one_line() {
    let sb = Sandbox::new();
    // Retried until it answers, each time after the second its Retry-After asks for (our own
    // backoff would have tried again within 0.3 s the first time and 0.6 s the second).
    let api = failing("/events", 429, 2);
    let started = std::time::Instant::now();
    let report = live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json"])
        .json();
    assert_eq!(report["findings"].as_array().unwrap().len(), 1);
    assert_eq!(event_lists(&api), 3);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After: 1 honoured twice: {:?}",
        started.elapsed()
    );

    // Reported once the retries are spent.
    let api = failing("/events", 429, 100);
    let started = std::time::Instant::now();
    fails_with(
        live(&sb, &api, "todo-app").arg("diagnose"),
        1,
        "listing events failed (429)",
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "retries are bounded: {:?}",
        started.elapsed()
    );
    assert_eq!(event_lists(&api), 5, "the first attempt and four retries");
}

#[test]
fn a_long_collection_shows_what_has_arrived_on_a_terminal_and_nothing_elsewhere() {
    let sb = Sandbox::new();
    let api = FakeApi::start(&scenario("crash-loop"));
    // Slow enough for the spinner's ticks (100 ms) to draw the counts between the rounds.
    api.set_latency(Duration::from_millis(300));
    let screen = live(&sb, &api, "todo-app")
        .arg("diagnose")
        .on_a_terminal()
        .run();
    let progress: Vec<&str> = screen
        .stdout
        .split(['\r', '\n'])
        .filter(|l| l.contains("Reading the cluster…"))
        .collect();
    assert!(
        progress
            .iter()
            .any(|l| l.contains("pods ") && l.contains(" · ")),
        "the kinds and counts read so far: {progress:?}"
    );
    let piped = live(&sb, &api, "todo-app").arg("diagnose").run();
    assert_eq!(piped.stderr, "", "no progress where no one watches");
}

#[test]
fn an_unreachable_missing_or_broken_cluster_configuration_ends_in_one_clear_line() {
    let sb = Sandbox::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let kc = sb.path().join("closed");
    std::fs::write(&kc, format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{closed}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{token: t}}\n")).unwrap();
    fails_with(
        sb.kubectl_ai().arg("diagnose").arg("--kubeconfig").arg(&kc),
        1,
        &format!("cannot reach the cluster at http://{closed}/"),
    );

    fails_with(sb.kubectl_ai().arg("diagnose"), 1, "no cluster configured");
    let api = FakeApi::start(&scenario("crash-loop"));
    fails_with(
        live(&sb, &api, "todo-app").args(["diagnose", "--context", "prod"]),
        1,
        "context \"prod\" not found in kubeconfig",
    );
    std::fs::write(sb.path().join("bad"), "clusters: [[[").unwrap();
    fails_with(
        sb.kubectl_ai()
            .args(["diagnose", "--kubeconfig"])
            .arg(sb.path().join("bad")),
        1,
        "invalid kubeconfig",
    );
}

#[test]
fn kubeconfig_paths_in_kubeconfig_env_are_merged() {
    let sb = Sandbox::new();
    let api = FakeApi::start(&scenario("crash-loop"));
    let first = api.write_kubeconfig(sb.path(), "default");
    let second = sb.path().join("second");
    std::fs::write(&second, "apiVersion: v1\nkind: Config\ncontexts:\n- name: second\n  context: {cluster: fake, user: tester, namespace: todo-app}\n").unwrap();
    let joined = std::env::join_paths([&first, &second]).unwrap();
    let report = sb
        .kubectl_ai()
        .env("KUBECONFIG", &joined)
        .args(["diagnose", "-o", "json", "--context", "second"])
        .json();
    assert_eq!(report["scope"]["namespace"], "todo-app");
    assert_eq!(report["findings"].as_array().unwrap().len(), 1);
}

#[test]
fn verbose_logs_go_to_stderr_and_leave_stdout_clean() {
    let sb = Sandbox::new();
    let api = FakeApi::start(&scenario("crash-loop"));
    let out = live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json", "-v"])
        .run();
    let stderr = &out.stderr;
    assert!(
        stderr.contains("collected cluster context") && stderr.contains("requests="),
        "{stderr}"
    );
    serde_json::from_str::<Value>(&out.stdout).expect("stdout is still pure JSON");
    live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json"])
        .stderr_is("")
        .run();
    let env = live(&sb, &api, "todo-app")
        .args(["diagnose", "-o", "json"])
        .env("KUBECTL_AI_VERBOSE", "1")
        .run();
    assert!(env.stderr.contains("collected cluster context"));
}

#[test]
fn ctrl_c_stops_at_once_with_exit_130() {
    let sb = Sandbox::new();
    let api = FakeApi::start(&scenario("crash-loop"));
    api.set_latency(Duration::from_secs(30));
    let kubeconfig = api.write_kubeconfig(sb.path(), "todo-app");
    let mut child = sb
        .kubectl_ai()
        .args(["diagnose", "--kubeconfig"])
        .arg(kubeconfig)
        .spawn();
    // Interrupt while the binary waits on the (slow) cluster.
    wait_until("kubectl-ai has sent its first request", || {
        api.request_count() > 0
    });
    let started = std::time::Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(started.elapsed() < Duration::from_secs(5));
}
