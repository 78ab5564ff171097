//! The pipeline in two halves, for callers whose consent comes later and from elsewhere (an
//! assistant over MCP): [`propose`] runs every check up to the diff and keeps what it validated;
//! [`apply`] applies exactly that, and only while the live objects are still as they were.

use serde_json::{Value, json};

use super::execute::{self, Options, Step};
use super::{Plan, justify, policy};
use crate::cluster::live::Cluster;
use crate::context::Scope;
use crate::error::Error;

/// A plan that passed policy, the access reviews and the server's dry run, not yet applied.
pub(crate) struct Proposed {
    steps: Vec<Step>,
    /// What each step needs from RBAC, as reviewed.
    verbs: Vec<&'static [&'static str]>,
    /// The steps that destroy something the model proposed (a deletion, a scale to zero).
    destructive: Vec<String>,
}

/// Policy, the model's justification, reads, access reviews, dry runs and diffs; nothing is sent
/// for real. A refusal at any stage is the error, in the CLI's words.
pub(crate) async fn propose(
    cluster: &Cluster,
    scope: &Scope,
    plan: Plan,
) -> Result<Proposed, Error> {
    let plan = plan.ordered();
    let mut refusals = policy::check(&plan, scope, false);
    refusals.extend(justify::refusals(&plan));
    if !refusals.is_empty() {
        return Err(Error::PlanRefused(refusals.join("; ")));
    }
    let destructive = justify::needing_consent(&plan)
        .iter()
        .map(|a| format!("{}: {}", a.target, a.summary))
        .collect();
    let steps = execute::prepare(cluster, plan).await?;
    let verbs = steps
        .iter()
        .map(|s| execute::verbs(&s.action, s.live.is_some()))
        .collect();
    Ok(Proposed {
        steps,
        verbs,
        destructive,
    })
}

impl Proposed {
    /// What was validated, as data: each change with its diff and the RBAC verbs reviewed.
    pub(crate) fn report(&self) -> Value {
        let actions: Vec<Value> = self
            .steps
            .iter()
            .zip(&self.verbs)
            .map(|(s, verbs)| {
                json!({
                    "summary": s.action.summary, "why": s.action.why, "object": s.action.target,
                    "change": execute::printable(&s.action.change), "diff": s.diff,
                    "rbac": {"verbs": verbs, "allowed": true},
                    "exists": s.live.is_some(),
                })
            })
            .collect();
        json!({
            "policy": {"allowed": true},
            "dryRun": {"accepted": true},
            "destructive": self.destructive,
            "actions": actions,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub(crate) fn destructive(&self) -> &[String] {
        &self.destructive
    }
}

/// Applies a proposed plan if every object is still at the resourceVersion it was validated at
/// (absent ones still absent); records it for `kubectl ai undo` and returns the history id.
pub(crate) async fn apply(
    cluster: &Cluster,
    proposed: Proposed,
    opts: &Options,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<String> {
    if !opts.allow_delete && !proposed.destructive.is_empty() {
        return Err(Error::DestructionNotConsented(proposed.destructive.join(", ")).into());
    }
    for s in &proposed.steps {
        let now = execute::get(cluster, &s.action).await?;
        let (was, is) = (version(s.live.as_ref()), version(now.as_ref()));
        if was != is {
            return Err(Error::PlanRefused(format!(
                "{} changed since the plan was proposed (resourceVersion {} -> {}); propose it again",
                s.action.target,
                was.unwrap_or("absent"),
                is.unwrap_or("absent"),
            ))
            .into());
        }
    }
    execute::apply(cluster, proposed.steps, opts, out).await
}

fn version(object: Option<&Value>) -> Option<&str> {
    object.map(|o| {
        o.pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
    })
}
