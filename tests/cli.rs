//! The command line as a user meets it: help that teaches, formats, targets, exit codes, and
//! clean failure on bad input.

use serde_json::Value;

use crate::support::{Outcome, Sandbox, scenario, summary};

#[test]
fn help_documents_exit_codes_and_examples() {
    let sb = Sandbox::new();
    for args in [vec!["--help"], vec!["diagnose", "--help"]] {
        let out = sb.kubectl_ai().args(&args).run();
        assert_eq!(out.code, 0);
        let help = &out.stdout;
        for needle in [
            "Exit codes:",
            "3    problems found",
            "kubectl ai diagnose --snapshot ./dump",
            "--all-namespaces",
            "--kubeconfig",
        ] {
            assert!(help.contains(needle), "{args:?} help lacks {needle:?}");
        }
    }
    sb.kubectl_ai().arg("--frobnicate").code(2).run();
}

#[test]
fn version_and_completions() {
    let sb = Sandbox::new();
    let out = sb.kubectl_ai().arg("version").run();
    assert_eq!(
        out.stdout.trim(),
        format!("kubectl-ai {}", env!("CARGO_PKG_VERSION"))
    );
    let v = sb.kubectl_ai().args(["version", "-o", "json"]).json();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    for shell in ["bash", "zsh", "fish"] {
        let out = sb.kubectl_ai().args(["completion", shell]).run();
        assert_eq!(out.code, 0);
        let script = &out.stdout;
        assert!(
            script.contains("kubectl-ai") && script.contains("diagnose"),
            "{shell}"
        );
    }
}

#[test]
fn exit_code_gates_on_problems_only_when_asked() {
    let sb = Sandbox::new();
    let demo = sb.kubectl_ai().args(["diagnose", "--demo"]).run();
    assert_eq!(demo.code, 0);
    sb.kubectl_ai()
        .args(["diagnose", "--demo", "--exit-code"])
        .code(3)
        .run();
    sb.kubectl_ai()
        .args(["diagnose", "--demo"])
        .env("KUBECTL_AI_EXIT_CODE", "true")
        .code(3)
        .run();
    sb.kubectl_ai()
        .args(["diagnose", "--exit-code", "--snapshot"])
        .arg(scenario("healthy"))
        .code(0)
        .run();
    // Warnings count as problems too: the HPA without metrics is a warning only.
    sb.kubectl_ai()
        .args(["diagnose", "--exit-code", "--snapshot"])
        .arg(scenario("hpa-no-metrics"))
        .code(3)
        .run();
}

#[test]
fn json_and_yaml_carry_the_same_documented_schema() {
    let sb = Sandbox::new();
    let json = sb
        .kubectl_ai()
        .args(["diagnose", "--demo", "-o", "json"])
        .json();
    assert_eq!(json["apiVersion"], "kubectl-ai.io/v1alpha1");
    assert_eq!(json["kind"], "Diagnosis");
    for f in json["findings"].as_array().unwrap() {
        for field in ["rule", "severity", "summary", "evidence", "fix"] {
            assert!(!f[field].is_null(), "finding without {field}");
        }
        assert!(
            f["object"]["kind"].is_string()
                && f["object"]["name"].is_string()
                && f["object"]["namespace"].is_string()
        );
    }
    let yaml = sb
        .kubectl_ai()
        .args(["diagnose", "--demo", "-o", "yaml"])
        .run();
    let from_yaml: Value = serde_saphyr::from_str(&yaml.stdout).expect("valid YAML");
    assert_eq!(from_yaml, json);
    let env = sb
        .kubectl_ai()
        .args(["diagnose", "--demo"])
        .env("KUBECTL_AI_OUTPUT", "json")
        .json();
    assert_eq!(env, json);
}

#[test]
fn text_output_reads_like_kubectl_and_has_no_colour_off_a_terminal() {
    let sb = Sandbox::new();
    sb.kubectl_ai()
        .args(["diagnose", "--demo"])
        .env_remove("NO_COLOR")
        .stdout_has("ERROR deployment/todo-backend -n todo-app  [crash-loop]")
        .stdout_has("fix: ")
        .stdout_has("3 error(s), 1 warning(s)")
        .stdout_lacks("\u{1b}")
        .run();
    sb.kubectl_ai()
        .args(["diagnose", "--snapshot"])
        .arg(scenario("healthy"))
        .stdout_has("No problems found (6 pods checked).")
        .run();
}

