//! The pre-flight image check and `--build` beyond tests/deploy.rs's cases: the fix named for
//! each kind of cluster, the bound on a registry that never answers, what the check never reads,
//! and docs/todo-app.md's fresh-minikube path run step by step as written.

use serde_json::{Value, json};

use crate::deploy::{Standins, cluster_holding, images_at, kind_cluster, without_app_images};
use crate::support::fake_api::FakeApi;
use crate::support::fake_registry::FakeRegistry;
use crate::support::{Outcome, Sandbox, root};
use kubectl_ai::testing::kinds;

/// Docker Desktop's one node, as its Kubernetes names it, without the app's images.
fn docker_desktop() -> FakeApi {
    let api = FakeApi::empty();
    api.insert(
        &kinds::NODES,
        vec![json!({"metadata": {"name": "docker-desktop"},
                    "status": {"images": without_app_images(false)}})],
    );
    api.insert(
        &kinds::NAMESPACES,
        vec![json!({"metadata": {"name": "default"}})],
    );
    api
}

/// What was written to the cluster, dry runs included: the check comes before both.
fn writes(api: &FakeApi) -> Vec<String> {
    api.mutations()
        .into_iter()
        .map(|q| format!("{} {}", q.method, q.path))
        .collect()
}

#[test]
fn a_missing_image_names_the_fix_of_each_kind_of_cluster() {
    let sb = Sandbox::new();
    let reg = FakeRegistry::open();
    let backend = format!("{}:1.4.2", reg.image("todo/backend"));
    let clusters: [(&str, FakeApi, String, bool); 4] = [
        (
            "minikube",
            cluster_holding(true, without_app_images(true)),
            format!(
                "fix: minikube image build -t {backend} DIR (DIR holds its Dockerfile), or `minikube image load {backend}` if you built it with docker"
            ),
            true,
        ),
        (
            "kind",
            kind_cluster("dev"),
            format!(
                "fix: docker build -t {backend} DIR, then `kind load docker-image {backend} --name dev`"
            ),
            true,
        ),
        (
            "Docker Desktop",
            docker_desktop(),
            format!(
                "fix: docker build -t {backend} DIR (Docker Desktop's Kubernetes runs the images docker builds)"
            ),
            true,
        ),
        (
            "a generic cluster",
            cluster_holding(false, without_app_images(false)),
            format!("fix: push {backend} to a registry the cluster can pull from"),
            false,
        ),
    ];
    let extra = images_at(&reg.image("todo/backend"), &reg.image("todo/frontend"));
    for (flavour, api, fix, local) in clusters {
        let r = sb
            .against(&api, "default")
            .args(["deploy", "todo-app", "--yes", "--timeout", "0"])
            .args(&extra)
            .run();
        assert_eq!(r.code, 5, "{flavour}: {}\n{}", r.stdout, r.stderr);
        assert!(!api.journal().is_empty(), "{flavour}: the cluster was read");
        assert!(writes(&api).is_empty(), "{flavour}: {:?}", writes(&api));
        let listed = r
            .stdout
            .split_once("Images the cluster cannot get:")
            .unwrap_or_else(|| panic!("{flavour}: {}", r.stdout))
            .1;
        assert!(
            listed.contains(&format!(
                "{backend} (deployment/todo-backend): not on any node"
            )),
            "{flavour}: {listed}"
        );
        assert!(listed.contains(&fix), "{flavour}: {listed}");
        assert!(
            listed.contains("--set backend.image=REPO --set frontend.image=REPO --image-tag TAG"),
            "{flavour}: {listed}"
        );
        assert_eq!(
            listed.contains("kubectl ai deploy todo-app --build DIR"),
            local,
            "{flavour}: --build only where images can be built into the cluster: {listed}"
        );
        // The image check reads no Secret: the only one asked for is the app's own, which the
        // deploy reads to keep its credentials.
        let secrets: Vec<String> = api
            .journal()
            .into_iter()
            .filter(|q| q.path.contains("/secrets"))
            .map(|q| q.path)
            .collect();
        assert!(
            secrets
                .iter()
                .all(|p| p.ends_with("/namespaces/todo-app/secrets/todo-secrets")),
            "{flavour}: {secrets:?}"
        );
    }
}

#[test]
fn a_registry_that_never_answers_is_bounded_even_when_api_requests_wait_forever() {
    let sb = Sandbox::new();
    // Accepts connections and never answers; `--request-timeout 0` lets API requests wait
    // forever, so only the check's own bound (10s) ends the wait.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let at = silent.local_addr().unwrap();
    let api = cluster_holding(true, without_app_images(true));
    let r = sb
        .against(&api, "default")
        .args(["deploy", "todo-app", "--yes", "--timeout", "0"])
        .args(images_at(
            &format!("{at}/todo/backend"),
            &format!("{at}/todo/frontend"),
        ))
        .args(["--request-timeout", "0"])
        .run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for image in ["todo/backend", "todo/frontend"] {
        assert!(
            r.stderr.contains(&format!(
                "note: cannot verify image {at}/{image}:1.4.2: {at} did not answer"
            )) && r.stderr.contains("deploying anyway"),
            "{}",
            r.stderr
        );
    }
    assert!(
        api.object("apps", "deployments", Some("todo-app"), "todo-backend")
            .is_some(),
        "deployed after the note"
    );
    drop(silent);
}

