//! Scores `kubectl ai diagnose -A -o json` against the quality corpus's expected answers.
//!
//! Shared by the test suite (tests/quality.rs) and the benchmark (benches/diagnose_quality.rs), so
//! the numbers the README shows are computed by the code the tests check. The corpus is what
//! tests/fixtures/corpus/generate.py writes: healthy clusters, broken cases with an expected.json
//! each, and the expected answers of the scenarios in tests/fixtures/scenarios.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

/// An object as the expected answers and the findings name it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ObjectId {
    pub kind: String,
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectId {
    fn of(finding: &Value) -> ObjectId {
        let o = &finding["object"];
        let text = |k: &str| o[k].as_str().map(str::to_string);
        ObjectId {
            kind: text("kind").unwrap_or_default(),
            namespace: text("namespace"),
            name: text("name").unwrap_or_default(),
        }
    }

    /// A namespace left out of the expectation matches any (cluster-scoped kinds have none).
    fn matches(&self, other: &ObjectId) -> bool {
        self.kind == other.kind
            && self.name == other.name
            && (self.namespace.is_none() || self.namespace == other.namespace)
    }

    pub fn label(&self) -> String {
        format!("{}/{}", self.kind.to_lowercase(), self.name)
    }
}

/// One acceptable first finding: its object, the rules that fit, the facts it must quote.
#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    #[serde(flatten)]
    pub object: ObjectId,
    #[serde(default)]
    pub rules: Vec<String>,
    pub evidence: Vec<String>,
    /// The root cause is that this object does not exist (a Secret the pods need); checked by the
    /// corpus test, not needed for scoring.
    #[serde(default)]
    #[allow(dead_code)]
    pub absent: bool,
}

/// What expected.json says: nothing wrong, or the root cause and what may also be reported.
#[derive(Debug, Clone, Deserialize)]
pub struct Expected {
    #[serde(default)]
    pub healthy: bool,
    #[serde(default)]
    pub top: Vec<Target>,
    #[serde(default)]
    pub allowed: Vec<ObjectId>,
    #[serde(default)]
    pub harmful: Vec<String>,
}

pub struct Case {
    pub name: String,
    pub snapshot: PathBuf,
    pub expected: Expected,
}

fn read_expected(path: &Path) -> Result<Expected, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn dirs(path: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    out.sort();
    Ok(out)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every case of the corpus under the repository `root`: scenarios, broken cases, healthy clusters.
pub fn corpus(root: &Path) -> Result<Vec<Case>, String> {
    let fixtures = root.join("tests/fixtures");
    let mut cases = Vec::new();
    for file in dirs(&fixtures.join("corpus/scenarios"))? {
        let name = file_name(&file).trim_end_matches(".json").to_string();
        cases.push(Case {
            snapshot: fixtures.join("scenarios").join(&name),
            expected: read_expected(&file)?,
            name: format!("scenario/{name}"),
        });
    }
    for dir in dirs(&fixtures.join("corpus/broken"))? {
        cases.push(Case {
            name: format!("broken/{}", file_name(&dir)),
            snapshot: dir.join("snapshot"),
            expected: read_expected(&dir.join("expected.json"))?,
        });
    }
    for dir in dirs(&fixtures.join("corpus/healthy"))? {
        cases.push(Case {
            name: format!("healthy/{}", file_name(&dir)),
            snapshot: dir,
            expected: Expected {
                healthy: true,
                top: Vec::new(),
                allowed: Vec::new(),
                harmful: Vec::new(),
            },
        });
    }
    Ok(cases)
}

/// Runs the real binary on a snapshot, in an empty home so no configuration leaks in.
pub fn diagnose(bin: &Path, snapshot: &Path, home: &Path) -> Result<Value, String> {
    let out = Command::new(bin)
        .args(["diagnose", "-A", "-o", "json", "--snapshot"])
        .arg(snapshot)
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "{}: not JSON ({e}); stderr: {}",
            snapshot.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

/// How one diagnosis compares with its expected answer.
#[derive(Debug)]
pub struct Score {
    pub case: String,
    pub healthy: bool,
    /// `rule kind/name` of the first warning or error, if any.
    pub top: Option<String>,
    /// The first warning/error is on an expected root object and quotes all its evidence.
    pub top_right: bool,
    /// ... and its rule is one the expectation lists (true when it lists none).
    pub rule_right: bool,
    /// Some warning/error anywhere is on an expected root object with all its evidence.
    pub found: bool,
    pub true_alarms: usize,
    /// Warnings/errors on objects the expectation does not name.
    pub false_alarms: Vec<String>,
    /// Fix texts that give advice the expectation calls harmful.
    pub harmful: Vec<String>,
}

fn is_alarm(f: &Value) -> bool {
    matches!(f["severity"].as_str(), Some("warning" | "error"))
}

/// What a finding says: its summary and evidence lines, and those of the consequences folded into it
/// (`causes`, with the `via` that links each), since a root cause shows what it caused.
fn said(f: &Value) -> String {
    let mut text = f["summary"].as_str().unwrap_or_default().to_string();
    let lines = f["evidence"].as_array().into_iter().flatten();
    for line in lines.chain(std::iter::once(&f["via"])) {
        text.push('\n');
        text.push_str(line.as_str().unwrap_or_default());
    }
    for consequence in f["causes"].as_array().into_iter().flatten() {
        text.push('\n');
        text.push_str(&said(consequence));
    }
    text
}

fn hits(target: &Target, f: &Value) -> bool {
    let text = said(f);
    target.object.matches(&ObjectId::of(f)) && target.evidence.iter().all(|e| text.contains(e))
}

pub fn score(case: &Case, report: &Value) -> Score {
    let expected = &case.expected;
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    let alarms: Vec<&Value> = findings.iter().filter(|f| is_alarm(f)).collect();
    let expected_object = |o: &ObjectId| {
        expected.top.iter().any(|t| t.object.matches(o))
            || expected.allowed.iter().any(|a| a.matches(o))
    };
    let (true_alarms, false_alarms): (Vec<&&Value>, Vec<&&Value>) = alarms
        .iter()
        .partition(|f| expected_object(&ObjectId::of(f)));
    let harmful: Vec<String> = findings
        .iter()
        .filter_map(|f| {
            let fix = f["fix"].as_str().unwrap_or_default().to_lowercase();
            expected
                .harmful
                .iter()
                .find(|h| fix.contains(&h.to_lowercase()))
                .map(|h| format!("{} advises {h:?}", ObjectId::of(f).label()))
        })
        .collect();
    let top = alarms.first();
    let top_target = top.and_then(|f| expected.top.iter().find(|t| hits(t, f)));
    Score {
        case: case.name.clone(),
        healthy: expected.healthy,
        top: top.map(|f| {
            format!(
                "{} {}",
                f["rule"].as_str().unwrap_or("?"),
                ObjectId::of(f).label()
            )
        }),
        top_right: top_target.is_some() && harmful.is_empty(),
        rule_right: top_target.is_some_and(|t| {
            t.rules.is_empty()
                || top.is_some_and(|f| t.rules.iter().any(|r| f["rule"] == r.as_str()))
        }),
        found: alarms
            .iter()
            .any(|f| expected.top.iter().any(|t| hits(t, f))),
        true_alarms: true_alarms.len(),
        false_alarms: false_alarms
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f["rule"].as_str().unwrap_or("?"),
                    ObjectId::of(f).label()
                )
            })
            .collect(),
        harmful,
    }
}

