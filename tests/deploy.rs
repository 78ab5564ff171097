//! `kubectl ai deploy todo-app` on the fake API server: the first deploy creates every object in
//! dependency order and verifies health through the API; a second is a no-op; minikube and a
//! generic cluster get different exposure; an image that cannot be pulled ends with the diagnosis
//! and the undo command; undeploy keeps the data. `--render` matches the real helm for every value.

use std::process::Command as StdCommand;

use serde_json::{Value, json};

use crate::support::fake_api::FakeApi;
use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::fake_registry::FakeRegistry;
use crate::support::{Outcome, Run, Sandbox, root, tool};
use kubectl_ai::testing::kinds;

/// The images a node holds once the app's images are built into it and PostgreSQL was pulled,
/// named as the kubelet lists them: Docker's short names on minikube (its default runtime),
/// containerd's fully qualified ones elsewhere.
fn node_images(minikube: bool) -> Value {
    let (postgres, nginx, controller) = if minikube {
        (
            "postgres",
            "nginx",
            "registry.k8s.io/ingress-nginx/controller",
        )
    } else {
        (
            "docker.io/library/postgres",
            "docker.io/library/nginx",
            "registry.k8s.io/ingress-nginx/controller",
        )
    };
    json!([
        {"names": [format!("{controller}@sha256:d2fbc4ec70d8aa2050dd91a91506e998765e86c96f32cffb56c503c9c34eed5b"),
                   format!("{controller}:v1.12.1")], "sizeBytes": 111_947_245},
        {"names": ["ghcr.io/example/todo-frontend:1.4.2"], "sizeBytes": 182_320_114},
        {"names": ["ghcr.io/example/todo-backend:1.4.2"], "sizeBytes": 97_512_806},
        {"names": [format!("{postgres}@sha256:7c688148e5e156d0e86df7ba8ae5a05a2386aaec1e2ad8e6d11bdf10504b1fb7"),
                   format!("{postgres}:16-alpine")], "sizeBytes": 104_011_564},
        {"names": [format!("{nginx}@sha256:6784fb0834aa7dbbe12e3d7471e69c290df3e6ba810dc38b34ae33d3c1c05f7d"),
                   format!("{nginx}:1.27")], "sizeBytes": 72_195_292},
    ])
}

/// A cluster as `minikube start` leaves it (ingress addon on), or a plain one, with the app's
/// images on its node.
pub(crate) fn cluster(minikube: bool) -> FakeApi {
    cluster_holding(minikube, node_images(minikube))
}

