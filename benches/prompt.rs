//! Prompt size and evidence recall, per scenario, beside the naive alternative.
//!
//! Run: `cargo bench --bench prompt`. For each scenario in tests/fixtures/scenarios it asks the
//! question a user would, builds exactly the prompt `kubectl ai "question"` sends (default budget,
//! the tools it would offer counted as providers count them), and reports its tokens, the part of
//! them that is evidence, and whether every key fact (the reason, exit code, message or log line a
//! human would cite, verbatim from the cluster) is inside it. The naive alternative is what a person
//! would paste: the real `kubectl describe` of the affected objects and pods plus the pods' full logs
//! (current and previous), taken with kubectl against the fake API server serving the same scenario.
//!
//! Scenario logs are short; a second pass puts 2,000 ordinary log lines before each container's
//! failure, as a service that ran for a while has, for both sides alike.

#[path = "../tests/support/fake_api.rs"]
mod fake_api;
#[path = "../tests/support/server.rs"]
mod server;

use std::path::{Path, PathBuf};
use std::process::Command;

use fake_api::FakeApi;
use kubectl_ai::testing::{
    CLOSE, Context, DEFAULT_MAX_CONTEXT_TOKENS, Grounding, Intent, OPEN, ObjectRef,
    QUESTION_PROMPT, Root, SYSTEM_PROMPT, Tail, count_tokens, dump_block, objects_named,
    parse_dump, snapshot, tools,
};

