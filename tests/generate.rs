//! Manifests from words, with the fake LLM scripting the proposals and the fake API server serving
//! its OpenAPI schema: valid proposals reach the plan, invalid ones are repaired from the validation
//! errors or refused, the schema is fetched once per cluster version, and files are edited in place.

use std::process::Command as StdCommand;

use serde_json::{Value, json};

use crate::support::fake_api::FakeApi;
use crate::support::fake_llm::{FakeLlm, Reply};
use crate::support::{Outcome, Run, Sandbox};
use kubectl_ai::testing::kinds;

fn cluster() -> FakeApi {
    let api = FakeApi::empty();
    api.insert(
        &kinds::NAMESPACES,
        vec![json!({"metadata": {"name": "shop", "labels": {"kubernetes.io/metadata.name": "shop"}}})],
    );
    api.insert(
        &kinds::STORAGE_CLASSES,
        vec![json!({"metadata": {"name": "standard"}, "provisioner": "x"})],
    );
    api
}

fn redis(replicas: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "redis", "labels": {"app": "redis"}},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "redis"}},
                    "template": {"metadata": {"labels": {"app": "redis"}},
                                 "spec": {"containers": [{"name": "redis", "image": "redis:7.4.1",
                                          "ports": [{"containerPort": 6379}],
                                          "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}}]}}}})
}

fn service() -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "redis"},
           "spec": {"selector": {"app": "redis"}, "ports": [{"port": 6379, "targetPort": 6379}]}})
}

fn proposal(objects: Vec<Value>) -> Vec<Reply> {
    vec![
        Reply::ToolCall {
            name: "propose_manifests".into(),
            arguments: json!({"objects": objects}).to_string(),
        },
        Reply::Text("Proposed a redis Deployment and Service.".into()),
    ]
}

/// The binary against the fake cluster (namespace shop) and the fake LLM.
fn with_llm(sb: &Sandbox, api: &FakeApi, llm: &FakeLlm) -> Run {
    let mut run = sb.against(api, "shop");
    run.env("OPENAI_BASE_URL", &llm.url)
        .env("OPENAI_API_KEY", "sk-test-key-0123456789")
        .env("XDG_CACHE_HOME", sb.path().join("cache"));
    run
}

const ASK: &str = "create a redis deployment with 3 replicas and a service";