pub(crate) fn cluster_holding(minikube: bool, images: Value) -> FakeApi {
    let api = FakeApi::empty();
    let mut labels = json!({"kubernetes.io/hostname": "node-1"});
    if minikube {
        labels["minikube.k8s.io/name"] = json!("minikube");
    }
    api.insert(
        &kinds::NODES,
        vec![json!({"metadata": {"name": if minikube { "minikube" } else { "node-1" }, "labels": labels},
                    "status": {"addresses": [{"type": "InternalIP", "address": "192.168.49.2"}],
                               "conditions": [{"type": "Ready", "status": "True"}],
                               "images": images}})],
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

/// The todo app deployed without waiting, as the starting point of a test.
fn deployed(sb: &Sandbox, api: &FakeApi) {
    let r = sb
        .against(api, "default")
        .args(["deploy", "todo-app", "--yes", "--timeout", "0"])
        .run();
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
    kubectl_ai::testing::apply_rank(kind)
}

#[test]
fn first_deploy_creates_everything_in_order_verifies_it_and_a_second_changes_nothing() {
    let sb = Sandbox::new();
    let api = cluster(true);
    let r = sb
        .against(&api, "default")
        .args(["deploy", "todo-app", "--yes", "--timeout", "20s"])
        .run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let secret = assert_everything_created(&api, &r);
    assert_applied_in_dependency_order(&api);
    assert_verified_and_reachable_on_minikube(&api, &r);
    assert_second_deploy_changes_nothing(&sb, &api, &secret);
}

/// Every bundled object, plus the generated Secret, exists; the Secret holds a fresh password
/// the output never shows. Returns the Secret.
fn assert_everything_created(api: &FakeApi, r: &Outcome) -> Value {
    for o in bundled() {
        let kind = kubectl_ai::testing::kind_named(o["kind"].as_str().unwrap()).unwrap();
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
    secret
}

/// Applied in dependency order: the namespace first, config before workloads, workloads before
/// their Services, autoscalers last.
fn assert_applied_in_dependency_order(api: &FakeApi) {
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
}

/// Health, in order, through the API; then how to reach it, as minikube does it.
fn assert_verified_and_reachable_on_minikube(api: &FakeApi, r: &Outcome) {
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
}

/// A second run: nothing to change, nothing written, the credentials kept.
fn assert_second_deploy_changes_nothing(sb: &Sandbox, api: &FakeApi, secret: &Value) {
    api.reset_journal();
    let again = sb
        .against(api, "default")
        .args(["deploy", "todo-app", "--yes", "--timeout", "20s"])
        .run();
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
    bare.insert(
        &kinds::NODES,
        vec![json!({"metadata": {"name": "node-1"}, "status": {"images": node_images(false)}})],
    );
    bare.insert(
        &kinds::NAMESPACES,
        vec![json!({"metadata": {"name": "default"}})],
    );
    let r = sb
        .against(&bare, "default")
        .args(["deploy", "todo-app", "--yes", "--timeout", "0"])
        .run();
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
    let r = sb
        .against(&api, "default")
        .args([
            "deploy",
            "todo-app",
            "--yes",
            "--timeout",
            "3s",
            "--image-tag",
            "9.9.9",
            // An image that vanished after the check: the deploy's own diagnosis is the net.
            "--skip-image-check",
        ])
        .run();
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

    let r = sb
        .against(&api, "default")
        .args(["undeploy", "todo-app", "--yes"])
        .run();
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

    let r = sb
        .against(&api, "default")
        .args(["undeploy", "todo-app", "--yes", "--delete-data"])
        .run();
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
        (&["monitoring.enabled=true"], "todo-app"),
        (
            &[
                "monitoring.enabled=true",
                "monitoring.backend.enabled=true",
                "monitoring.interval=15s",
                "monitoring.labels.release=kube-prometheus-stack",
                "backup.enabled=false",
            ],
            "shop",
        ),
    ];
    for (sets, namespace) in cases {
        let mut args = vec!["deploy", "todo-app", "--render", "-n", namespace];
        for s in *sets {
            args.extend(["--set", s]);
        }
        let out = sb.kubectl_ai().args(&args).run();
        assert_eq!(out.code, 0, "{}", out.stderr);
        let ours = objects(&out.stdout);
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
        .run();
    let stderr = &out.stderr;
    assert_eq!(out.code, 0, "{stderr}");
    assert!(
        stderr.contains("--set backend.replicas=3 --set ingress.enabled=false"),
        "{stderr}"
    );
    let rendered = objects(&out.stdout);
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
    sb.kubectl_ai()
        .env("OPENAI_BASE_URL", &llm.url)
        .env("OPENAI_API_KEY", "sk-test-key-0123456789")
        .args(["deploy", "todo-app", "make it fast", "--render"])
        .code(5)
        .stdout_is("")
        .stderr_has("the LLM's values were not valid")
        .run();
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
    let r = sb
        .against(&api, "default")
        .args(["deploy", dir.to_str().unwrap()])
        .run();
    assert_eq!(r.code, 5, "no consent without --yes: {}", r.stderr);
    assert!(api.real_mutations().is_empty());
    let r = sb
        .against(&api, "default")
        .args(["deploy", dir.to_str().unwrap(), "--yes", "--timeout", "10s"])
        .run();
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

// The pre-flight image check and `--build`.

/// The node's images without the app's own: a fresh cluster that pulled PostgreSQL only.
pub(crate) fn without_app_images(minikube: bool) -> Value {
    let all = node_images(minikube);
    let kept: Vec<Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| !i["names"][0].as_str().unwrap().contains("example/todo"))
        .cloned()
        .collect();
    assert_eq!(kept.len(), 3);
    Value::Array(kept)
}

/// `--set` flags pointing the app's images at `backend` and `frontend` (tag 1.4.2 as bundled).
pub(crate) fn images_at(backend: &str, frontend: &str) -> Vec<String> {
    vec![
        "--set".into(),
        format!("backend.image={backend}"),
        "--set".into(),
        format!("frontend.image={frontend}"),
    ]
}

fn deploy_args(extra: &[String]) -> Vec<&str> {
    let mut args = vec!["deploy", "todo-app", "--yes", "--timeout", "0"];
    args.extend(extra.iter().map(String::as_str));
    args
}

#[test]
fn a_missing_image_stops_the_deploy_before_the_dry_run_naming_it_and_its_fix() {
    let sb = Sandbox::new();
    let reg = FakeRegistry::with_tokens();
    reg.push("todo/frontend", "1.4.2");
    let api = cluster_holding(true, without_app_images(true));
    let extra = images_at(&reg.image("todo/backend"), &reg.image("todo/frontend"));
    let r = sb.against(&api, "default").args(deploy_args(&extra)).run();
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    assert!(!api.journal().is_empty(), "the cluster was read");
    assert!(api.mutations().is_empty(), "{:#?}", api.mutations());

    let backend = format!("{}:1.4.2", reg.image("todo/backend"));
    let listed = r
        .stdout
        .split_once("Images the cluster cannot get:")
        .expect(&r.stdout)
        .1;
    assert!(
        listed.contains(&format!(
            "{backend} (deployment/todo-backend): not on any node, and {} has no such image (404)",
            reg.host
        )),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("fix: minikube image build -t {backend} DIR")),
        "{listed}"
    );
    assert!(
        listed.contains("kubectl ai deploy todo-app --build DIR"),
        "{listed}"
    );
    assert!(listed.contains("--set backend.image=REPO"), "{listed}");
    assert!(
        !listed.contains("todo/frontend"),
        "the registry has it: {listed}"
    );
    assert!(!listed.contains("postgres"), "the node has it: {listed}");
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.starts_with(&format!(
            "error: the cluster cannot get {backend}; nothing was applied"
        )),
        "{}",
        r.stderr
    );

    // The registry was asked as Docker Hub and GHCR are: a challenge, an anonymous token for
    // pulling that repository, then the manifest with the token.
    let hits = reg.journal();
    let asked = |path: &str, bearer: bool| {
        hits.iter()
            .any(|h| h.method == "HEAD" && h.path == path && h.authorization.is_some() == bearer)
    };
    assert!(
        asked("/v2/todo/backend/manifests/1.4.2", false),
        "{hits:#?}"
    );
    assert!(asked("/v2/todo/backend/manifests/1.4.2", true), "{hits:#?}");
    assert!(
        hits.iter().any(|h| h.path == "/token"
            && h.query.contains("service=fake-registry")
            && h.query.contains("scope=repository%3Atodo%2Fbackend%3Apull")),
        "{hits:#?}"
    );
}

#[test]
fn a_registry_that_wants_credentials_blocks_only_where_the_kubelet_has_none() {
    let sb = Sandbox::new();
    let reg = FakeRegistry::with_tokens();
    for repo in ["todo/backend", "todo/frontend"] {
        reg.push(repo, "1.4.2");
    }
    reg.make_private("todo/backend");
    let extra = images_at(&reg.image("todo/backend"), &reg.image("todo/frontend"));
    let backend = format!("{}:1.4.2", reg.image("todo/backend"));

    // minikube's kubelet pulls with the pods' pull secrets only, and these pods have none.
    let mini = cluster_holding(true, without_app_images(true));
    let r = sb.against(&mini, "default").args(deploy_args(&extra)).run();
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("refuses it to anonymous pulls"),
        "{}",
        r.stdout
    );
    assert!(mini.mutations().is_empty());

    // Elsewhere nodes may hold credentials of their own (a cloud's registry): a note, and on.
    let generic = cluster_holding(false, without_app_images(false));
    let r = sb
        .against(&generic, "default")
        .args(deploy_args(&extra))
        .run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "note: cannot verify image {backend}: {} needs credentials",
            reg.host
        )),
        "{}",
        r.stderr
    );
    assert!(
        generic
            .object("apps", "deployments", Some("todo-app"), "todo-backend")
            .is_some()
    );
}