/// (scenario, namespace, question, verbatim facts a human would cite)
const CASES: &[(&str, &str, &str, &[&str])] = &[
    (
        "crash-loop",
        "todo-app",
        "why is the backend crashlooping",
        &[
            "CrashLoopBackOff",
            "exit code 1",
            "port 5432 failed: Connection refused",
        ],
    ),
    (
        "oom-killed",
        "shop",
        "why does order-worker keep restarting",
        &["OOMKilled", "137", "128Mi"],
    ),
    (
        "image-pull",
        "todo-app",
        "why is the frontend not starting",
        &["ImagePullBackOff", "todo-frontend:1.5.0-rc1: not found"],
    ),
    (
        "config-error",
        "todo-app",
        "why won't the backend and frontend start",
        &[
            "couldn't find key DATABASE_URL in Secret todo-app/todo-db",
            "configmap \"frontend-config\" not found",
        ],
    ),
    (
        "unschedulable",
        "analytics",
        "why are the reporting pods pending",
        &["Insufficient memory", "12Gi"],
    ),
    (
        "pvc-unbound",
        "todo-app",
        "why is postgres pending",
        &["no persistent volumes available for this claim and no storage class is set"],
    ),
    (
        "probe-port",
        "todo-app",
        "why does the backend get no traffic",
        &["8080", "connect: connection refused"],
    ),
    (
        "liveness-slow-start",
        "todo-app",
        "why does the backend keep restarting",
        &[
            "Liveness probe failed",
            "Applying migration 0007_add_tags_index",
        ],
    ),
    (
        "init-failing",
        "todo-app",
        "why is the backend stuck initializing",
        &["relation \"ix_todos_tags\" already exists"],
    ),
    (
        "evicted",
        "shop",
        "why were catalog-api pods evicted",
        &["The node was low on resource: memory"],
    ),
    (
        "node-not-ready",
        "todo-app",
        "what is wrong with node minikube-m02",
        &["Kubelet stopped posting node status."],
    ),
    (
        "service-selector",
        "todo-app",
        "why does the backend service route nowhere",
        &["app=backend", "app=todo-backend"],
    ),
    (
        "ingress-broken",
        "todo-app",
        "why is the todo ingress not working",
        &["todo-web"],
    ),
    (
        "hpa-no-metrics",
        "todo-app",
        "why does the todo-backend autoscaler not scale",
        &["FailedGetResourceMetric"],
    ),
    (
        "rollout-stuck",
        "todo-app",
        "why is the frontend rollout stuck",
        &["ProgressDeadlineExceeded"],
    ),
    (
        "job-failed",
        "todo-app",
        "why did the db-seed job fail",
        &["BackoffLimitExceeded", "KeyError: 'SEED_USER_EMAIL'"],
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Row {
    prompt: usize,
    /// The part of `prompt` between the data fences: what the naive alternative stands for.
    evidence: usize,
    naive: Option<usize>,
    found: usize,
    facts: usize,
}

fn main() {
    let kubectl = root().join(".tools/bin/kubectl");
    let kubectl = kubectl.is_file().then_some(kubectl);
    if kubectl.is_none() {
        println!("(naive sizes skipped: run `bash .ci/install-tools` to get kubectl)");
    }
    let work = tempfile::tempdir().expect("tempdir");
    for padded in [false, true] {
        println!(
            "\n{}",
            if padded {
                "With 2,000 ordinary log lines before each failure:"
            } else {
                "Scenario logs as they are:"
            }
        );
        println!(
            "{:<22} {:>8} {:>9} {:>8} {:>7} {:>8}",
            "scenario", "prompt", "evidence", "naive", "ratio", "recall"
        );
        let mut rows = Vec::new();
        for (name, ns, question, facts) in CASES {
            let mut dir = root().join("tests/fixtures/scenarios").join(name);
            if padded {
                dir = pad_logs(&dir, &work.path().join(name), 2000);
            }
            let row = measure(&dir, ns, question, facts, kubectl.as_deref(), work.path());
            println!(
                "{:<22} {:>8} {:>9} {:>8} {:>7} {:>5}/{}",
                name,
                row.prompt,
                row.evidence,
                row.naive.map_or("-".into(), |n| n.to_string()),
                row.naive.map_or("-".into(), |n| format!(
                    "{:.2}",
                    row.prompt as f64 / n as f64
                )),
                row.found,
                row.facts
            );
            rows.push(row);
        }
        let found: usize = rows.iter().map(|r| r.found).sum();
        let facts: usize = rows.iter().map(|r| r.facts).sum();
        let median = |mut v: Vec<f64>| {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            v.get(v.len() / 2).copied().unwrap_or(0.0)
        };
        let prompt_median = median(rows.iter().map(|r| r.prompt as f64).collect());
        let naive: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.naive.map(|n| n as f64))
            .collect();
        let ratios: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.naive.map(|n| r.prompt as f64 / n as f64))
            .collect();
        let within = ratios.iter().filter(|r| **r <= 0.2).count();
        println!(
            "evidence recall {found}/{facts} ({:.0}%); median prompt {prompt_median:.0} tokens, of which evidence {:.0}{}",
            100.0 * found as f64 / facts as f64,
            median(rows.iter().map(|r| r.evidence as f64).collect()),
            if naive.is_empty() {
                String::new()
            } else {
                format!(
                    "; median naive {:.0} tokens; median ratio {:.2}; {within} of {} scenarios at a fifth or less (target: all facts, median ratio <= 0.20: {})",
                    median(naive),
                    median(ratios.clone()),
                    ratios.len(),
                    if found == facts && median(ratios) <= 0.2 {
                        "met"
                    } else {
                        "not met"
                    }
                )
            }
        );
    }
}

fn measure(
    dir: &Path,
    ns: &str,
    question: &str,
    facts: &[&str],
    kubectl: Option<&Path>,
    work: &Path,
) -> Row {
    let ctx = snapshot::load(&Root::Dir(dir.to_path_buf()), None, Tail::default())
        .expect("scenario loads");
    // Exactly what `ask` sends: the tool definitions offered beside the prompt count too.
    let offered = tools::definitions(Intent::of(question).asks_for_change());
    let grounding =
        Grounding::new(&ctx, question, SYSTEM_PROMPT, QUESTION_PROMPT).offering(offered);
    let (prompt, _) = grounding
        .prompt(DEFAULT_MAX_CONTEXT_TOKENS)
        .expect("prompt fits");
    let text = format!("{}\n{}", prompt.system, prompt.user);
    let evidence = prompt
        .user
        .split_once(OPEN)
        .and_then(|(_, rest)| rest.split_once(CLOSE))
        .map_or(0, |(data, _)| count_tokens(data));
    let found = facts.iter().filter(|f| text.contains(**f)).count();
    for f in facts.iter().filter(|f| !text.contains(**f)) {
        eprintln!("  missing from the prompt: {f:?}");
    }
    let naive =
        kubectl.map(|k| naive_tokens(k, dir, ns, &affected(&ctx, question, &grounding), work));
    Row {
        prompt: prompt.tokens,
        evidence,
        naive,
        found,
        facts: facts.len(),
    }
}

