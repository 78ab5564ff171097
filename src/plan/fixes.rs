//! Fixes certain enough to propose as actions: a probe aimed at an undeclared port (point it at the
//! declared one), an OOM-killed container (raise its memory limit from the limit it hit and observed
//! usage, with headroom), a Service whose selector matches nothing but almost matches one workload.
//!
//! The analyzers decide what is certain and leave it on the finding as a [`Remedy`]; this module
//! only says each remedy as a plan action.

use serde_json::json;

use super::Action;
use crate::analyze::{Finding, Remedy};
use crate::quantity;

/// The actions that fix these findings, where a fix is certain enough: what a fix needs, its
/// finding carries, so nothing here reads the Context or re-runs an analyzer.
pub(crate) fn for_findings(findings: &[Finding]) -> Vec<Action> {
    findings
        .iter()
        .flat_map(|f| f.remedies.iter().map(move |r| action(f, r)))
        .collect()
}

fn action(f: &Finding, remedy: &Remedy) -> Action {
    let why = format!("[{}] {}", f.rule, f.summary);
    let target = f.object.clone();
    match remedy {
        Remedy::ProbePort {
            container,
            probe,
            action,
            port,
        } => Action::container(
            target,
            container,
            json!({ (*probe): { (*action): { "port": port } } }),
            format!("point {probe} of {container} at port {port}"),
            why,
        ),
        Remedy::MemoryLimit {
            container,
            limit,
            raised,
        } => Action::container(
            target,
            container,
            json!({ "resources": { "limits": { "memory": quantity::human_bytes(*raised) } } }),
            format!(
                "raise the memory limit of {container} from {} to {}",
                quantity::human_bytes(*limit),
                quantity::human_bytes(*raised)
            ),
            why,
        ),
        Remedy::Selector(selector) => Action::set_selector(target, selector, why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{self, Rule};
    use crate::cluster::logs::Tail;
    use crate::cluster::snapshot::{Root, load};
    use crate::context::Context;

    fn scenario(name: &str) -> Context {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios");
        load(&Root::Dir(dir.join(name)), None, Tail::default()).unwrap()
    }

    /// The first finding of a rule in a scenario, and the actions its remedies become.
    fn fixed(scenario_name: &str, rule: Rule) -> (Finding, Vec<Action>) {
        let ctx = scenario(scenario_name);
        let findings = analyze::analyze(&ctx);
        let f = findings
            .iter()
            .find(|f| f.rule == rule)
            .unwrap_or_else(|| panic!("no [{rule}] in {scenario_name}: {findings:?}"))
            .clone();
        let actions = for_findings(std::slice::from_ref(&f));
        (f, actions)
    }

    #[test]
    fn a_failing_probe_on_an_undeclared_port_is_pointed_at_the_declared_one() {
        let (f, actions) = fixed("probe-port", Rule::ProbePort);
        assert!(
            matches!(&f.remedies[..], [Remedy::ProbePort { port: 8000, .. }]),
            "{:?}",
            f.remedies
        );
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].target, f.object);
        assert!(
            actions[0].summary.ends_with("at port 8000"),
            "{}",
            actions[0].summary
        );
        assert_eq!(actions[0].why, format!("[probe-port] {}", f.summary));
    }

    #[test]
    fn an_oom_kill_raises_the_limit_it_hit() {
        let (f, actions) = fixed("oom-killed", Rule::OomKilled);
        let [Remedy::MemoryLimit { limit, raised, .. }] = &f.remedies[..] else {
            panic!("{:?}", f.remedies);
        };
        assert!(raised > limit, "{raised} <= {limit}");
        assert_eq!(actions.len(), 1);
        let text = serde_json::to_string(&actions[0].change).unwrap();
        assert!(text.contains(&quantity::human_bytes(*raised)), "{text}");
    }

    /// The oom-killed scenario with a second container in each pod, OOM-killed at its own limit.
    fn two_oom_killed_containers() -> Context {
        let mut ctx = scenario("oom-killed");
        for pod in &mut ctx.pods {
            let mut v = serde_json::to_value(&*pod).unwrap();
            let first = v["status"]["containerStatuses"][0].clone();
            if first["lastState"]["terminated"]["reason"] != "OOMKilled" {
                continue;
            }
            let mut sidecar = v["spec"]["containers"][0].clone();
            sidecar["name"] = "sidecar".into();
            sidecar["resources"] = serde_json::json!({"limits": {"memory": "64Mi"}});
            v["spec"]["containers"]
                .as_array_mut()
                .unwrap()
                .push(sidecar);
            let mut status = first;
            status["name"] = "sidecar".into();
            v["status"]["containerStatuses"]
                .as_array_mut()
                .unwrap()
                .push(status);
            *pod = serde_json::from_value(v).unwrap();
        }
        ctx
    }

    #[test]
    fn each_oom_killed_container_of_a_workload_gets_its_own_limit_raised() {
        let ctx = two_oom_killed_containers();
        let findings: Vec<Finding> = analyze::analyze(&ctx)
            .into_iter()
            .filter(|f| f.rule == Rule::OomKilled)
            .collect();
        let actions = for_findings(&findings);
        let mut raised: Vec<(String, u64)> = findings
            .iter()
            .flat_map(|f| &f.remedies)
            .map(|r| match r {
                Remedy::MemoryLimit {
                    container, limit, ..
                } => (container.clone(), *limit),
                other => panic!("{other:?}"),
            })
            .collect();
        raised.sort();
        assert_eq!(raised.len(), 2, "{findings:?}");
        assert_eq!(raised[0], ("sidecar".to_string(), 64 * 1024 * 1024));
        assert_eq!(raised[1].0, "worker");
        assert_eq!(actions.len(), 2);
        assert_ne!(actions[0].change, actions[1].change);
    }

    #[test]
    fn a_service_selecting_nothing_is_routed_to_the_workload_it_almost_selects() {
        let (f, actions) = fixed("service-selector", Rule::ServiceNoEndpoints);
        let [Remedy::Selector(selector)] = &f.remedies[..] else {
            panic!("{:?}", f.remedies);
        };
        assert!(!selector.is_empty());
        assert_eq!(actions.len(), 1);
        assert!(
            actions[0].summary.starts_with("set the selector to "),
            "{}",
            actions[0].summary
        );
    }

    #[test]
    fn remedies_stay_out_of_the_report() {
        let (f, _) = fixed("probe-port", Rule::ProbePort);
        assert!(!f.remedies.is_empty());
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["rule"], "probe-port");
        assert!(json.get("remedies").is_none(), "{json}");
    }

    #[test]
    fn a_finding_without_a_remedy_proposes_nothing() {
        let (f, actions) = fixed("crash-loop", Rule::CrashLoop);
        assert!(f.remedies.is_empty(), "{:?}", f.remedies);
        assert!(actions.is_empty());
    }
}
