//! `kubectl ai deploy todo-app` on the fake API server: the first deploy creates every object in
//! dependency order and verifies health through the API; a second is a no-op; minikube and a
//! generic cluster get different exposure; an image that cannot be pulled ends with the diagnosis
//! and the undo command; undeploy keeps the data. `--render` matches the real helm for every value.

use std::process::Command as StdCommand;

use serde_json::{Value, json};

use crate::support::fake_api::FakeApi;
use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::{Outcome, Sandbox, outcome, root, tool};
use kubectl_ai::cluster::kinds;

/// A cluster as `minikube start` leaves it (ingress addon on), or a plain one.
pub(crate) fn cluster(minikube: bool) -> FakeApi {
    let api = FakeApi::empty();
    let mut labels = json!({"kubernetes.io/hostname": "node-1"});
    if minikube {
        labels["minikube.k8s.io/name"] = json!("minikube");
    }
    api.insert(
        &kinds::NODES,
        vec![json!({"metadata": {"name": if minikube { "minikube" } else { "node-1" }, "labels": labels},
                    "status": {"addresses": [{"type": "InternalIP", "address": "192.168.49.2"}],
                               "conditions": [{"type": "Ready", "status": "True"}]}})],
    );
    api.insert(
        &kinds::NAMESPACES,
        ["default", "kube-system", "ingress-nginx"]
            .iter()
            .map(|n| json!({"metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}}}))
            .collect(),
    );
    api.insert(
        &kinds::STORAGE_CLASSES,
        vec![json!({"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                    "provisioner": "k8s.io/minikube-hostpath"})],
    );
    api.insert(
        &kinds::INGRESS_CLASSES,
        vec![
            json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}),
        ],
    );
    api.insert(
        &kinds::PODS,
        vec![json!({"metadata": {"name": "ingress-nginx-controller-5d88495688-abcde", "namespace": "ingress-nginx",
                                 "labels": {"app.kubernetes.io/component": "controller", "app.kubernetes.io/name": "ingress-nginx"}},
                    "spec": {"containers": [{"name": "controller", "image": "registry.k8s.io/ingress-nginx/controller:v1.12.1"}]},
                    "status": {"phase": "Running"}})],
    );
    api
}

fn run(sb: &Sandbox, api: &FakeApi, args: &[&str]) -> Outcome {
    outcome(sb.against(api, "default").args(args))
}

/// The todo app deployed without waiting, as the starting point of a test.
fn deployed(sb: &Sandbox, api: &FakeApi) {
    let r = run(sb, api, &["deploy", "todo-app", "--yes", "--timeout", "0"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

fn bundled() -> Vec<Value> {
    let text = std::fs::read_to_string(root().join("manifests/todo-app/todo-app.yaml")).unwrap();
    serde_saphyr::from_str_multiple::<Value, Vec<Value>>(&text)
        .unwrap()
        .into_iter()
        .filter(Value::is_object)
        .collect()
}

fn rank(kind: &str) -> u8 {
    kubectl_ai::plan::apply_rank(kind)
}

#[test]
fn first_deploy_creates_everything_in_order_verifies_it_and_a_second_changes_nothing() {
    let sb = Sandbox::new();
    let api = cluster(true);
    let r = run(
        &sb,
        &api,
        &["deploy", "todo-app", "--yes", "--timeout", "20s"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);

    // Every bundled object, plus the generated Secret, now exists.
    for o in bundled() {
        let kind = kubectl_ai::plan::kind_named(o["kind"].as_str().unwrap()).unwrap();
        let name = o["metadata"]["name"].as_str().unwrap();
        assert!(
            api.object(
                kind.group,
                kind.plural,
                o["metadata"]["namespace"].as_str(),
                name
            )
            .is_some(),
            "{} {name} was not created",
            o["kind"]
        );
    }
    let secret = api
        .object("", "secrets", Some("todo-app"), "todo-secrets")
        .expect("generated Secret");
    let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "DATABASE_PASSWORD",
            "DATABASE_URL",
            "AUTH_SECRET",
            "OPENAI_API_KEY"
        ]
    );
    use base64::Engine as _;
    let password = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(secret["data"]["DATABASE_PASSWORD"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(password.len(), 48);
    assert!(
        !r.stdout.contains(&password) && !r.stderr.contains(&password),
        "a credential was printed"
    );

    // Applied in dependency order: the namespace first, config before workloads, workloads
    // before their Services, autoscalers last.
    let writes: Vec<String> = api
        .real_mutations()
        .iter()
        .filter(|m| m.method == "PATCH")
        .map(|m| m.path.clone())
        .collect();
    assert_eq!(writes.len(), bundled().len() + 1, "{writes:#?}");
    assert!(writes[0].ends_with("/namespaces/todo-app"), "{writes:#?}");
    let kind_of = |path: &str| -> String {
        let plural = path.rsplit('/').nth(1).unwrap();
        kinds::ALL
            .iter()
            .find(|k| k.plural == plural)
            .unwrap()
            .kind
            .to_string()
    };
    let ranks: Vec<u8> = writes.iter().map(|p| rank(&kind_of(p))).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{writes:#?}");

    // Health, in order, through the API; then how to reach it, as minikube does it.
    let db = r.stdout.find("database ready (1/3)").expect(&r.stdout);
    let backend = r.stdout.find("backend ready (2/3)").unwrap();
    let frontend = r.stdout.find("frontend ready (3/3)").unwrap();
    assert!(db < backend && backend < frontend);
    assert!(
        r.stdout
            .contains("backend answers /ready through the API server"),
        "{}",
        r.stdout
    );
    assert!(
        api.journal().iter().any(|j| j.path == "/api/v1/namespaces/todo-app/services/todo-backend:http/proxy/ready"),
        "the service proxy was asked"
    );
    assert!(
        r.stdout
            .contains("minikube service todo-frontend -n todo-app"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("minikube addons enable metrics-server"),
        "{}",
        r.stdout
    );

    // A second run: nothing to change, nothing written, the credentials kept.
    api.reset_journal();
    let again = run(
        &sb,
        &api,
        &["deploy", "todo-app", "--yes", "--timeout", "20s"],
    );
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert!(
        again.stdout.contains("Nothing to change"),
        "{}",
        again.stdout
    );
    assert!(
        again.stdout.contains("Secret todo-secrets: kept"),
        "{}",
        again.stdout
    );
    assert!(
        api.real_mutations().is_empty(),
        "{:#?}",
        api.real_mutations()
    );
    assert_eq!(
        api.object("", "secrets", Some("todo-app"), "todo-secrets")
            .unwrap()["data"],
        secret["data"]
    );
}

#[test]
fn minikube_and_a_generic_cluster_are_adapted_differently() {
    let sb = Sandbox::new();
    let mini = cluster(true);
    let generic = cluster(false);
    for api in [&mini, &generic] {
        deployed(&sb, api);
    }
    let svc = |api: &FakeApi| {
        api.object("", "services", Some("todo-app"), "todo-frontend")
            .unwrap()
    };
    assert_eq!(svc(&mini)["spec"]["type"], "NodePort");
    assert_eq!(svc(&mini)["spec"]["ports"][0]["nodePort"], 30080);
    // No load balancer, but an ingress controller: ClusterIP behind the Ingress.
    assert_eq!(svc(&generic)["spec"]["type"], "ClusterIP");
    assert!(
        generic
            .object("networking.k8s.io", "ingresses", Some("todo-app"), "todo")
            .is_some()
    );

    // Nothing to route through: the Ingress is left out, the frontend is a NodePort, and the
    // user is told why and how to fix it.
    let bare = FakeApi::empty();
    bare.insert(&kinds::NODES, vec![json!({"metadata": {"name": "node-1"}})]);
    bare.insert(
        &kinds::NAMESPACES,
        vec![json!({"metadata": {"name": "default"}})],
    );
    let r = run(
        &sb,
        &bare,
        &["deploy", "todo-app", "--yes", "--timeout", "0"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("no IngressClass and no ingress controller"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("no StorageClass"), "{}", r.stdout);
    assert!(
        bare.object("networking.k8s.io", "ingresses", Some("todo-app"), "todo")
            .is_none()
    );
    assert_eq!(svc(&bare)["spec"]["type"], "NodePort");
}

#[test]
fn an_image_that_cannot_be_pulled_ends_with_the_diagnosis_and_the_undo_command() {
    let sb = Sandbox::new();
    let api = cluster(true);
    api.fail_image("todo-backend:9.9.9");
    let r = run(
        &sb,
        &api,
        &[
            "deploy",
            "todo-app",
            "--yes",
            "--timeout",
            "3s",
            "--image-tag",
            "9.9.9",
        ],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("database ready (1/3)"), "{}", r.stdout);
    assert!(!r.stdout.contains("backend ready"), "{}", r.stdout);
    assert!(
        r.stdout.contains("[image-pull]"),
        "the diagnosis names the cause:\n{}",
        r.stdout
    );
    assert!(r.stdout.contains("todo-backend:9.9.9"), "{}", r.stdout);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("undo the deploy with `kubectl ai undo "),
        "{}",
        r.stderr
    );
}

#[test]
fn undeploy_keeps_the_data_unless_told_otherwise() {
    let sb = Sandbox::new();
    let api = cluster(true);
    deployed(&sb, &api);
    assert!(
        api.object(
            "",
            "persistentvolumeclaims",
            Some("todo-app"),
            "data-postgres-0"
        )
        .is_some()
    );

    let r = run(&sb, &api, &["undeploy", "todo-app", "--yes"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        api.object("apps", "deployments", Some("todo-app"), "todo-backend")
            .is_none()
    );
    assert!(
        api.object("apps", "statefulsets", Some("todo-app"), "postgres")
            .is_none()
    );
    for claim in ["data-postgres-0", "postgres-backups"] {
        assert!(
            api.object("", "persistentvolumeclaims", Some("todo-app"), claim)
                .is_some(),
            "{claim} deleted"
        );
    }
    assert!(
        api.object("", "secrets", Some("todo-app"), "todo-secrets")
            .is_some()
    );
    assert!(
        r.stdout.contains("Remove them too with --delete-data"),
        "{}",
        r.stdout
    );

    let r = run(
        &sb,
        &api,
        &["undeploy", "todo-app", "--yes", "--delete-data"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        api.object(
            "",
            "persistentvolumeclaims",
            Some("todo-app"),
            "data-postgres-0"
        )
        .is_none()
    );
    assert!(api.object("", "namespaces", None, "todo-app").is_none());
}

fn helm_render(sets: &[&str], namespace: &str) -> Vec<Value> {
    let mut cmd = StdCommand::new(tool("helm"));
    cmd.args(["template", "todo"])
        .arg(root().join("manifests/todo-app/chart"))
        .args(["--namespace", namespace]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    objects(&String::from_utf8_lossy(&out.stdout))
}

fn objects(text: &str) -> Vec<Value> {
    let mut v: Vec<Value> = serde_saphyr::from_str_multiple::<Value, Vec<Value>>(text)
        .unwrap()
        .into_iter()
        .filter(Value::is_object)
        .collect();
    v.sort_by_key(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]));
    v
}

#[test]
fn rendered_values_match_the_real_helm_chart() {
    let sb = Sandbox::new();
    let cases: &[(&[&str], &str)] = &[
        (&[], "todo-app"),
        (
            &[
                "backend.replicas=3",
                "frontend.replicas=4",
                "imageTag=2.0.1",
            ],
            "todo-app",
        ),
        (
            &[
                "frontend.image=registry.local/todo-web",
                "backend.image=registry.local/todo-api",
            ],
            "todo-app",
        ),
        (
            &[
                "frontend.service.type=NodePort",
                "frontend.service.nodePort=30080",
            ],
            "todo-app",
        ),
        (&["frontend.service.type=LoadBalancer"], "todo-app"),
        (
            &["ingress.enabled=false", "backup.enabled=false"],
            "todo-app",
        ),
        (
            &[
                "ingress.className=traefik",
                "ingress.host=todo.example.com",
                "backup.schedule=30 1 * * *",
            ],
            "todo-app",
        ),
        (
            &["postgres.storage=20Gi", "postgres.storageClassName=fast"],
            "todo-app",
        ),
        (
            &[
                "frontend.autoscaling.enabled=false",
                "backend.autoscaling.enabled=false",
            ],
            "todo-app",
        ),
        (&[], "shop"),
    ];
    for (sets, namespace) in cases {
        let mut args = vec!["deploy", "todo-app", "--render", "-n", namespace];
        for s in *sets {
            args.extend(["--set", s]);
        }
        let out = sb.kubectl_ai().args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ours = objects(&String::from_utf8_lossy(&out.stdout));
        let helm = helm_render(sets, namespace);
        let names = |v: &[Value]| {
            v.iter()
                .map(|o| format!("{}/{}", o["kind"], o["metadata"]["name"]))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&ours), names(&helm), "--set {sets:?} -n {namespace}");
        for (a, b) in ours.iter().zip(&helm) {
            assert_eq!(
                a, b,
                "--set {sets:?} -n {namespace}: {} differs",
                b["metadata"]["name"]
            );
        }
    }
}

#[test]
fn a_request_in_words_becomes_validated_values_never_yaml() {
    let sb = Sandbox::new();
    let llm = FakeLlm::start(vec![
        Reply::ToolCall {
            name: "set_values".into(),
            arguments: r#"{"backend.replicas": 3, "ingress.enabled": false}"#.into(),
        },
        Reply::Text("Set 3 backend replicas and left out the Ingress.".into()),
    ]);
    let out = sb
        .kubectl_ai()
        .env("OPENAI_BASE_URL", &llm.url)
        .env("OPENAI_API_KEY", "sk-test-key-0123456789")
        .args([
            "deploy",
            "todo-app",
            "3 backend replicas, no ingress",
            "--render",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--set backend.replicas=3 --set ingress.enabled=false"),
        "{stderr}"
    );
    let rendered = objects(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        rendered,
        helm_render(&["backend.replicas=3", "ingress.enabled=false"], "todo-app")
    );
    let requests = llm.requests();
    assert!(
        requests[0]
            .text()
            .contains("3 backend replicas, no ingress")
    );
    let tools: Vec<&str> = requests[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["set_values"]);

    // A value outside the documented ones is refused, not applied.
    let llm = FakeLlm::start(vec![
        Reply::ToolCall {
            name: "set_values".into(),
            arguments: r#"{"backend.replicas": "lots", "securityContext.privileged": true}"#.into(),
        },
        Reply::Text("Done.".into()),
    ]);
    let out = sb
        .kubectl_ai()
        .env("OPENAI_BASE_URL", &llm.url)
        .env("OPENAI_API_KEY", "sk-test-key-0123456789")
        .args(["deploy", "todo-app", "make it fast", "--render"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the LLM's values were not valid"));
}

#[test]
fn a_directory_of_manifests_deploys_through_the_same_plan() {
    let sb = Sandbox::new();
    let api = cluster(false);
    let dir = sb.path().join("k8s");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("web.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: 'nginx:1.27'}]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n",
    )
    .unwrap();
    let r = run(&sb, &api, &["deploy", dir.to_str().unwrap()]);
    assert_eq!(r.code, 5, "no consent without --yes: {}", r.stderr);
    assert!(api.real_mutations().is_empty());
    let r = run(
        &sb,
        &api,
        &["deploy", dir.to_str().unwrap(), "--yes", "--timeout", "10s"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("deployment/web -n default is ready"),
        "{}",
        r.stdout
    );
    let web = api
        .object("apps", "deployments", Some("default"), "web")
        .unwrap();
    assert_eq!(web["spec"]["replicas"], 2);
}

#[test]
fn the_real_kubectl_reads_what_deploy_created() {
    let sb = Sandbox::new();
    let api = cluster(true);
    deployed(&sb, &api);
    let kubeconfig = api.write_kubeconfig(sb.path(), "todo-app");
    let kubectl = |args: &[&str]| {
        let out = StdCommand::new(tool("kubectl"))
            .args(args)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .env("HOME", sb.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The bundled manifests, as kubectl itself would apply them: every object accepted.
    let manifests = root().join("manifests/todo-app/todo-app.yaml");
    let applied = kubectl(&[
        "apply",
        "--server-side",
        "--dry-run=server",
        "--validate=false",
        "-f",
        manifests.to_str().unwrap(),
    ]);
    assert_eq!(
        applied
            .lines()
            .filter(|l| l.contains("serverside-applied (server dry run)"))
            .count(),
        bundled().len(),
        "{applied}"
    );
    let listed = kubectl(&[
        "get",
        "deployments,statefulsets",
        "-n",
        "todo-app",
        "-o",
        "name",
    ]);
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        [
            "deployment.apps/todo-backend",
            "deployment.apps/todo-frontend",
            "statefulset.apps/postgres"
        ]
    );
}