#[test]
fn images_on_a_node_or_in_their_registry_let_the_deploy_proceed() {
    let sb = Sandbox::new();
    // On the node (as `minikube image build` leaves them): the registry is never asked.
    let reg = FakeRegistry::open();
    let mut images = without_app_images(true);
    for repo in ["todo/backend", "todo/frontend"] {
        images.as_array_mut().unwrap().push(
            json!({"names": [format!("{}:1.4.2", reg.image(repo))], "sizeBytes": 90_000_000}),
        );
    }
    let api = cluster_holding(true, images);
    let extra = images_at(&reg.image("todo/backend"), &reg.image("todo/frontend"));
    let r = sb.against(&api, "default").args(deploy_args(&extra)).run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("applied"), "{}", r.stdout);
    assert!(reg.journal().is_empty(), "{:#?}", reg.journal());

    // In the registry, behind the token flow: asked once each, then deployed.
    let reg = FakeRegistry::with_tokens();
    for repo in ["todo/backend", "todo/frontend"] {
        reg.push(repo, "1.4.2");
    }
    let api = cluster_holding(false, without_app_images(false));
    let extra = images_at(&reg.image("todo/backend"), &reg.image("todo/frontend"));
    let r = sb.against(&api, "default").args(deploy_args(&extra)).run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let deployment = api
        .object("apps", "deployments", Some("todo-app"), "todo-frontend")
        .expect("deployed");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{}:1.4.2", reg.image("todo/frontend"))
    );
    let authorized: Vec<String> = reg
        .journal()
        .into_iter()
        .filter(|h| h.method == "HEAD" && h.authorization.is_some())
        .map(|h| h.path)
        .collect();
    assert_eq!(authorized.len(), 2, "{authorized:?}");
    assert!(!r.stderr.contains("note:"), "{}", r.stderr);

    // --skip-image-check: not even asked.
    let reg = FakeRegistry::open();
    let api = cluster_holding(false, without_app_images(false));
    let mut extra = images_at(&reg.image("todo/backend"), &reg.image("todo/frontend"));
    extra.push("--skip-image-check".into());
    let r = sb.against(&api, "default").args(deploy_args(&extra)).run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(reg.journal().is_empty(), "{:#?}", reg.journal());
    assert!(!api.real_mutations().is_empty());
}

