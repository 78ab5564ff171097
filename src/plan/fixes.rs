//! Fixes certain enough to propose as actions: a probe aimed at an undeclared port (point it at the
//! declared one), an OOM-killed container (raise its memory limit from the limit it hit and observed
//! usage, with headroom), a Service whose selector matches nothing but almost matches one workload.

use serde_json::json;

use super::Action;
use crate::analyze::{Finding, probes, services};
use crate::context::Context;
use crate::quantity;

/// The actions that fix these findings, where a fix is certain enough.
pub fn for_findings(ctx: &Context, findings: &[Finding]) -> Vec<Action> {
    let mut actions = Vec::new();
    for f in findings {
        let why = format!("[{}] {}", f.rule, f.summary);
        match f.rule.as_str() {
            probes::PORT_MISMATCH => {
                for m in probes::mismatches(ctx)
                    .into_iter()
                    .filter(|m| m.object == f.object)
                {
                    // Only a failing probe is worth changing, and only to the one port declared.
                    let Some(port) = m.suggested.filter(|_| m.certain && !m.failures.is_empty())
                    else {
                        continue;
                    };
                    let action_field = m.field.split('.').next().unwrap_or("httpGet");
                    actions.push(Action::container(
                        f.object.clone(),
                        &m.container,
                        json!({ m.probe: { action_field: { "port": port } } }),
                        format!("point {} of {} at port {port}", m.probe, m.container),
                        why.clone(),
                    ));
                }
            }
            crate::analyze::pods::OOM_KILLED => {
                if let Some((container, limit, usage)) =
                    crate::analyze::pods::oom_facts(ctx, &f.object)
                {
                    let new = crate::sizing::memory_limit_after_oom(limit, usage);
                    actions.push(Action::container(
                        f.object.clone(),
                        &container,
                        json!({ "resources": { "limits": { "memory": quantity::human_bytes(new) } } }),
                        format!("raise the memory limit of {container} from {} to {}", quantity::human_bytes(limit), quantity::human_bytes(new)),
                        why.clone(),
                    ));
                }
            }
            services::NO_ENDPOINTS => {
                if let Some(selector) = services::suggested_selector(ctx, &f.object) {
                    actions.push(Action::set_selector(
                        f.object.clone(),
                        &selector,
                        why.clone(),
                    ));
                }
            }
            _ => {}
        }
    }
    actions
}
