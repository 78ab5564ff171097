//! The plan pipeline on the fake API server, whose journal of mutating requests is the judge:
//! nothing changes without consent, consent changes exactly what was shown, undo restores the exact
//! earlier spec, and a failure part way says what was and was not applied.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::fake_api::{FakeApi, Fault};
use crate::support::{Outcome, Run, Sandbox, scenario};

struct Setup {
    sb: Sandbox,
    api: FakeApi,
    kubeconfig: PathBuf,
}

fn setup(dir: &Path) -> Setup {
    let sb = Sandbox::new();
    let api = FakeApi::start(dir);
    let kubeconfig = api.write_kubeconfig(sb.path(), "todo-app");
    Setup {
        sb,
        api,
        kubeconfig,
    }
}

impl Setup {
    /// The binary pointed at this setup's fake API server, history in the sandbox.
    fn kubectl_ai(&self) -> Run {
        let mut run = self.sb.kubectl_ai();
        run.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .env("KUBECTL_AI_STATE_DIR", self.sb.path().join("state"));
        run
    }

    fn backend(&self) -> Value {
        self.api
            .object("apps", "deployments", Some("todo-app"), "todo-backend")
            .unwrap()
    }
}

fn readiness_port(deploy: &Value) -> Value {
    deploy["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"].clone()
}

#[test]
fn nothing_changes_without_consent() {
    let s = setup(&scenario("probe-port"));
    // No terminal and no --yes: refused, exit 5, and the server saw no real change.
    let Outcome {
        code,
        stdout,
        stderr,
    } = s.kubectl_ai().args(["diagnose", "--fix"]).run();
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("refusing to change the cluster without consent"),
        "{stderr}"
    );
    assert!(
        stdout.contains("point readinessProbe of backend at port 8000"),
        "{stdout}"
    );
    assert!(s.api.real_mutations().is_empty());
    // The plan was still validated: an access review and a server-side dry run of the apply.
    let journal = s.api.journal();
    assert!(
        journal
            .iter()
            .any(|r| r.path.ends_with("selfsubjectaccessreviews"))
    );
    let dry = journal
        .iter()
        .find(|r| r.method == "PATCH")
        .expect("a dry-run apply");
    assert_eq!(dry.param("dryRun").as_deref(), Some("All"));
    assert_eq!(dry.param("fieldManager").as_deref(), Some("kubectl-ai"));

    // --dry-run shows the diff and stops.
    let Outcome { code, stdout, .. } = s
        .kubectl_ai()
        .args(["diagnose", "--fix", "--dry-run"])
        .run();
    assert_eq!(code, 0);
    assert!(
        stdout.contains("-            port: 8080") && stdout.contains("+            port: 8000"),
        "{stdout}"
    );
    assert!(stdout.contains("nothing was applied"));
    assert!(s.api.real_mutations().is_empty());
    assert_eq!(readiness_port(&s.backend()), 8080);

    // -o json is the plan as data, suggest-only.
    let Outcome { code, stdout, .. } = s
        .kubectl_ai()
        .args(["diagnose", "--fix", "-o", "json"])
        .run();
    assert_eq!(code, 0);
    let plan: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(plan["kind"], "Plan");
    assert_eq!(plan["actions"][0]["object"]["name"], "todo-backend");
    assert!(
        plan["actions"][0]["diff"]
            .as_str()
            .unwrap()
            .contains("+            port: 8000")
    );
    assert!(s.api.real_mutations().is_empty());
}

#[test]
fn yes_applies_exactly_the_plan_and_undo_restores_the_exact_spec() {
    let s = setup(&scenario("probe-port"));
    let original = s.backend();
    let Outcome {
        code,
        stdout,
        stderr,
    } = s.kubectl_ai().args(["diagnose", "--fix", "--yes"]).run();
    assert_eq!(code, 0, "{stderr}");
    let real = s.api.real_mutations();
    assert_eq!(real.len(), 1, "{real:?}");
    assert_eq!(real[0].method, "PATCH");
    assert_eq!(
        real[0].path,
        "/apis/apps/v1/namespaces/todo-app/deployments/todo-backend"
    );
    assert!(real[0].content_type.starts_with("application/apply-patch"));
    assert_eq!(real[0].param("force").as_deref(), Some("true"));
    let fixed = s.backend();
    assert_eq!(readiness_port(&fixed), 8000);
    // Only the probe changed: the container keeps its image, env and ports.
    let container = &fixed["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        original["spec"]["template"]["spec"]["containers"][0]["image"]
    );
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Applied 1 change(s). Undo with: kubectl ai undo "))
        .expect("undo hint")
        .to_string();

    let Outcome {
        stdout: history, ..
    } = s.kubectl_ai().args(["history"]).run();
    assert!(
        history.contains(&id)
            && history.contains("deployment/todo-backend -n todo-app: point readinessProbe"),
        "{history}"
    );

    s.api.reset_journal();
    let Outcome {
        code,
        stdout,
        stderr,
    } = s.kubectl_ai().args(["undo", "--yes"]).run();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("+            port: 8080"),
        "undo shows its diff too: {stdout}"
    );
    let real = s.api.real_mutations();
    assert_eq!(real.len(), 1);
    assert_eq!(real[0].method, "PUT");
    assert_eq!(
        s.backend()["spec"],
        original["spec"],
        "undo restores the exact previous spec"
    );
}