#[test]
fn an_unreachable_or_silent_registry_is_a_note_and_the_deploy_goes_on() {
    let sb = Sandbox::new();
    // Nothing listens on the first port; the second accepts connections and never answers.
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused_at = refused.local_addr().unwrap();
    drop(refused);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_at = silent.local_addr().unwrap();
    let api = cluster_holding(true, without_app_images(true));
    let mut extra = images_at(
        &format!("{refused_at}/todo/backend"),
        &format!("{silent_at}/todo/frontend"),
    );
    extra.extend(["--request-timeout".into(), "2s".into()]);
    let r = sb.against(&api, "default").args(deploy_args(&extra)).run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "note: cannot verify image {refused_at}/todo/backend:1.4.2: {refused_at} did not answer (cannot connect); deploying anyway"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "note: cannot verify image {silent_at}/todo/frontend:1.4.2: {silent_at} did not answer"
        )),
        "{}",
        r.stderr
    );
    assert!(
        api.object("apps", "deployments", Some("todo-app"), "todo-frontend")
            .is_some()
    );
    drop(silent);
}

#[test]
fn a_directory_of_manifests_is_checked_too() {
    let sb = Sandbox::new();
    let reg = FakeRegistry::open();
    let api = cluster(false);
    let dir = sb.path().join("k8s");
    std::fs::create_dir_all(&dir).unwrap();
    let image = format!("{}:2.0", reg.image("shop/web"));
    std::fs::write(
        dir.join("web.yaml"),
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      initContainers: [{{name: wait, image: 'nginx:1.27'}}]\n      containers: [{{name: web, image: '{image}'}}]\n"),
    )
    .unwrap();
    let r = sb
        .against(&api, "default")
        .args(["deploy", dir.to_str().unwrap(), "--yes"])
        .run();
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    assert!(api.mutations().is_empty());
    assert!(
        r.stdout.contains(&format!(
            "{image} (deployment/web): not on any node, and {} has no such image (404)\n    fix: push {image} to a registry the cluster can pull from",
            reg.host
        )),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("nginx"), "on the node: {}", r.stdout);
    assert!(!r.stdout.contains("--build"), "{}", r.stdout);

    reg.push("shop/web", "2.0");
    let r = sb
        .against(&api, "default")
        .args(["deploy", dir.to_str().unwrap(), "--yes", "--timeout", "0"])
        .run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

#[test]
fn a_node_copy_does_not_count_when_the_kubelet_pulls_anyway() {
    let sb = Sandbox::new();
    let reg = FakeRegistry::open();
    let image = reg.image("shop/web:latest");
    let mut images = node_images(false);
    images
        .as_array_mut()
        .unwrap()
        .push(json!({"names": [image], "sizeBytes": 50_000_000}));
    let api = cluster_holding(false, images);
    let file = sb.path().join("web.yaml");
    let manifest = |policy: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  containers: [{{name: web, image: '{image}'{policy}}}]\n"
        )
    };
    // `:latest` without a policy is pulled every time: the registry decides, and has none.
    std::fs::write(&file, manifest("")).unwrap();
    let r = sb
        .against(&api, "default")
        .args(["deploy", file.to_str().unwrap(), "--yes"])
        .run();
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "{image} (pod/web): imagePullPolicy makes the kubelet pull it although a node has it, and {} has no such image (404)",
            reg.host
        )),
        "{}",
        r.stdout
    );
    assert!(api.mutations().is_empty());
    // IfNotPresent: the node's copy is what runs.
    std::fs::write(&file, manifest(", imagePullPolicy: IfNotPresent")).unwrap();
    let before = reg.journal().len();
    let r = sb
        .against(&api, "default")
        .args(["deploy", file.to_str().unwrap(), "--yes", "--timeout", "0"])
        .run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(reg.journal().len(), before, "the registry was not asked");
}

