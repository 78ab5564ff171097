//! The labels a pod asks its node to have (nodeSelector, required nodeAffinity) set against the
//! labels the nodes carry: what an operator checks with `kubectl get nodes --show-labels`.

use std::collections::BTreeMap;

use crate::context::Pod;
use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement};

use crate::context::Context;

/// Evidence lines: each label asked for, and the nodes that lack it.
pub(super) fn label_mismatch(ctx: &Context, pod: &Pod) -> Vec<String> {
    let Some(spec) = pod.spec.as_ref() else {
        return vec![];
    };
    let mut out = Vec::new();
    for (key, value) in spec.node_selector.iter().flatten() {
        let lacking = lacking(ctx, |labels| labels.get(key) == Some(value));
        out.push(format!(
            "nodeSelector {key}={value}: {}",
            describe(&lacking, key, ctx.nodes.len())
        ));
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    for term in required.iter().flat_map(|r| &r.node_selector_terms) {
        for req in term.match_expressions.iter().flatten() {
            let lacking = lacking(ctx, |labels| satisfies(req, labels));
            out.push(format!(
                "nodeAffinity {}: {}",
                requirement_text(req),
                describe(&lacking, &req.key, ctx.nodes.len())
            ));
        }
    }
    out
}

/// Labels the kubelet or the cloud provider sets on every node, from what the node is.
const NODE_SET: &[&str] = &[
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "kubernetes.io/hostname",
    "topology.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "node.kubernetes.io/instance-type",
];

/// A label the pod asks for (nodeSelector or required nodeAffinity) that nodes get from what they
/// are, not from an operator.
pub(super) fn node_set_label(pod: &Pod) -> Option<&'static str> {
    let spec = pod.spec.as_ref()?;
    let selector = spec.node_selector.iter().flatten().map(|(k, _)| k.as_str());
    let affinity = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .into_iter()
        .flat_map(|r| &r.node_selector_terms)
        .flat_map(|t| t.match_expressions.iter().flatten())
        .map(|r| r.key.as_str());
    let mut asked = selector.chain(affinity);
    asked.find_map(|k| NODE_SET.iter().find(|n| **n == k).copied())
}

/// For a volume node affinity conflict: each bound PersistentVolume of the pod with the node labels
/// it requires, and the values the nodes have for those keys.
pub(super) fn volume_zones(ctx: &Context, pod: &Pod) -> Vec<String> {
    let ns = pod.metadata.namespace.as_deref();
    let claims = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| Some(v.persistent_volume_claim.as_ref()?.claim_name.as_str()));
    let mut out = Vec::new();
    for claim in claims {
        let pv_name = ctx
            .pvcs
            .iter()
            .find(|c| {
                c.metadata.namespace.as_deref() == ns && c.metadata.name.as_deref() == Some(claim)
            })
            .and_then(|c| c.spec.as_ref()?.volume_name.as_deref());
        let Some(pv) = pv_name.and_then(|n| {
            ctx.pvs
                .iter()
                .find(|pv| pv.metadata.name.as_deref() == Some(n))
        }) else {
            continue;
        };
        let terms = pv
            .spec
            .as_ref()
            .and_then(|s| s.node_affinity.as_ref()?.required.as_ref())
            .map(|r| r.node_selector_terms.as_slice())
            .unwrap_or_default();
        for req in terms
            .iter()
            .flat_map(|t| t.match_expressions.iter().flatten())
        {
            let have: Vec<String> = ctx
                .nodes
                .iter()
                .take(6)
                .map(|n| {
                    let value = n.metadata.labels.as_ref().and_then(|l| l.get(&req.key));
                    format!(
                        "{} {}",
                        n.metadata.name.as_deref().unwrap_or_default(),
                        value.map_or("(none)", String::as_str)
                    )
                })
                .collect();
            out.push(format!(
                "claim {claim} is bound to PersistentVolume {}, which requires {}; the nodes' {}: {}",
                pv.metadata.name.as_deref().unwrap_or_default(),
                requirement_text(req),
                req.key,
                have.join(", ")
            ));
        }
    }
    out
}

/// The nodes whose labels fail `ok`, with their value for the key (if any).
fn lacking(
    ctx: &Context,
    ok: impl Fn(&BTreeMap<String, String>) -> bool,
) -> Vec<(&str, &BTreeMap<String, String>)> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    ctx.nodes
        .iter()
        .map(|n: &Node| {
            (
                n.metadata.name.as_deref().unwrap_or_default(),
                n.metadata.labels.as_ref().unwrap_or(&EMPTY),
            )
        })
        .filter(|(_, labels)| !ok(labels))
        .collect()
}

fn describe(lacking: &[(&str, &BTreeMap<String, String>)], key: &str, total: usize) -> String {
    if lacking.is_empty() {
        return "every node has it".to_string();
    }
    let shown: Vec<String> = lacking
        .iter()
        .take(5)
        .map(|(name, labels)| match labels.get(key) {
            Some(v) => format!("{name} has {key}={v}"),
            None => format!("{name} has no label {key}"),
        })
        .collect();
    let more = lacking.len().saturating_sub(shown.len());
    let more = if more > 0 {
        format!(", and {more} more")
    } else {
        String::new()
    };
    format!(
        "{} of {total} nodes lack it ({}{more})",
        lacking.len(),
        shown.join("; ")
    )
}

fn satisfies(req: &NodeSelectorRequirement, labels: &BTreeMap<String, String>) -> bool {
    let values = req.values.as_deref().unwrap_or_default();
    let value = labels.get(&req.key);
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if req.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => true,
    }
}

fn requirement_text(req: &NodeSelectorRequirement) -> String {
    let values = req.values.as_deref().unwrap_or_default().join(",");
    match req.operator.as_str() {
        "Exists" | "DoesNotExist" => format!("{} {}", req.key, req.operator),
        op => format!("{} {op} ({values})", req.key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::PodSpec;
    use crate::context::Scope;

    fn node(name: &str, labels: &[(&str, &str)]) -> Node {
        let mut n = Node::default();
        n.metadata.name = Some(name.into());
        n.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        n
    }

    #[test]
    fn names_the_label_asked_for_and_the_nodes_without_it() {
        let mut ctx = Context::empty("test", Scope::AllNamespaces, Default::default());
        ctx.nodes = vec![
            node("a", &[("disktype", "hdd")]),
            node("b", &[]),
            node("c", &[("disktype", "ssd")]),
        ];
        let pod = Pod {
            spec: Some(Box::new(PodSpec {
                node_selector: Some([("disktype".to_string(), "ssd".to_string())].into()),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(
            label_mismatch(&ctx, &pod),
            [
                "nodeSelector disktype=ssd: 2 of 3 nodes lack it (a has disktype=hdd; b has no label disktype)"
            ]
        );
    }
}