#[test]
fn rbac_denial_and_dry_run_rejection_change_nothing() {
    let s = setup(&scenario("probe-port"));
    s.api.deny("deployments");
    let Outcome { code, stderr, .. } = s.kubectl_ai().args(["diagnose", "--fix", "--yes"]).run();
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("not allowed to patch deployment/todo-backend -n todo-app"),
        "{stderr}"
    );
    assert!(
        s.api
            .mutations()
            .iter()
            .all(|r| r.path.contains("selfsubjectaccessreviews")),
        "no dry run either"
    );

    let s = setup(&scenario("probe-port"));
    s.api.inject(Fault {
        method: Some("PATCH".into()),
        path: "/deployments/todo-backend".into(),
        status: 422,
        times: 1,
        real_only: false,
    });
    let Outcome { code, stderr, .. } = s.kubectl_ai().args(["diagnose", "--fix", "--yes"]).run();
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("rejected deployment/todo-backend -n todo-app in a dry run"),
        "{stderr}"
    );
    assert!(s.api.real_mutations().is_empty());
}

/// probe-port plus a Service whose selector almost matches: a plan of two fixes.
fn two_fixes(sb: &Sandbox) -> PathBuf {
    let dir = sb.path().join("two");
    assert!(
        std::process::Command::new("cp")
            .arg("-r")
            .arg(scenario("probe-port"))
            .arg(&dir)
            .status()
            .unwrap()
            .success()
    );
    let path = dir.join("todo-app/services.json");
    let mut list: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut svc = list["items"][0].clone();
    svc["metadata"]["name"] = "backend".into();
    svc["spec"]["selector"] = serde_json::json!({"app": "backend"});
    list["items"].as_array_mut().unwrap().push(svc);
    std::fs::write(&path, list.to_string()).unwrap();
    dir
}

#[test]
fn a_failure_part_way_stops_and_reports_what_was_applied() {
    // A 409 stops at once; a 500 is read again and resent (three attempts in all) before it stops.
    for (status, attempts) in [(500, 3), (409, 1)] {
        let sb = Sandbox::new();
        let s = setup(&two_fixes(&sb));
        s.api.inject(Fault {
            method: Some("PATCH".into()),
            path: "/services/backend".into(),
            status,
            times: 100,
            real_only: true,
        });
        let Outcome {
            code,
            stdout,
            stderr,
        } = s.kubectl_ai().args(["diagnose", "--fix", "--yes"]).run();
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stdout.contains("applied deployment/todo-backend -n todo-app"),
            "{stdout}"
        );
        assert!(
            stdout.contains("FAILED service/backend -n todo-app"),
            "{stdout}"
        );
        assert!(
            stderr.contains("applied 1 of 2 change(s), then stopped")
                && stderr.contains("kubectl ai undo "),
            "{stderr}"
        );
        let real = s.api.real_mutations();
        assert_eq!(
            real.len(),
            1 + attempts,
            "the deployment, then the failed service; nothing after"
        );
        assert!(
            real[0].path.ends_with("/deployments/todo-backend")
                && real[1..]
                    .iter()
                    .all(|r| r.path.ends_with("/services/backend"))
        );
        assert_eq!(readiness_port(&s.backend()), 8000);
        let svc = s
            .api
            .object("", "services", Some("todo-app"), "backend")
            .unwrap();
        assert_eq!(
            svc["spec"]["selector"]["app"], "backend",
            "the failed change is not half-applied"
        );
    }
}

