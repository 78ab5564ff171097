//! The real kubectl against the fake API server (so the fake stays faithful to the wire
//! protocol), and kubectl finding and running kubectl-ai as a plugin.

use std::path::Path;

use serde_json::Value;

use crate::support::fake_api::FakeApi;
use crate::support::{Run, Sandbox, scenario, summary, tool};

/// The real kubectl against `kubeconfig`, in the sandbox's clean environment.
fn kubectl(sb: &Sandbox, kubeconfig: &Path) -> Run {
    let mut run = sb.program(tool("kubectl"));
    run.arg("--kubeconfig").arg(kubeconfig);
    run
}

/// Runs it, expecting success; its stdout.
fn ok(run: &mut Run) -> String {
    run.code(0).run().stdout
}

#[test]
fn kubectl_gets_lists_pages_and_describes_from_the_fake() {
    let sb = Sandbox::new();
    let api = FakeApi::start(&scenario("crash-loop"));
    let kc = api.write_kubeconfig(sb.path(), "todo-app");

    let version = ok(kubectl(&sb, &kc).args(["version", "-o", "json"]));
    let v: Value = serde_json::from_str(&version).unwrap();
    assert_eq!(v["serverVersion"]["gitVersion"], "v1.33.1");

    let pods: Value = serde_json::from_str(&ok(
        kubectl(&sb, &kc).args(["get", "pods", "-A", "-o", "json"])
    ))
    .unwrap();
    assert_eq!(pods["items"].as_array().unwrap().len(), 2);

    // Paging: one pod per request, continue tokens honoured, nothing lost.
    api.reset_journal();
    let names = ok(kubectl(&sb, &kc).args([
        "get",
        "pods",
        "-l",
        "app=todo-backend",
        "--chunk-size=1",
        "-o",
        "name",
    ]));
    assert_eq!(names.lines().count(), 2, "{names}");
    assert!(api.journal().iter().any(|r| r.param("continue").is_some()));
    let none =
        ok(kubectl(&sb, &kc).args(["get", "pods", "-l", "app in (frontend, db)", "-o", "name"]));
    assert_eq!(none.trim(), "");

    // describe reads the object and its events through a field selector on involvedObject.
    let pod = pods["items"][0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let described = ok(kubectl(&sb, &kc).args(["describe", "pod", &pod]));
    assert!(described.contains("CrashLoopBackOff"), "{described}");
    assert!(
        described.contains("Back-off restarting failed container backend"),
        "{described}"
    );

    let deploy = ok(kubectl(&sb, &kc).args(["describe", "deployment", "todo-backend"]));
    assert!(deploy.contains("todo-backend"), "{deploy}");

    // logs: container, previous, tail.
    let logs =
        ok(kubectl(&sb, &kc).args(["logs", &pod, "-c", "backend", "--previous", "--tail=1"]));
    assert_eq!(
        logs.trim(),
        "ERROR:    Application startup failed. Exiting."
    );

    // A real NotFound Status.
    let out = kubectl(&sb, &kc).args(["get", "pod", "nope"]).run();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("pods \"nope\" not found"));
    assert_eq!(api.mutations().len(), 0);
}