#[test]
fn a_valid_proposal_is_validated_dry_run_shown_and_applied_with_consent() {
    let sb = Sandbox::new();
    let api = cluster();
    let llm = FakeLlm::start(proposal(vec![redis(json!(3)), service()]));
    let r = with_llm(&sb, &api, &llm).args([ASK, "--yes"]).run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let deploy = api
        .object("apps", "deployments", Some("shop"), "redis")
        .expect("applied");
    assert_eq!(deploy["spec"]["replicas"], 3);
    assert!(api.object("", "services", Some("shop"), "redis").is_some());
    // The diff was shown, and the recommendation rules spoke about what the model wrote.
    assert!(
        r.stdout.contains("+++ proposed deployment/redis -n shop"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("Recommendations for the proposed objects"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("[readiness-probe-missing]"),
        "{}",
        r.stdout
    );
    // The prompt carried the namespace and what the cluster offers.
    let sent = llm.requests()[0].text();
    assert!(
        sent.contains(ASK)
            && sent.contains("Namespace: shop")
            && sent.contains("StorageClasses: standard"),
        "{sent}"
    );
    // Schema fetched, then a dry run, then the real apply.
    let journal = api.journal();
    let at = |pred: &dyn Fn(&crate::support::fake_api::Recorded) -> bool| {
        journal.iter().position(pred).unwrap()
    };
    let schema = at(&|j| j.path == "/openapi/v3/apis/apps/v1");
    let dry = at(&|j| j.method == "PATCH" && j.query.contains("dryRun=All"));
    let real = at(&|j| j.method == "PATCH" && !j.query.contains("dryRun"));
    assert!(schema < dry && dry < real);
}

#[test]
fn unknown_fields_and_wrong_types_are_repaired_from_the_errors() {
    for (broken, error) in [
        (
            {
                let mut d = redis(json!(3));
                d["spec"]["replica"] = json!(3);
                d
            },
            "deployment/redis: unknown field \"spec.replica\"",
        ),
        (
            redis(json!("three")),
            "spec.replicas: expected integer, got string",
        ),
    ] {
        let sb = Sandbox::new();
        let api = cluster();
        let mut replies = proposal(vec![broken, service()]);
        replies.extend(proposal(vec![redis(json!(3)), service()]));
        let llm = FakeLlm::start(replies);
        let r = with_llm(&sb, &api, &llm).args([ASK, "-o", "yaml"]).run();
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let requests = llm.requests();
        assert_eq!(requests.len(), 4, "one repair round");
        let repair = requests[2].text();
        assert!(
            repair.contains(error),
            "the error went back to the model:\n{repair}"
        );
        // -o yaml prints the validated manifests only, and nothing is applied.
        assert!(api.real_mutations().is_empty());
        let file = sb.path().join("out.yaml");
        std::fs::write(&file, &r.stdout).unwrap();
        let validate = StdCommand::new("python3")
            .args(["-m", "kubernetes_validate", "--strict", "-k", "1.33.0"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            validate.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&validate.stdout),
            r.stdout
        );
    }
}

#[test]
fn a_proposal_that_stays_invalid_ends_with_the_error_and_no_change() {
    let sb = Sandbox::new();
    let api = cluster();
    let mut bad = redis(json!(3));
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!(["Always"]);
    let replies: Vec<Reply> = (0..3).flat_map(|_| proposal(vec![bad.clone()])).collect();
    let llm = FakeLlm::start(replies);
    let r = with_llm(&sb, &api, &llm).args([ASK, "--yes"]).run();
    assert_eq!(r.code, 5, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("still invalid after 2 repair rounds"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("imagePullPolicy: expected string"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1);
    assert_eq!(llm.requests().len(), 6);
    assert!(api.real_mutations().is_empty());
}

#[test]
fn the_schema_is_fetched_once_per_cluster_version() {
    let sb = Sandbox::new();
    let api = cluster();
    let mut replies = proposal(vec![redis(json!(3))]);
    replies.extend(proposal(vec![redis(json!(2))]));
    let llm = FakeLlm::start(replies);
    assert_eq!(
        with_llm(&sb, &api, &llm)
            .args([ASK, "-o", "yaml"])
            .run()
            .code,
        0
    );
    let fetches = |api: &FakeApi| {
        api.journal()
            .iter()
            .filter(|j| j.path.starts_with("/openapi/"))
            .count()
    };
    assert_eq!(fetches(&api), 2, "the index and apps/v1");
    api.reset_journal();
    assert_eq!(
        with_llm(&sb, &api, &llm)
            .args([ASK, "-o", "yaml"])
            .run()
            .code,
        0
    );
    assert_eq!(fetches(&api), 0, "the second run reads the cache");
    assert!(sb.path().join("cache/kubectl-ai/openapi").is_dir());
}

#[test]
fn files_are_edited_in_place_keeping_what_did_not_change() {
    let sb = Sandbox::new();
    let api = cluster();
    let file = sb.path().join("redis.yaml");
    let service_doc = "# the service, as I wrote it\napiVersion: v1\nkind: Service\nmetadata: {name: redis}   # keep\nspec: {selector: {app: redis}, ports: [{port: 6379, targetPort: 6379}]}\n";
    let original = format!(
        "{}---\n{service_doc}",
        serde_saphyr::to_string(&redis(json!(3))).unwrap()
    );
    std::fs::write(&file, &original).unwrap();
    let mut edited = redis(json!(3));
    edited["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] =
        json!({"tcpSocket": {"port": 6379}});
    let llm = FakeLlm::start(proposal(vec![edited, service()]));
    let r = with_llm(&sb, &api, &llm)
        .args([
            "-f",
            file.to_str().unwrap(),
            "add a readiness probe",
            "--write",
        ])
        .run();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let after = std::fs::read_to_string(&file).unwrap();
    assert!(after.contains("readinessProbe"), "{after}");
    assert!(
        after.ends_with(service_doc),
        "the untouched document is byte-identical:\n{after}"
    );
    assert!(
        !after.contains("namespace: shop"),
        "no namespace added to a file that had none:\n{after}"
    );
    assert!(
        llm.requests()[0].text().contains("Manifest file"),
        "the file was in the prompt"
    );
    assert!(
        api.real_mutations().is_empty(),
        "editing files changes no cluster"
    );
}

#[test]
fn on_a_terminal_the_user_can_cancel_after_seeing_the_proposal() {
    let sb = Sandbox::new();
    let api = cluster();
    let llm = FakeLlm::start(proposal(vec![redis(json!(3)), service()]));
    // Five choices (the proposal has recommendations, so "let the LLM fix" is offered); the last
    // is cancel: four times down, then Enter.
    let Outcome {
        code,
        stdout: screen,
        ..
    } = with_llm(&sb, &api, &llm)
        .arg(ASK)
        .on_a_terminal()
        .type_after("What next?", "\x1b[B\x1b[B\x1b[B\x1b[B\r")
        .run();
    assert!(
        screen.contains("let the LLM fix the recommendations"),
        "{screen}"
    );
    assert!(screen.contains("Nothing was changed."), "{screen}");
    assert_eq!(code, 5, "{screen}");
    assert!(api.real_mutations().is_empty());
}