/// Stand-in `minikube`, `kind` and `docker` that record their arguments, one line per run, and
/// fail when their arguments contain $STANDIN_FAIL.
pub(crate) struct Standins {
    path: String,
    log: std::path::PathBuf,
    pub(crate) repo: std::path::PathBuf,
}

impl Standins {
    pub(crate) fn new(sb: &Sandbox) -> Standins {
        let bin = sb.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let script = "#!/bin/sh\necho \"$(basename \"$0\") $*\" >> \"$STANDIN_LOG\"\nif [ -n \"$STANDIN_FAIL\" ]; then case \"$*\" in *\"$STANDIN_FAIL\"*) echo 'ERROR: failed to solve: process \"/bin/sh -c npm ci\" did not complete successfully: exit code: 1' >&2; exit 1;; esac; fi\necho \"$(basename \"$0\"): built\"\n";
        for tool in ["minikube", "kind", "docker"] {
            let p = bin.join(tool);
            std::fs::write(&p, script).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let repo = sb.path().join("todo-src");
        for c in ["backend", "frontend"] {
            std::fs::create_dir_all(repo.join(c)).unwrap();
            std::fs::write(repo.join(c).join("Dockerfile"), "FROM python:3.12-slim\n").unwrap();
        }
        Standins {
            path: format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            log: sb.path().join("standins.log"),
            repo,
        }
    }

    /// The binary with the stand-ins first on PATH, `fail` naming the one that fails.
    pub(crate) fn kubectl_ai(&self, sb: &Sandbox, api: &FakeApi, fail: &str) -> Run {
        let mut run = sb.against(api, "default");
        run.env("PATH", &self.path)
            .env("STANDIN_LOG", &self.log)
            .env("STANDIN_FAIL", fail);
        run
    }

    /// `deploy todo-app --build REPO --yes --timeout 0`: a consented build and deploy that does not
    /// wait for rollouts.
    pub(crate) fn build_and_deploy(&self, sb: &Sandbox, api: &FakeApi) -> Outcome {
        let repo = self.repo.to_str().unwrap();
        self.kubectl_ai(sb, api, "")
            .args([
                "deploy",
                "todo-app",
                "--build",
                repo,
                "--yes",
                "--timeout",
                "0",
            ])
            .run()
    }

    /// What ran, with the app's repository written as DIR.
    pub(crate) fn ran(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| l.replace(&self.repo.display().to_string(), "DIR"))
            .collect()
    }
}

pub(crate) fn kind_cluster(name: &str) -> FakeApi {
    let api = FakeApi::empty();
    api.insert(
        &kinds::NODES,
        vec![
            json!({"metadata": {"name": format!("{name}-control-plane")},
                    "spec": {"providerID": format!("kind://docker/{name}/{name}-control-plane")},
                    "status": {"images": without_app_images(false)}}),
        ],
    );
    api.insert(
        &kinds::NAMESPACES,
        vec![json!({"metadata": {"name": "default"}})],
    );
    api
}