#[test]
fn kubectl_server_side_apply_dry_run_changes_nothing() {
    let sb = Sandbox::new();
    let api = FakeApi::start(&scenario("crash-loop"));
    let kc = api.write_kubeconfig(sb.path(), "todo-app");
    let manifest = sb.path().join("cm.yaml");
    std::fs::write(&manifest, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: todo-app\ndata:\n  LOG_LEVEL: debug\n").unwrap();
    let out = ok(kubectl(&sb, &kc)
        .args([
            "apply",
            "--server-side",
            "--dry-run=server",
            "--validate=false",
            "-f",
        ])
        .arg(&manifest));
    assert!(
        out.contains("configmap/extra serverside-applied (server dry run)"),
        "{out}"
    );
    let patch = api
        .mutations()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .expect("an apply PATCH");
    assert_eq!(patch.param("dryRun").as_deref(), Some("All"));
    assert_eq!(patch.param("fieldManager").as_deref(), Some("kubectl"));
    assert!(patch.content_type.starts_with("application/apply-patch"));
    assert!(
        api.object("", "configmaps", Some("todo-app"), "extra")
            .is_none(),
        "dry run stored the object"
    );

    ok(kubectl(&sb, &kc)
        .args(["apply", "--server-side", "--validate=false", "-f"])
        .arg(&manifest));
    let stored = api
        .object("", "configmaps", Some("todo-app"), "extra")
        .expect("applied");
    assert_eq!(stored["data"]["LOG_LEVEL"], "debug");
}

#[test]
fn kubectl_sees_rbac_refusals_and_metrics() {
    let sb = Sandbox::new();
    let api = FakeApi::start(&scenario("oom-killed"));
    let kc = api.write_kubeconfig(sb.path(), "shop");
    let top = ok(kubectl(&sb, &kc).args([
        "get",
        "--raw",
        "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods",
    ]));
    assert!(top.contains("121Mi"), "{top}");
    api.forbid("secrets");
    let out = kubectl(&sb, &kc).args(["get", "secrets"]).run();
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("is forbidden"), "{}", out.stderr);
}

#[test]
fn a_real_kubectl_dump_diagnoses_like_the_scenario_it_was_taken_from() {
    let sb = Sandbox::new();
    for name in ["crash-loop", "image-pull", "unschedulable"] {
        let api = FakeApi::start(&scenario(name));
        let ns = if name == "unschedulable" {
            "analytics"
        } else {
            "todo-app"
        };
        let kc = api.write_kubeconfig(sb.path(), ns);
        let dump = sb.path().join(format!("dump-{name}"));
        ok(kubectl(&sb, &kc)
            .args([
                "cluster-info",
                "dump",
                "--namespaces",
                ns,
                "--output-directory",
            ])
            .arg(&dump));
        assert!(
            dump.join(ns).join("replication-controllers.json").is_file(),
            "kubectl's own file name"
        );
        let from_dump = crate::support::Sandbox::new()
            .kubectl_ai()
            .args(["diagnose", "-o", "json", "--snapshot"])
            .arg(&dump)
            .json();
        let from_fixture = sb
            .kubectl_ai()
            .args(["diagnose", "-o", "json", "--snapshot"])
            .arg(scenario(name))
            .json();
        assert_eq!(summary(&from_dump), summary(&from_fixture), "{name}");
    }
}

#[test]
fn kubectl_runs_kubectl_ai_as_a_plugin() {
    let sb = Sandbox::new();
    let bin_dir = sb.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(
        assert_cmd::cargo::cargo_bin("kubectl-ai"),
        bin_dir.join("kubectl-ai"),
    )
    .unwrap();
    let path = std::env::join_paths(
        [bin_dir.clone()]
            .into_iter()
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let api = FakeApi::start(&scenario("crash-loop"));
    let kc = api.write_kubeconfig(sb.path(), "todo-app");

    let plugin = |args: &[&str]| {
        let mut run = sb.program(tool("kubectl"));
        run.args(args).env("PATH", &path).env("KUBECONFIG", &kc);
        run
    };
    let list = ok(&mut plugin(&["plugin", "list"]));
    assert!(list.contains("kubectl-ai"), "{list}");
    let version = ok(&mut plugin(&["ai", "version"]));
    assert_eq!(
        version.trim(),
        format!("kubectl-ai {}", env!("CARGO_PKG_VERSION"))
    );
    // kubectl hands the plugin its environment, KUBECONFIG included.
    let out = ok(&mut plugin(&[
        "ai",
        "diagnose",
        "deployment/todo-backend",
        "-o",
        "json",
    ]));
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary(&report)[0].0, "crash-loop");
    let gated = plugin(&["ai", "diagnose", "--exit-code"]).run();
    assert_eq!(
        gated.code, 3,
        "kubectl passes the plugin's exit code through"
    );
}