/// The corpus-wide numbers.
#[derive(Debug, PartialEq)]
pub struct Totals {
    pub broken: usize,
    pub healthy: usize,
    pub top_right: usize,
    pub rule_right: usize,
    pub found: usize,
    pub true_alarms: usize,
    pub false_alarms: usize,
    /// False alarms on healthy clusters alone.
    pub healthy_alarms: usize,
}

impl Totals {
    pub fn of(scores: &[Score]) -> Totals {
        let broken: Vec<&Score> = scores.iter().filter(|s| !s.healthy).collect();
        Totals {
            broken: broken.len(),
            healthy: scores.len() - broken.len(),
            top_right: broken.iter().filter(|s| s.top_right).count(),
            rule_right: broken.iter().filter(|s| s.rule_right).count(),
            found: broken.iter().filter(|s| s.found).count(),
            true_alarms: scores.iter().map(|s| s.true_alarms).sum(),
            false_alarms: scores.iter().map(|s| s.false_alarms.len()).sum(),
            healthy_alarms: scores
                .iter()
                .filter(|s| s.healthy)
                .map(|s| s.false_alarms.len())
                .sum(),
        }
    }

    /// Warnings/errors on expected objects, of all warnings/errors.
    pub fn precision(&self) -> f64 {
        ratio(self.true_alarms, self.true_alarms + self.false_alarms)
    }

    /// Broken cases whose root cause is reported (anywhere, with its evidence).
    pub fn recall(&self) -> f64 {
        ratio(self.found, self.broken)
    }
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 1.0 } else { n as f64 / d as f64 }
}

fn mark(ok: bool) -> &'static str {
    if ok { "yes" } else { "**no**" }
}

/// A Markdown table, one row per case, then the totals.
pub fn table(scores: &[Score]) -> String {
    let mut out = String::from(
        "| case | first warning/error | top right | rule | found | false alarms |\n| --- | --- | --- | --- | --- | --- |\n",
    );
    for s in scores {
        let mut notes = s.false_alarms.clone();
        notes.extend(s.harmful.iter().map(|h| format!("harmful: {h}")));
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join("; "))
        };
        let (top_right, rule, found) = if s.healthy {
            ("-", "-", "-")
        } else {
            (mark(s.top_right), mark(s.rule_right), mark(s.found))
        };
        out.push_str(&format!(
            "| {} | {} | {top_right} | {rule} | {found} | {}{notes} |\n",
            s.case,
            s.top.as_deref().unwrap_or("(none)"),
            s.false_alarms.len(),
        ));
    }
    let t = Totals::of(scores);
    out.push_str(&format!(
        "\n{} broken cases, {} healthy clusters. Top finding right: {}/{}; its rule right: {}/{}. \
         Recall (root cause reported): {}/{} = {:.2}. Precision (warnings/errors on expected objects): {}/{} = {:.2}. \
         False alarms on healthy clusters: {}.\n",
        t.broken,
        t.healthy,
        t.top_right,
        t.broken,
        t.rule_right,
        t.broken,
        t.found,
        t.broken,
        t.recall(),
        t.true_alarms,
        t.true_alarms + t.false_alarms,
        t.precision(),
        t.healthy_alarms,
    ));
    out
}