#[test]
fn a_target_narrows_the_report_to_what_it_names() {
    let sb = Sandbox::new();
    let only = |target: &str| {
        summary(
            &sb.kubectl_ai()
                .args(["diagnose", target, "--demo", "-o", "json"])
                .json(),
        )
    };
    assert_eq!(
        only("deployment/todo-backend"),
        vec![(
            "crash-loop".into(),
            "Deployment".into(),
            "todo-backend".into(),
            2
        )]
    );
    assert_eq!(only("deploy/todo-frontend")[0].0, "image-pull");
    // A Service brings the workloads behind it; a pod brings its owner's finding.
    assert_eq!(only("svc/todo-backend")[0].0, "crash-loop");
    assert_eq!(only("svc/postgres")[0].0, "pvc-unbound");
    let demo = sb
        .kubectl_ai()
        .args(["diagnose", "--demo", "-o", "json"])
        .json();
    let crash = demo["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "crash-loop")
        .unwrap();
    let pod = crash["pods"][0].as_str().unwrap().to_string();
    assert_eq!(only(&format!("pod/{pod}"))[0].0, "crash-loop");
    // A bare name matches any kind with that name: the Deployment and the HPA of todo-backend.
    let bare = only("todo-backend");
    assert_eq!(
        bare.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["crash-loop", "hpa-metrics"]
    );

    sb.kubectl_ai()
        .args(["diagnose", "deployment/nope", "--demo"])
        .code(1)
        .stderr_has("error: deployment/nope not found in all namespaces")
        .run();
    sb.kubectl_ai()
        .args(["diagnose", "widget/x", "--demo"])
        .code(1)
        .stderr_has("invalid target \"widget/x\"")
        .run();
}

#[test]
fn snapshot_problems_are_reported_by_file() {
    let sb = Sandbox::new();
    sb.kubectl_ai()
        .args(["diagnose", "--snapshot", "/nonexistent/dump"])
        .code(1)
        .stderr_has("snapshot /nonexistent/dump: not a directory")
        .run();

    let dir = sb.path().join("dump");
    std::fs::create_dir_all(dir.join("shop")).unwrap();
    std::fs::write(
        dir.join("shop/pods.json"),
        "{\"items\": [ {\"metadata\": 7} ]}",
    )
    .unwrap();
    let out = sb
        .kubectl_ai()
        .args(["diagnose", "--snapshot"])
        .arg(&dir)
        .run();
    let stderr = &out.stderr;
    assert_eq!(out.code, 1);
    assert!(
        stderr.contains("shop/pods.json: not a valid Kubernetes List"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);

    sb.kubectl_ai()
        .args(["diagnose", "-n", "nope", "--snapshot"])
        .arg(scenario("healthy"))
        .stderr_has("namespace \"nope\" is not in this snapshot (it has: todo-app)")
        .run();
}

#[test]
fn a_bare_kubectl_dump_without_extension_files_still_diagnoses() {
    let sb = Sandbox::new();
    // Keep only the files `kubectl cluster-info dump` writes itself.
    let dir = sb.path().join("dump");
    let src = scenario("crash-loop");
    std::fs::create_dir_all(dir.join("todo-app")).unwrap();
    std::fs::copy(src.join("nodes.json"), dir.join("nodes.json")).unwrap();
    for kind in kubectl_ai::testing::kinds::DUMPED_BY_KUBECTL
        .iter()
        .filter(|k| k.namespaced)
    {
        std::fs::copy(
            src.join("todo-app").join(kind.file),
            dir.join("todo-app").join(kind.file),
        )
        .unwrap();
    }
    for entry in std::fs::read_dir(src.join("todo-app"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
    {
        let to = dir.join("todo-app").join(entry.file_name());
        std::fs::create_dir_all(&to).unwrap();
        std::fs::copy(entry.path().join("logs.txt"), to.join("logs.txt")).unwrap();
    }
    let report = sb
        .kubectl_ai()
        .args(["diagnose", "-o", "json", "--snapshot"])
        .arg(&dir)
        .json();
    assert_eq!(summary(&report)[0].0, "crash-loop");
    assert!(
        report["findings"]
            .to_string()
            .contains("current log: sqlalchemy.exc.OperationalError")
    );
    assert_eq!(
        report["notes"].as_array().unwrap().len(),
        0,
        "absent extension files are not news"
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let sb = Sandbox::new();
    let bin = assert_cmd::cargo::cargo_bin("kubectl-ai");
    // `true` exits without reading, so the write meets a closed pipe (EPIPE).
    sb.program("bash")
        .arg("-c")
        .arg(format!(
            "'{}' diagnose --demo -o yaml | true; exit ${{PIPESTATUS[0]}}",
            bin.display()
        ))
        .code(0)
        .stderr_lacks("panicked")
        .stderr_lacks("error")
        .run();
}

#[test]
fn colour_on_a_terminal_unless_turned_off() {
    let sb = Sandbox::new();
    let Outcome {
        code,
        stdout: coloured,
        ..
    } = sb
        .kubectl_ai()
        .args(["diagnose", "--demo"])
        .on_a_terminal()
        .run();
    assert_eq!(code, 0, "{coloured}");
    assert!(
        coloured.contains("\u{1b}[31m")
            || coloured.contains("\u{1b}[1;31m")
            || coloured.contains("\u{1b}[31;1m"),
        "errors in red on a terminal: {coloured:?}"
    );
    for (args, env) in [
        (vec!["diagnose", "--demo", "--no-color"], vec![]),
        (vec!["diagnose", "--demo"], vec![("NO_COLOR", "1")]),
    ] {
        let mut run = sb.kubectl_ai();
        run.args(&args).on_a_terminal();
        for (key, value) in &env {
            run.env(key, value);
        }
        let Outcome {
            code,
            stdout: plain,
            ..
        } = run.run();
        assert_eq!(code, 0, "{plain}");
        assert!(plain.contains("ERROR deployment/todo-backend"));
        assert!(!plain.contains('\u{1b}'), "{args:?} {env:?}: {plain:?}");
    }
}