#[test]
fn build_puts_the_images_into_minikube_with_the_plans_tags_then_deploys() {
    let sb = Sandbox::new();
    let s = Standins::new(&sb);
    let api = cluster_holding(true, without_app_images(true));
    let repo = s.repo.to_str().unwrap();
    let r = s
        .kubectl_ai(&sb, &api, "")
        .args([
            "deploy",
            "todo-app",
            "--build",
            repo,
            "--image-tag",
            "2.0.0",
            "--yes",
            "--timeout",
            "0",
        ])
        .run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        s.ran(),
        [
            "minikube image build -t ghcr.io/example/todo-backend:2.0.0 DIR/backend",
            "minikube image build -t ghcr.io/example/todo-frontend:2.0.0 DIR/frontend",
        ]
    );
    // Shown, streamed, and before the plan.
    let shown = r
        .stdout
        .find("Build the images into the cluster:")
        .expect(&r.stdout);
    let streamed = r.stdout.find("minikube: built").expect(&r.stdout);
    let plan = r.stdout.find("Plan:").expect(&r.stdout);
    assert!(shown < streamed && streamed < plan, "{}", r.stdout);
    let backend = api
        .object("apps", "deployments", Some("todo-app"), "todo-backend")
        .unwrap();
    assert_eq!(
        backend["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/example/todo-backend:2.0.0"
    );
}

#[test]
fn build_on_kind_builds_with_docker_then_loads_into_the_named_cluster() {
    let sb = Sandbox::new();
    let s = Standins::new(&sb);
    let api = kind_cluster("dev");
    let r = s.build_and_deploy(&sb, &api);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        s.ran(),
        [
            "docker build -t ghcr.io/example/todo-backend:1.4.2 DIR/backend",
            "kind load docker-image ghcr.io/example/todo-backend:1.4.2 --name dev",
            "docker build -t ghcr.io/example/todo-frontend:1.4.2 DIR/frontend",
            "kind load docker-image ghcr.io/example/todo-frontend:1.4.2 --name dev",
        ]
    );
    assert!(!api.real_mutations().is_empty());
}

#[test]
fn build_runs_nothing_without_consent_and_stops_at_the_first_failure() {
    let sb = Sandbox::new();
    let s = Standins::new(&sb);
    let api = cluster_holding(true, without_app_images(true));
    let repo = s.repo.to_str().unwrap();

    // No terminal and no --yes: nothing runs, nothing is applied.
    let r = s
        .kubectl_ai(&sb, &api, "")
        .args(["deploy", "todo-app", "--build", repo])
        .run();
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("minikube image build -t ghcr.io/example/todo-backend:1.4.2"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("without consent"), "{}", r.stderr);
    assert!(s.ran().is_empty(), "{:?}", s.ran());

    // --dry-run shows the commands and runs none of them.
    let r = s
        .kubectl_ai(&sb, &api, "")
        .args(["deploy", "todo-app", "--build", repo, "--dry-run"])
        .run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("nothing was built."), "{}", r.stdout);
    assert!(s.ran().is_empty(), "{:?}", s.ran());

    // So does -o json, which prints the plan as data; stdout holds nothing else.
    let r = s
        .kubectl_ai(&sb, &api, "")
        .args(["deploy", "todo-app", "--build", repo, "-o", "json", "--yes"])
        .run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let plan: Value = serde_json::from_str(&r.stdout).expect(&r.stdout);
    assert_eq!(plan["kind"], "Plan");
    assert!(
        r.stderr
            .contains("minikube image build -t ghcr.io/example/todo-backend:1.4.2"),
        "{}",
        r.stderr
    );
    assert!(s.ran().is_empty(), "{:?}", s.ran());
    assert!(api.real_mutations().is_empty());

    // Declined on a terminal.
    let Outcome {
        code,
        stdout: screen,
        ..
    } = s
        .kubectl_ai(&sb, &api, "")
        .args(["deploy", "todo-app", "--build", repo])
        .on_a_terminal()
        .type_after("Run these commands?", "n\n")
        .run();
    assert_eq!(code, 5, "{screen}");
    assert!(screen.contains("Run these commands?"), "{screen}");
    assert!(screen.contains("Nothing was built or changed."), "{screen}");
    assert!(s.ran().is_empty(), "{:?}", s.ran());
    assert!(api.real_mutations().is_empty());

    // The frontend's build fails: the backend's ran, nothing is applied, one line says so.
    let r = s
        .kubectl_ai(&sb, &api, "frontend")
        .args(["deploy", "todo-app", "--build", repo, "--yes"])
        .run();
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        s.ran(),
        [
            "minikube image build -t ghcr.io/example/todo-backend:1.4.2 DIR/backend",
            "minikube image build -t ghcr.io/example/todo-frontend:1.4.2 DIR/frontend",
        ]
    );
    assert!(
        r.stderr.contains("failed to solve"),
        "the tool's own output streams: {}",
        r.stderr
    );
    let last = r.stderr.lines().last().unwrap();
    assert_eq!(
        last.replace(repo, "DIR"),
        "error: `minikube image build -t ghcr.io/example/todo-frontend:1.4.2 DIR/frontend` failed (exit status 1); nothing was applied"
    );
    assert!(api.real_mutations().is_empty());
}

