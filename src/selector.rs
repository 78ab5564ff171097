//! Kubernetes label-selector semantics, said once: the equality map of a Service (or a
//! ReplicationController) and the `LabelSelector` of workloads, PDBs and policies.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Every pair of an equality selector holds. An empty map selects everything; callers that mean
/// "selects nothing" for a Service without a selector check for that first.
pub(crate) fn pairs_hold(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// [`pairs_hold`] for an object that may have no labels at all.
pub(crate) fn map_selects(
    selector: &BTreeMap<String, String>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    match labels {
        Some(labels) => pairs_hold(selector, labels),
        None => selector.is_empty(),
    }
}

/// A `LabelSelector`: every matchLabels pair and every expression must hold; an empty selector
/// selects everything.
pub(crate) fn selects(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let pairs = sel
        .match_labels
        .as_ref()
        .is_none_or(|m| pairs_hold(m, labels));
    let expressions = sel.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    pairs && expressions
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_follow_kubernetes_semantics() {
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let sel: LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]
        }))
        .unwrap();
        assert!(selects(&sel, &labels));
        let sel: LabelSelector = serde_json::from_value(
            json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]}),
        )
        .unwrap();
        assert!(!selects(&sel, &labels));
        assert!(selects(&LabelSelector::default(), &labels));
        let service: BTreeMap<String, String> = [("app".to_string(), "db".to_string())].into();
        assert!(!map_selects(&service, Some(&labels)));
        assert!(!map_selects(&service, None));
        assert!(map_selects(&BTreeMap::new(), None));
    }
}
