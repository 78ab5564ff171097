//! The quality corpus (tests/fixtures/corpus): realistic healthy clusters give no warning or error,
//! from a snapshot and live; every expected answer names objects its snapshot holds; the scoring the
//! benchmark (benches/diagnose_quality.rs) prints judges what the binary says.

mod score;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::fake_api::FakeApi;
use crate::support::{Sandbox, root};
use kubectl_ai::testing::kinds;
use score::{Case, Score, Totals};

fn cases() -> Vec<Case> {
    score::corpus(&root()).expect("the corpus reads")
}

fn alarms(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| matches!(f["severity"].as_str(), Some("warning" | "error")))
        .map(|f| {
            format!(
                "{} {} {}: {}",
                f["severity"], f["rule"], f["object"], f["summary"]
            )
        })
        .collect()
}

#[test]
fn corpus_matches_its_generator() {
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("python3")
        .arg(root().join("tests/fixtures/corpus/generate.py"))
        .arg(out.path())
        .status()
        .expect("python3 runs the generator");
    assert!(status.success());
    for sub in ["healthy", "broken", "scenarios"] {
        let path = format!("tests/fixtures/corpus/{sub}");
        let diff = std::process::Command::new("diff")
            .args(["-r", "-q"])
            .arg(root().join(&path))
            .arg(out.path().join(&path))
            .output()
            .unwrap();
        assert!(
            diff.status.success(),
            "{path} differs from the generator's output; run python3 tests/fixtures/corpus/generate.py\n{}",
            String::from_utf8_lossy(&diff.stdout)
        );
    }
}

/// Whether the snapshot holds the object, in the file `kubectl cluster-info dump` puts its kind in.
fn holds(snapshot: &Path, object: &score::ObjectId) -> bool {
    let Some(kind) = kinds::ALL.iter().find(|k| k.kind == object.kind) else {
        return false;
    };
    let file = match (&object.namespace, kind.namespaced) {
        (Some(ns), true) => snapshot.join(ns).join(kind.file),
        (None, false) => snapshot.join(kind.file),
        _ => return false,
    };
    let Ok(text) = std::fs::read_to_string(&file) else {
        return false;
    };
    let list: Value = serde_json::from_str(&text).unwrap_or_default();
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|item| item["metadata"]["name"] == object.name.as_str())
}

#[test]
fn expected_answers_name_objects_their_snapshots_hold() {
    let cases = cases();
    let broken: Vec<&Case> = cases.iter().filter(|c| !c.expected.healthy).collect();
    assert!(broken.len() >= 40, "only {} broken cases", broken.len());
    let scenarios = crate::support::scenarios();
    for name in &scenarios {
        assert!(
            cases.iter().any(|c| c.name == format!("scenario/{name}")),
            "scenario {name} has no expected answer in tests/fixtures/corpus/scenarios"
        );
    }
    for case in broken {
        assert!(case.snapshot.is_dir(), "{}: no snapshot", case.name);
        assert!(
            !case.expected.top.is_empty(),
            "{}: no expected root cause",
            case.name
        );
        for target in &case.expected.top {
            assert!(
                !target.evidence.is_empty(),
                "{}: a root cause without evidence",
                case.name
            );
            assert_eq!(
                holds(&case.snapshot, &target.object),
                !target.absent,
                "{}: {:?} is expected {}",
                case.name,
                target.object,
                if target.absent {
                    "absent"
                } else {
                    "in the snapshot"
                }
            );
        }
        for object in &case.expected.allowed {
            assert!(
                holds(&case.snapshot, object),
                "{}: the snapshot has no {object:?}",
                case.name
            );
        }
    }
}

fn healthy_clusters() -> Vec<PathBuf> {
    let dirs: Vec<PathBuf> = cases()
        .into_iter()
        .filter(|c| c.expected.healthy)
        .map(|c| c.snapshot)
        .collect();
    assert!(dirs.len() >= 5, "the corpus lost its healthy clusters");
    dirs
}