#[test]
fn build_elsewhere_explains_that_images_go_through_a_registry() {
    let sb = Sandbox::new();
    let s = Standins::new(&sb);
    let api = cluster(false);
    let repo = s.repo.to_str().unwrap();
    let r = s
        .kubectl_ai(&sb, &api, "")
        .args(["deploy", "todo-app", "--build", repo, "--yes"])
        .run();
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("a generic cluster pulls from registries: push ghcr.io/example/todo-backend:1.4.2 and ghcr.io/example/todo-frontend:1.4.2 to a registry it can pull from"),
        "{}",
        r.stderr
    );
    assert!(s.ran().is_empty());
    assert!(api.mutations().is_empty());
}

/// The prometheus-operator's CRDs, as its chart installs them.
fn operator_crds() -> Vec<Value> {
    let dir = root().join("tests/fixtures/crds/prometheus-operator");
    ["servicemonitors", "prometheusrules", "prometheuses"]
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(dir.join(format!("monitoring.coreos.com_{p}.yaml")))
                .unwrap();
            serde_saphyr::from_str(&text).unwrap()
        })
        .collect()
}

fn monitoring_objects() -> Vec<Value> {
    let text = std::fs::read_to_string(root().join("manifests/todo-app/monitoring.yaml")).unwrap();
    serde_saphyr::from_str_multiple::<Value, Vec<Value>>(&text)
        .unwrap()
        .into_iter()
        .filter(Value::is_object)
        // The backend serves no metrics unless told: its monitor is opt-in.
        .filter(|o| {
            o["metadata"]["name"] != "todo-backend" && o["metadata"]["name"] != "backend-metrics"
        })
        .collect()
}

#[test]
fn monitoring_is_on_where_the_operators_crds_are_served_and_undeploy_removes_it() {
    let sb = Sandbox::new();
    let api = monitored_cluster();
    let r = sb
        .against(&api, "default")
        .args(["deploy", "todo-app", "--yes", "--timeout", "20s"])
        .run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("adapted: monitoring: the cluster serves the prometheus-operator's CRDs"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("adapted: monitoring: labelled release=kube-prometheus-stack, which Prometheus monitoring/kube-prometheus-stack-prometheus selects"),
        "{}",
        r.stdout
    );
    let wanted = monitoring_objects();
    assert_monitoring_applied(&api, &wanted);
    assert_exporter_reads_the_secret(&api, &r);

    // undeploy removes the monitoring too.
    let r = sb
        .against(&api, "default")
        .args(["undeploy", "todo-app", "--yes"])
        .run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for o in &wanted {
        let kind = kubectl_ai::testing::kind_named(o["kind"].as_str().unwrap()).unwrap();
        let name = o["metadata"]["name"].as_str().unwrap();
        assert!(
            api.object(kind.group, kind.plural, Some("todo-app"), name)
                .is_none(),
            "{} {name} was kept",
            o["kind"]
        );
    }
}