/// What a person would look at: the objects the question names and those the relevant findings
/// name, and the pods of both.
fn affected(
    ctx: &Context,
    question: &str,
    grounding: &Grounding,
) -> (Vec<ObjectRef>, Vec<ObjectRef>) {
    let named = objects_named(ctx, question);
    let mut objects: Vec<ObjectRef> = named.iter().cloned().collect();
    let mut pods: Vec<ObjectRef> = Vec::new();
    for f in &grounding.relevant {
        objects.push(f.object.clone());
        for p in &f.pods {
            let ns = f.object.namespace.as_deref();
            pods.push(ObjectRef::new("Pod", ns, p));
        }
    }
    for p in &ctx.pods {
        if named.contains(&ctx.owner_of(p)) {
            pods.push(ObjectRef::of("Pod", &p.metadata));
        }
    }
    for list in [&mut objects, &mut pods] {
        let mut seen = std::collections::BTreeSet::new();
        list.retain(|o| seen.insert(o.clone()));
    }
    objects.retain(|o| o.kind != "Pod");
    (objects, pods)
}

/// The naive alternative as the issue defines it: `kubectl describe` of the affected objects and
/// pods, plus the full current and previous logs of those pods.
fn naive_tokens(
    kubectl: &Path,
    dir: &Path,
    ns: &str,
    (objects, pods): &(Vec<ObjectRef>, Vec<ObjectRef>),
    work: &Path,
) -> usize {
    let api = FakeApi::start(dir);
    let kubeconfig = api.write_kubeconfig(work, ns);
    let run = |args: &[&str]| -> String {
        let out = Command::new(kubectl)
            .args(args)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .env("HOME", work)
            .output()
            .expect("kubectl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut text = String::new();
    for o in objects {
        let obj_ns = o.namespace.as_deref().unwrap_or(ns);
        text.push_str(&run(&[
            "describe",
            &o.kind.to_lowercase(),
            &o.name,
            "-n",
            obj_ns,
        ]));
    }
    for pod in pods {
        let pod_ns = pod.namespace.as_deref().unwrap_or(ns);
        text.push_str(&run(&["describe", "pod", &pod.name, "-n", pod_ns]));
        for previous in [false, true] {
            let mut args = vec!["logs", &pod.name, "-n", pod_ns, "--all-containers"];
            if previous {
                args.push("--previous");
            }
            text.push_str(&run(&args));
        }
    }
    count_tokens(&text)
}

/// A copy of a scenario whose every log block starts with `lines` ordinary access-log lines.
fn pad_logs(src: &Path, dest: &Path, lines: usize) -> PathBuf {
    let _ = std::fs::remove_dir_all(dest);
    assert!(
        Command::new("cp")
            .arg("-r")
            .arg(src)
            .arg(dest)
            .status()
            .unwrap()
            .success()
    );
    let filler: String = (0..lines)
        .map(|i| {
            format!(
                "INFO:     10.244.0.1:{} - \"GET /api/todos?page={} HTTP/1.1\" 200 OK\n",
                40000 + i % 20000,
                i % 50
            )
        })
        .collect();
    for ns in std::fs::read_dir(dest)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
    {
        for pod in std::fs::read_dir(ns.path())
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
        {
            for file in ["logs.txt", "previous-logs.txt"] {
                let path = pod.path().join(file);
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let ns_name = ns.file_name().into_string().unwrap();
                let pod_name = pod.file_name().into_string().unwrap();
                let padded: String = parse_dump(&text)
                    .into_iter()
                    .map(|(c, body)| {
                        dump_block(&ns_name, &pod_name, &c, &format!("{filler}{body}"))
                    })
                    .collect();
                std::fs::write(&path, padded).unwrap();
            }
        }
    }
    dest.to_path_buf()
}