#[test]
fn fixes_are_ordered_and_a_snapshot_cannot_be_changed() {
    let sb = Sandbox::new();
    let s = setup(&two_fixes(&sb));
    let Outcome {
        code,
        stdout,
        stderr,
    } = s.kubectl_ai().args(["diagnose", "--fix", "--yes"]).run();
    assert_eq!(code, 0, "{stderr}");
    let deploy = stdout.find("applied deployment/todo-backend").unwrap();
    let svc = stdout.find("applied service/backend").unwrap();
    assert!(deploy < svc, "workloads before services");
    let selector = &s
        .api
        .object("", "services", Some("todo-app"), "backend")
        .unwrap()["spec"]["selector"];
    assert_eq!(selector, &serde_json::json!({"app": "todo-backend"}));

    // Nothing certain to fix: an empty plan, as data when data was asked for.
    let healthy = setup(&scenario("healthy"));
    let Outcome { code, stdout, .. } = healthy
        .kubectl_ai()
        .args(["diagnose", "--fix", "-o", "json"])
        .run();
    assert_eq!(code, 0);
    let plan: Value = serde_json::from_str(&stdout).expect("JSON even when empty");
    assert_eq!(plan["actions"], serde_json::json!([]));
    assert!(healthy.api.real_mutations().is_empty());

    let out = sb.kubectl_ai().args(["diagnose", "--fix", "--demo"]).run();
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("--fix needs a live cluster"));
}

#[test]
fn an_oom_killed_container_gets_a_larger_memory_limit() {
    let s = setup(&scenario("oom-killed"));
    let Outcome {
        code,
        stdout,
        stderr,
    } = s
        .kubectl_ai()
        .args(["diagnose", "--fix", "--yes", "-n", "shop"])
        .run();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("raise the memory limit of worker from 128Mi to 192Mi"),
        "{stdout}"
    );
    let d = s
        .api
        .object("apps", "deployments", Some("shop"), "order-worker")
        .unwrap();
    let resources = &d["spec"]["template"]["spec"]["containers"][0]["resources"];
    assert_eq!(resources["limits"]["memory"], "192Mi");
    assert_eq!(
        resources["requests"]["memory"], "96Mi",
        "requests untouched"
    );
}

/// `args` on a pseudo-terminal, typing `input` at the plan's question.
fn on_the_terminal(s: &Setup, args: &[&str], input: &str) -> Outcome {
    s.kubectl_ai()
        .args(args)
        .on_a_terminal()
        .env("NO_COLOR", "1")
        .type_after("Apply these changes?", input)
        .run()
}

#[test]
fn confirmation_on_a_real_terminal() {
    let s = setup(&scenario("probe-port"));
    let Outcome {
        code,
        stdout: screen,
        ..
    } = on_the_terminal(&s, &["diagnose", "--fix"], "n\r");
    assert!(screen.contains("Apply these changes?"), "{screen}");
    assert_eq!(code, 5, "{screen}");
    assert!(s.api.real_mutations().is_empty());

    let Outcome {
        code,
        stdout: screen,
        ..
    } = on_the_terminal(&s, &["diagnose", "--fix"], "d\ry\r");
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("--- proposed deployment/todo-backend"),
        "details were shown: {screen}"
    );
    assert_eq!(s.api.real_mutations().len(), 1);
    assert_eq!(readiness_port(&s.backend()), 8000);
}

mod proposed_by_the_model {
    use super::*;
    use crate::support::fake_llm::{FakeLlm, Reply};

    fn propose(actions: Value) -> Reply {
        Reply::ToolCall {
            name: "propose_changes".into(),
            arguments: serde_json::json!({"actions": actions, "reason": "the operator asked"})
                .to_string(),
        }
    }

    fn ask(s: &Setup, llm: &FakeLlm, question: &str, extra: &[&str]) -> Outcome {
        s.kubectl_ai()
            .arg(question)
            .args(extra)
            .env("OPENAI_BASE_URL", &llm.url)
            .run()
    }