/// The commands of the first ```sh block after `heading` in docs/todo-app.md, comments dropped.
fn doc_commands(heading: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join("docs/todo-app.md")).unwrap();
    let section = text
        .split_once(heading)
        .unwrap_or_else(|| panic!("docs/todo-app.md has no {heading:?}"))
        .1;
    let block = section
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a sh block")
        .0;
    block
        .lines()
        .map(|l| l.split(" #").next().unwrap_or_default().trim().to_string())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The position of the first command that starts with `prefix`.
fn step(commands: &[String], prefix: &str) -> usize {
    commands
        .iter()
        .position(|c| c.starts_with(prefix))
        .unwrap_or_else(|| panic!("no step {prefix:?} in {commands:#?}"))
}

#[test]
fn the_fresh_minikube_path_in_the_docs_runs_in_order() {
    let steps = doc_commands("## From a fresh minikube to the running app");
    let start = step(&steps, "minikube start");
    let ingress = step(&steps, "minikube addons enable ingress");
    let dry_run = step(&steps, "kubectl ai deploy todo-app --build ");
    let deploy = steps
        .iter()
        .position(|c| {
            c.starts_with("kubectl ai deploy todo-app --build ") && !c.contains("--dry-run")
        })
        .expect("the deploy step");
    let open = step(&steps, "minikube service ");
    assert!(
        start < ingress && ingress < dry_run && dry_run < deploy && deploy < open,
        "{steps:#?}"
    );
    assert!(steps[dry_run].ends_with("--dry-run"), "{steps:#?}");

    // The kubectl-ai steps, as written, against a minikube fresh from `minikube start` (its node
    // holds PostgreSQL's image, not the app's), with the doc's `~/src/todo-app` a checkout of the
    // app and a stand-in `minikube` that records what it is asked to run.
    let sb = Sandbox::new();
    let s = Standins::new(&sb);
    let api = cluster_holding(true, without_app_images(true));
    let repo = s.repo.to_str().unwrap();
    let args = |line: &str| -> Vec<String> {
        line.strip_prefix("kubectl ai ")
            .expect(line)
            .split_whitespace()
            .map(|a| a.replace("~/src/todo-app", repo))
            .collect()
    };
    let r = s
        .kubectl_ai(&sb, &api, "")
        .args(args(&steps[dry_run]))
        .run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("nothing was built."), "{}", r.stdout);
    assert!(s.ran().is_empty(), "{:?}", s.ran());
    assert!(api.real_mutations().is_empty());

    // It asks twice (the builds, then the plan); a person answers y to both.
    let Outcome {
        code,
        stdout: screen,
        ..
    } = s
        .kubectl_ai(&sb, &api, "")
        .args(args(&steps[deploy]))
        .args(["--timeout", "0"])
        .on_a_terminal()
        .type_after("Run these commands?", "y\ny\n")
        .run();
    assert_eq!(code, 0, "{screen}");
    // What ran is what the doc says to run by hand without --build.
    let by_hand: Vec<String> =
        doc_commands("Without `--build`, build or load the images yourself first:")
            .into_iter()
            .filter(|c| c.starts_with("minikube image build"))
            .map(|c| c.replace("~/src/todo-app", "DIR"))
            .collect();
    assert_eq!(by_hand.len(), 2, "{by_hand:?}");
    assert_eq!(s.ran(), by_hand);
    let backend: Value = api
        .object("apps", "deployments", Some("todo-app"), "todo-backend")
        .expect("deployed");
    assert_eq!(
        backend["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/example/todo-backend:1.4.2"
    );
    // The last step is the one the deploy itself names for opening the app.
    assert!(
        screen.contains(&format!("`{}`", steps[open])),
        "{}\n{screen}",
        steps[open]
    );
}

#[test]
fn build_on_docker_desktop_is_docker_build_alone() {
    let sb = Sandbox::new();
    let s = Standins::new(&sb);
    let api = docker_desktop();
    let r = s.build_and_deploy(&sb, &api);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // Its Kubernetes runs what docker builds: nothing to load.
    assert_eq!(
        s.ran(),
        [
            "docker build -t ghcr.io/example/todo-backend:1.4.2 DIR/backend",
            "docker build -t ghcr.io/example/todo-frontend:1.4.2 DIR/frontend",
        ]
    );
    assert!(
        api.object("apps", "deployments", Some("todo-app"), "todo-frontend")
            .is_some()
    );
}

/// One HTTP/1.1 request to the fake registry, answered whole (status line, headers, body).
fn http(host: &str, method: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/vnd.oci.image.index.v1+json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_fake_registry_answers_manifest_heads_and_gets_as_a_registry_does() {
    let reg = FakeRegistry::open();
    reg.push("todo/backend", "1.4.2");
    let path = "/v2/todo/backend/manifests/1.4.2";
    let get = http(&reg.host, "GET", path);
    assert!(get.starts_with("HTTP/1.1 200"), "{get}");
    let (_, body) = get.split_once("\r\n\r\n").unwrap();
    let index: Value = serde_json::from_str(body).expect(body);
    assert_eq!(
        index["manifests"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
    let head = http(&reg.host, "HEAD", path);
    assert!(
        head.starts_with("HTTP/1.1 200")
            && head
                .to_lowercase()
                .contains("docker-content-digest: sha256:"),
        "{head}"
    );
    assert!(head.ends_with("\r\n\r\n"), "a HEAD has no body: {head}");
    let missing = http(&reg.host, "GET", "/v2/todo/backend/manifests/9.9.9");
    assert!(
        missing.starts_with("HTTP/1.1 404") && missing.contains("MANIFEST_UNKNOWN"),
        "{missing}"
    );
    let methods: Vec<String> = reg.journal().into_iter().map(|h| h.method).collect();
    assert_eq!(methods, ["GET", "HEAD", "GET"]);
}