fn snapshot_report(sb: &Sandbox, dir: &Path) -> Value {
    sb.kubectl_ai()
        .args(["diagnose", "-A", "-o", "json", "--snapshot"])
        .arg(dir)
        .json()
}

#[test]
fn healthy_clusters_have_no_warning_or_error_from_a_snapshot() {
    let sb = Sandbox::new();
    let mut noisy = Vec::new();
    for dir in healthy_clusters() {
        let report = snapshot_report(&sb, &dir);
        assert!(
            report["summary"]["podsChecked"].as_u64().unwrap_or(0) >= 3,
            "{}: pods were not read: {}",
            dir.display(),
            report["summary"]
        );
        noisy.extend(
            alarms(&report)
                .into_iter()
                .map(|a| format!("{}: {a}", dir.display())),
        );
    }
    assert!(
        noisy.is_empty(),
        "false alarms on healthy clusters:\n{}",
        noisy.join("\n")
    );
}

#[test]
fn healthy_clusters_have_no_warning_or_error_live() {
    let sb = Sandbox::new();
    let mut noisy = Vec::new();
    for dir in healthy_clusters() {
        let api = FakeApi::start(&dir);
        let report = sb
            .against(&api, "default")
            .args(["diagnose", "-A", "-o", "json"])
            .json();
        assert!(
            report["summary"]["podsChecked"].as_u64().unwrap_or(0) >= 3,
            "{}: pods were not read live: {}",
            dir.display(),
            report["summary"]
        );
        assert_eq!(
            report["findings"],
            snapshot_report(&sb, &dir)["findings"],
            "{}: live and snapshot disagree",
            dir.display()
        );
        assert_eq!(api.mutations().len(), 0, "diagnosis must never write");
        noisy.extend(
            alarms(&report)
                .into_iter()
                .map(|a| format!("{}: {a}", dir.display())),
        );
    }
    assert!(
        noisy.is_empty(),
        "false alarms on healthy clusters, live:\n{}",
        noisy.join("\n")
    );
}

#[test]
fn broken_cases_give_the_same_findings_live() {
    let sb = Sandbox::new();
    let mut disagree = Vec::new();
    for case in cases().iter().filter(|c| c.name.starts_with("broken/")) {
        let api = FakeApi::start(&case.snapshot);
        let live = sb
            .against(&api, "default")
            .args(["diagnose", "-A", "-o", "json"])
            .json();
        let snap = snapshot_report(&sb, &case.snapshot);
        assert_eq!(
            live["summary"]["podsChecked"], snap["summary"]["podsChecked"],
            "{}",
            case.name
        );
        if live["findings"] != snap["findings"] {
            disagree.push(format!(
                "{}:\n  live:     {:?}\n  snapshot: {:?}",
                case.name,
                alarms(&live),
                alarms(&snap)
            ));
        }
    }
    assert!(
        disagree.is_empty(),
        "live and snapshot disagree:\n{}",
        disagree.join("\n")
    );
}

fn finding(
    object: &score::ObjectId,
    rule: &str,
    severity: &str,
    evidence: &[String],
    fix: &str,
) -> Value {
    json!({"rule": rule, "severity": severity, "summary": "s", "evidence": evidence, "fix": fix,
           "object": {"kind": object.kind, "namespace": object.namespace, "name": object.name}})
}

fn scored(case: &Case, findings: Vec<Value>) -> Score {
    score::score(case, &json!({ "findings": findings }))
}