/// A generic cluster serving the prometheus-operator's CRDs, with the Prometheus
/// kube-prometheus-stack creates, and a node that pulled the exporter too.
fn monitored_cluster() -> FakeApi {
    // The exporter's image, named as containerd lists it.
    let mut images = node_images(false);
    let exporter = "docker.io/prometheuscommunity/postgres-exporter";
    images.as_array_mut().unwrap().push(json!(
        {"names": [format!("{exporter}@sha256:3b1cd3e24f8b5f2e0d5c3c4bbf3ab6c5c7b2c0b8e4e1a9f6d2c7b8a9e0f1d2c3"),
                   format!("{exporter}:v0.20.1")], "sizeBytes": 11_862_344}
    ));
    let api = cluster_holding(false, images);
    api.install_crds(operator_crds());
    // The Prometheus kube-prometheus-stack creates: it selects by its release label, everywhere.
    let selector = json!({"matchLabels": {"release": "kube-prometheus-stack"}});
    api.insert(
        &kinds::PROMETHEUSES,
        vec![json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
                    "metadata": {"name": "kube-prometheus-stack-prometheus", "namespace": "monitoring",
                                 "labels": {"app": "kube-prometheus-stack-prometheus", "release": "kube-prometheus-stack",
                                            "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": "kube-prometheus-stack"}},
                    "spec": {"serviceMonitorSelector": selector, "serviceMonitorNamespaceSelector": {},
                             "podMonitorSelector": selector, "podMonitorNamespaceSelector": {},
                             "ruleSelector": selector, "ruleNamespaceSelector": {},
                             "replicas": 1, "retention": "10d", "serviceAccountName": "kube-prometheus-stack-prometheus",
                             "image": "quay.io/prometheus/prometheus:v3.5.0", "version": "v3.5.0"}})],
    );
    api
}

/// Every monitoring object is applied as bundled, the monitors and rules labelled for the
/// Prometheus that selects them; the backend's opt-in monitor is not.
fn assert_monitoring_applied(api: &FakeApi, wanted: &[Value]) {
    assert_eq!(wanted.len(), 8, "{wanted:#?}");
    for o in wanted {
        let kind = kubectl_ai::testing::kind_named(o["kind"].as_str().unwrap()).unwrap();
        let name = o["metadata"]["name"].as_str().unwrap();
        let got = api
            .object(kind.group, kind.plural, Some("todo-app"), name)
            .unwrap_or_else(|| panic!("{} {name} was not applied", o["kind"]));
        assert_eq!(got["spec"], o["spec"], "{} {name}", o["kind"]);
        if matches!(
            o["kind"].as_str(),
            Some("ServiceMonitor" | "PrometheusRule")
        ) {
            assert_eq!(
                got["metadata"]["labels"]["release"], "kube-prometheus-stack",
                "{name}"
            );
        }
    }
    assert!(
        api.object(
            "monitoring.coreos.com",
            "servicemonitors",
            Some("todo-app"),
            "todo-backend"
        )
        .is_none()
    );
}

/// The PostgreSQL exporter reads the database password from the app's Secret, and the output
/// names it.
fn assert_exporter_reads_the_secret(api: &FakeApi, r: &Outcome) {
    let exporter = api
        .object("apps", "deployments", Some("todo-app"), "postgres-exporter")
        .unwrap();
    let env = &exporter["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(
        env.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "DATA_SOURCE_PASS")
            .unwrap()["valueFrom"],
        json!({"secretKeyRef": {"name": "todo-secrets", "key": "DATABASE_PASSWORD"}})
    );
    assert!(r.stdout.contains("postgres-exporter"), "{}", r.stdout);
}

#[test]
fn monitoring_is_off_with_a_note_where_the_operators_crds_are_not_served() {
    let sb = Sandbox::new();
    // Without the CRDs: one line says so, and nothing monitoring-related is planned or written.
    let plain = cluster(false);
    let r = sb
        .against(&plain, "default")
        .args(["deploy", "todo-app", "--yes", "--timeout", "0"])
        .run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let notes: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.contains("monitoring"))
        .collect();
    assert_eq!(
        notes,
        [
            "  note: monitoring left off: this cluster has no prometheus-operator CRDs (servicemonitors, prometheusrules.monitoring.coreos.com)"
        ],
        "{}",
        r.stdout
    );
    let writes: Vec<String> = plain
        .real_mutations()
        .iter()
        .map(|m| m.path.clone())
        .collect();
    assert_eq!(writes.len(), bundled().len() + 1, "{writes:#?}");
    assert!(
        writes.iter().all(|p| !p.contains("monitoring.coreos.com")
            && !p.contains("postgres-exporter")
            && !p.contains("todo-app-dashboard")),
        "{writes:#?}"
    );

    // Asked for where it cannot work: said, with the fix, and the user's word stands.
    let r = sb
        .against(&plain, "default")
        .args([
            "deploy",
            "todo-app",
            "--dry-run",
            "--set",
            "monitoring.enabled=true",
        ])
        .run();
    assert!(
        r.stdout.contains("monitoring.enabled is set, but this cluster does not serve the prometheus-operator's CRDs"),
        "{}",
        r.stdout
    );
}