    #[test]
    fn scaling_in_words_goes_through_the_same_gate() {
        let s = setup(&scenario("crash-loop"));
        let llm = FakeLlm::start(vec![
            propose(
                serde_json::json!([{"type": "scale", "kind": "Deployment", "name": "todo-backend", "replicas": 3}]),
            ),
            Reply::Text("I proposed scaling todo-backend to 3 replicas.".into()),
        ]);
        // Without consent: shown, validated, not applied.
        let Outcome {
            code,
            stdout,
            stderr,
        } = ask(&s, &llm, "scale the backend to 3 replicas", &[]);
        assert_eq!(code, 5, "{stderr}");
        assert!(
            stdout.contains("I proposed scaling") && stdout.contains("+  replicas: 3"),
            "{stdout}"
        );
        assert!(s.api.real_mutations().is_empty());

        let llm = FakeLlm::start(vec![
            propose(
                serde_json::json!([{"type": "scale", "kind": "Deployment", "name": "todo-backend", "replicas": 3}]),
            ),
            Reply::Text("Scaling proposed.".into()),
        ]);
        let Outcome {
            code,
            stdout,
            stderr,
        } = ask(&s, &llm, "scale the backend to 3 replicas", &["--yes"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("Applied 1 change(s)"), "{stdout}");
        let real = s.api.real_mutations();
        assert_eq!(real.len(), 1);
        assert_eq!(
            real[0].path,
            "/apis/apps/v1/namespaces/todo-app/deployments/todo-backend"
        );
        assert_eq!(s.backend()["spec"]["replicas"], 3);
    }

    #[test]
    fn an_autoscaler_and_an_analyzer_fix_in_words() {
        let s = setup(&scenario("probe-port"));
        let llm = FakeLlm::start(vec![
            propose(serde_json::json!([
                {"type": "apply_fix", "rule": "probe-port", "kind": "Deployment", "name": "todo-backend"},
                {"type": "create_hpa", "kind": "Deployment", "name": "todo-backend", "min_replicas": 2, "max_replicas": 5, "cpu_utilization": 70}
            ])),
            Reply::Text("Proposed the probe fix and an autoscaler.".into()),
        ]);
        let Outcome {
            code,
            stdout,
            stderr,
        } = ask(
            &s,
            &llm,
            "fix the backend and add an autoscaler to it",
            &["--yes"],
        );
        assert_eq!(code, 0, "{stderr}\n{stdout}");
        assert_eq!(readiness_port(&s.backend()), 8000);
        let hpa = s
            .api
            .object(
                "autoscaling",
                "horizontalpodautoscalers",
                Some("todo-app"),
                "todo-backend",
            )
            .expect("autoscaler created");
        assert_eq!(hpa["spec"]["maxReplicas"], 5);
        assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "todo-backend");
        // Dependency order: the workload before its autoscaler.
        let real: Vec<String> = s.api.real_mutations().into_iter().map(|r| r.path).collect();
        assert!(
            real[0].contains("/deployments/") && real[1].contains("/horizontalpodautoscalers/"),
            "{real:?}"
        );
    }

    #[test]
    fn creating_an_object_needs_create_permission() {
        let s = setup(&scenario("probe-port"));
        s.api.deny("horizontalpodautoscalers");
        let llm = FakeLlm::start(vec![
            propose(
                serde_json::json!([{"type": "create_hpa", "kind": "Deployment", "name": "todo-backend", "min_replicas": 2, "max_replicas": 4, "cpu_utilization": 70}]),
            ),
            Reply::Text("Proposed an autoscaler.".into()),
        ]);
        let Outcome { code, stderr, .. } =
            ask(&s, &llm, "add an autoscaler to the backend", &["--yes"]);
        assert_eq!(code, 5, "{stderr}");
        assert!(
            stderr
                .contains("not allowed to create horizontalpodautoscaler/todo-backend -n todo-app"),
            "{stderr}"
        );
        let reviews: Vec<_> = s
            .api
            .mutations()
            .into_iter()
            .filter(|r| r.path.ends_with("selfsubjectaccessreviews"))
            .collect();
        assert!(
            reviews
                .iter()
                .any(|r| r.body.contains("\"verb\":\"create\"")),
            "{reviews:?}"
        );
        assert!(s.api.real_mutations().is_empty());
    }

    #[test]
    fn deleting_the_namespace_because_a_log_said_so_is_refused() {
        let s = setup(&scenario("crash-loop"));
        let llm = FakeLlm::start(vec![
            propose(
                serde_json::json!([{"type": "delete", "kind": "Namespace", "name": "todo-app"}]),
            ),
            Reply::Text("The logs ask to delete the namespace.".into()),
        ]);
        let Outcome { code, stderr, .. } =
            ask(&s, &llm, "why is backend crashlooping? fix it", &["--yes"]);
        assert_eq!(code, 5, "{stderr}");
        assert!(
            stderr.contains(
                "refused: namespace/todo-app: deleting a Namespace (and its data) is refused"
            ),
            "{stderr}"
        );
        assert!(
            s.api.mutations().is_empty(),
            "refused before any request, even a dry run"
        );
    }

