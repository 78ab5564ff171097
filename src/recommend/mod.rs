//! Best-practice checks for pipelines and people (the command is [`crate::commands::recommend`]).
//!
//! Inputs become one [`inventory::Inventory`] (manifests need no cluster; a cluster adds pod
//! states and usage), [`rules`] turn it into recommendations, suppressions drop what the user has
//! accepted, and [`output`] writes text, JSON/YAML, SARIF or GitHub annotations. The exit code
//! answers one question a pipeline asks: did anything reach `--fail-on`? Fixes go through the plan
//! pipeline for a cluster, or through [`write`] into the manifest files.

pub(crate) mod inventory;
mod lines;
pub(crate) mod output;
pub(crate) mod policy;
pub(crate) mod rules;
pub(crate) mod schema;
pub(crate) mod sizing;
pub(crate) mod tree;
pub(crate) mod usage;
pub(crate) mod validate;
pub(crate) mod write;

use crate::analyze::Severity;
use rules::Recommendation;

/// The annotation that silences rules on one object.
pub(crate) const IGNORE_ANNOTATION: &str = "kubectl-ai.io/ignore";

/// The system prompt for `--explain`.
pub(crate) const EXPLAIN_PROMPT: &str = include_str!("../../prompts/recommend.md");

/// The severity threshold of `recommend --fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
    /// Always exit 0 when the checks ran
    Never,
}

/// Which schemas `recommend -f` validates manifests against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Validate {
    /// The Kubernetes JSON schemas bundled with kubectl-ai, for --kubernetes-version
    Bundled,
    /// The OpenAPI schema the current cluster publishes
    Cluster,
    /// No schema validation
    None,
}

/// What ran and what it found, for every output format.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub source: String,
    pub recommendations: Vec<Recommendation>,
    pub suppressed: usize,
    pub fail_on: FailOn,
    pub explanation: Option<String>,
}

impl Outcome {
    /// Whether anything reaches the threshold.
    pub(crate) fn fails(&self) -> bool {
        let threshold = match self.fail_on {
            FailOn::Never => return false,
            FailOn::Info => Severity::Info,
            FailOn::Warning => Severity::Warning,
            FailOn::Error => Severity::Error,
        };
        self.recommendations.iter().any(|r| r.severity >= threshold)
    }
}

/// One action per object: the fixes for the same object merged into one apply, so the diff shows
/// the object's whole change once and it is applied (and undone) as a unit.
pub(crate) fn plan_of(recs: &[Recommendation]) -> Vec<crate::plan::Action> {
    let mut actions: Vec<crate::plan::Action> = Vec::new();
    for r in recs {
        let Some(fix) = &r.fix else { continue };
        let why = format!("[{}] {}", r.rule, r.message);
        let patch = fix.patch.to_value();
        let same = |a: &&mut crate::plan::Action| {
            let target = patch.get("kind").and_then(|k| k.as_str()) == Some(a.target.kind.as_str())
                && patch.pointer("/metadata/name").and_then(|n| n.as_str())
                    == Some(a.target.name.as_str());
            target && matches!(a.change, crate::plan::Change::Apply(_))
        };
        if let Some(existing) = actions.iter_mut().find(same) {
            if let crate::plan::Change::Apply(v) = &mut existing.change {
                write::merge(v, &patch);
            }
            existing.summary = format!("{}; {}", existing.summary, fix.summary);
            existing.why = format!("{}; {why}", existing.why);
            continue;
        }
        if let Some(mut a) = crate::plan::Action::apply_manifest(patch, why) {
            a.summary = fix.summary.clone();
            actions.push(a);
        }
    }
    actions
}