#[test]
fn scoring_judges_reports_built_from_the_expected_answers() {
    let cases = cases();
    let elsewhere = score::ObjectId {
        kind: "Pod".into(),
        namespace: Some("nowhere".into()),
        name: "unrelated".into(),
    };
    let mut right = Vec::new();
    for case in cases.iter().filter(|c| !c.expected.healthy) {
        let t = &case.expected.top[0];
        let rule = t.rules.first().map_or("some-rule", String::as_str);
        let good = finding(&t.object, rule, "error", &t.evidence, "Fix the cause.");
        let s = scored(case, vec![good.clone()]);
        assert!(
            s.top_right && s.rule_right && s.found && s.false_alarms.is_empty(),
            "{}: {s:?}",
            case.name
        );
        right.push(s);

        let s = scored(
            case,
            vec![
                finding(&elsewhere, rule, "warning", &t.evidence, "x"),
                good.clone(),
            ],
        );
        assert!(
            !s.top_right && s.found && s.false_alarms.len() == 1,
            "{}: {s:?}",
            case.name
        );

        let s = scored(case, vec![finding(&t.object, rule, "error", &[], "x")]);
        assert!(
            !s.top_right && !s.found && s.true_alarms == 1,
            "{}: evidence missing: {s:?}",
            case.name
        );

        // Evidence shown through a consequence folded into the root finding counts.
        let mut root = finding(&t.object, rule, "error", &[], "x");
        root["causes"] = json!([finding(&elsewhere, "r", "warning", &t.evidence, "x")]);
        let s = scored(case, vec![root]);
        assert!(
            s.top_right && s.false_alarms.is_empty(),
            "{}: {s:?}",
            case.name
        );

        let s = scored(
            case,
            vec![finding(&t.object, rule, "info", &t.evidence, "x")],
        );
        assert!(
            s.top.is_none() && !s.found,
            "{}: an info is no answer: {s:?}",
            case.name
        );

        if !t.rules.is_empty() {
            let s = scored(
                case,
                vec![finding(
                    &t.object,
                    "another-rule",
                    "error",
                    &t.evidence,
                    "x",
                )],
            );
            assert!(s.top_right && !s.rule_right, "{}: {s:?}", case.name);
        }
        if let Some(h) = case.expected.harmful.first() {
            let s = scored(
                case,
                vec![finding(
                    &t.object,
                    rule,
                    "error",
                    &t.evidence,
                    &format!("Add a {h}."),
                )],
            );
            assert!(
                !s.top_right && s.harmful.len() == 1,
                "{}: harmful advice passed: {s:?}",
                case.name
            );
        }
    }
    for case in cases.iter().filter(|c| c.expected.healthy) {
        let s = scored(case, vec![finding(&elsewhere, "r", "warning", &[], "x")]);
        assert_eq!(s.false_alarms.len(), 1, "{}", case.name);
        right.push(s);
    }
    let t = Totals::of(&right);
    assert_eq!(
        (t.top_right, t.found, t.rule_right),
        (t.broken, t.broken, t.broken)
    );
    assert_eq!(t.healthy_alarms, t.healthy);
    assert_eq!(t.recall(), 1.0);
    assert!(t.precision() < 1.0);
}

#[test]
fn the_benchmark_scores_every_case_of_the_corpus() {
    let sb = Sandbox::new();
    let bin = assert_cmd::cargo::cargo_bin("kubectl-ai");
    let cases = cases();
    let mut scores = Vec::new();
    let mut alarm_count = 0;
    for case in &cases {
        let report = score::diagnose(&bin, &case.snapshot, sb.path()).unwrap();
        assert!(
            report["summary"]["podsChecked"].as_u64().is_some(),
            "{}: no diagnosis: {report}",
            case.name
        );
        alarm_count += alarms(&report).len();
        scores.push(score::score(case, &report));
    }
    let table = score::table(&scores);
    println!("{table}");
    for case in &cases {
        assert!(
            table.contains(&format!("| {} |", case.name)),
            "{} has no row",
            case.name
        );
    }
    let t = Totals::of(&scores);
    assert_eq!(t.broken + t.healthy, cases.len());
    assert_eq!(
        t.true_alarms + t.false_alarms,
        alarm_count,
        "every warning/error is counted once"
    );
    assert!(t.found >= t.top_right && t.found >= t.rule_right);
    assert!((0.0..=1.0).contains(&t.precision()) && (0.0..=1.0).contains(&t.recall()));
}