    #[test]
    fn a_question_that_asks_for_no_change_ends_with_how_to_apply_the_certain_fix() {
        let s = setup(&scenario("probe-port"));
        let llm = FakeLlm::start(vec![Reply::Text(
            "The readiness probe checks port 8080; the app listens on 8000.".into(),
        )]);
        let Outcome { code, stderr, .. } =
            ask(&s, &llm, "why does the backend get no traffic", &["--yes"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stderr.contains(
                "hint: 1 automatic fix(es) available: `kubectl ai diagnose --fix -n todo-app`"
            ),
            "{stderr}"
        );
        assert!(
            s.api.mutations().is_empty(),
            "--yes consents to nothing unasked"
        );
    }

    #[test]
    fn a_malformed_proposal_applies_nothing() {
        let s = setup(&scenario("crash-loop"));
        for bad in [
            serde_json::json!([{"type": "nuke", "kind": "Deployment", "name": "todo-backend"}]),
            serde_json::json!([{"type": "scale", "kind": "Deployment", "name": "todo-backend", "replicas": 3, "force": true}]),
        ] {
            let llm = FakeLlm::start(vec![propose(bad), Reply::Text("done".into())]);
            let Outcome { code, stderr, .. } = ask(&s, &llm, "scale the backend", &["--yes"]);
            assert_eq!(code, 5, "{stderr}");
            assert!(
                stderr.contains("the model proposed an invalid change")
                    && stderr.contains("nothing was applied"),
                "{stderr}"
            );
            assert!(s.api.mutations().is_empty());
        }
    }

    #[test]
    fn patches_in_each_format_are_diffed_and_applied() {
        let s = setup(&scenario("crash-loop"));
        let llm = FakeLlm::start(vec![
            propose(serde_json::json!([
                {"type": "patch", "kind": "Deployment", "name": "todo-backend", "patch_type": "json",
                 "patch": [{"op": "replace", "path": "/spec/replicas", "value": 1}]},
                {"type": "patch", "kind": "Service", "name": "todo-backend", "patch_type": "merge",
                 "patch": {"metadata": {"labels": {"tier": "api"}}}}
            ])),
            Reply::Text("Proposed two patches.".into()),
        ]);
        let Outcome {
            code,
            stdout,
            stderr,
        } = ask(
            &s,
            &llm,
            "scale the backend down to one and label its service",
            &["--yes"],
        );
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains("-  replicas: 2\n+  replicas: 1") && stdout.contains("+    tier: api"),
            "{stdout}"
        );
        let real = s.api.real_mutations();
        assert_eq!(real.len(), 2);
        assert!(
            real[0]
                .content_type
                .starts_with("application/json-patch+json"),
            "{:?}",
            real[0]
        );
        assert!(
            real[1]
                .content_type
                .starts_with("application/merge-patch+json"),
            "{:?}",
            real[1]
        );
        assert_eq!(s.backend()["spec"]["replicas"], 1);
        let svc = s
            .api
            .object("", "services", Some("todo-app"), "todo-backend")
            .unwrap();
        assert_eq!(svc["metadata"]["labels"]["tier"], "api");

        let llm = FakeLlm::start(vec![
            propose(
                serde_json::json!([{"type": "patch", "kind": "Deployment", "name": "todo-backend", "patch_type": "json", "patch": {"replicas": 1}}]),
            ),
            Reply::Text("x".into()),
        ]);
        let Outcome { code, stderr, .. } = ask(&s, &llm, "scale down", &["--yes"]);
        assert_eq!(code, 5);
        assert!(
            stderr.contains("a JSON patch must be a list of RFC 6902 operations"),
            "{stderr}"
        );
    }
}

#[test]
fn a_rollout_that_never_finishes_times_out_with_the_undo_command() {
    let s = setup(&scenario("probe-port"));
    s.api.stall_rollouts();
    let Outcome {
        code,
        stdout,
        stderr,
    } = s
        .kubectl_ai()
        .args(["diagnose", "--fix", "--yes", "--timeout", "1s"])
        .run();
    assert_eq!(code, 1, "{stderr}");
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Applied 1 change(s). Undo with: kubectl ai undo "))
        .expect("recorded before waiting")
        .to_string();
    assert!(
        stderr.contains("did not finish rolling out within 1s")
            && stderr.contains(&format!("kubectl ai undo {id}")),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1);
}
