//! How one large list is cut into parts the API server filters itself, so that their pages are
//! fetched side by side: a list's continue tokens chain each page to the one before, its parts
//! do not.
//!
//! Every cut is exact (each object lands in exactly one part), so a cut list holds what the uncut
//! one would. Cuts are only made once a list's first page shows there is more (a small cluster
//! costs one request per kind, as before).

use kube::api::ListParams;

/// One slice of a list: a namespace (or all of them) and field selector terms, ANDed with the
/// list's own selector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Part {
    pub namespace: Option<String>,
    pub fields: Vec<String>,
}

/// A way to cut a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// One part per namespace: the API server keeps objects by namespace, so each part is cheap.
    Namespaces,
    /// Pods: one part per node (`spec.nodeName=N`, which the API server indexes for the kubelet)
    /// and one for the rest, unscheduled pods and pods of nodes the node list did not show.
    Nodes,
    /// Events: one part for each of the reasons most events carry, and one for every other reason.
    Reasons,
}

/// Above this many nodes a node cut costs more requests than it saves round trips, and the rest
/// part's selector (one term per node) grows past what proxies in front of API servers accept.
const MAX_NODE_PARTS: usize = 64;

/// More namespaces than this make a namespace cut cost more requests than it saves.
const MAX_NAMESPACE_PARTS: usize = 256;

/// The reasons of most events that are not Normal, as the kubelet, scheduler and controllers emit
/// them; any other reason falls in the rest part.
const COMMON_REASONS: &[&str] = &[
    "BackOff",
    "Unhealthy",
    "FailedMount",
    "FailedScheduling",
    "Failed",
    "FailedCreatePodSandBox",
    "FailedSync",
    "Evicted",
];

/// The names cuts are made along, as the node and namespace lists returned them (`None` when a
/// list was unavailable: then the cut along it is not made).
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    pub nodes: Option<Vec<String>>,
    pub namespaces: Option<Vec<String>>,
}

impl Part {
    /// The whole list, in one namespace or in all.
    pub(super) fn whole(namespace: Option<&str>) -> Part {
        Part {
            namespace: namespace.map(str::to_string),
            fields: Vec::new(),
        }
    }

    /// The list parameters of this part: `base` with this part's field terms added.
    pub(super) fn params(&self, base: &ListParams) -> ListParams {
        let terms: Vec<&str> = base
            .field_selector
            .iter()
            .chain(&self.fields)
            .map(String::as_str)
            .filter(|t| !t.is_empty())
            .collect();
        ListParams {
            field_selector: (!terms.is_empty()).then(|| terms.join(",")),
            ..base.clone()
        }
    }

    /// This part cut along `cut`, or `None` when that cut does not apply here (the names are
    /// unknown, there would be a single part, or too many).
    pub(super) fn cut(&self, cut: Cut, names: &Names) -> Option<Vec<Part>> {
        let with = |namespace: Option<String>, term: String| Part {
            namespace,
            fields: self.fields.iter().cloned().chain([term]).collect(),
        };
        let parts: Vec<Part> = match cut {
            Cut::Namespaces => {
                if self.namespace.is_some() {
                    return None;
                }
                let namespaces = names.namespaces.as_ref()?;
                if namespaces.len() > MAX_NAMESPACE_PARTS {
                    return None;
                }
                // A namespace created after the namespace list was read is not in any part; its
                // objects are younger than the collection itself.
                namespaces
                    .iter()
                    .map(|ns| Part {
                        namespace: Some(ns.clone()),
                        fields: self.fields.clone(),
                    })
                    .collect()
            }
            Cut::Nodes => {
                let nodes = names.nodes.as_ref()?;
                if nodes.len() > MAX_NODE_PARTS {
                    return None;
                }
                let rest = nodes.iter().map(|n| format!("spec.nodeName!={n}"));
                nodes
                    .iter()
                    .map(|n| with(self.namespace.clone(), format!("spec.nodeName={n}")))
                    .chain([Part {
                        namespace: self.namespace.clone(),
                        fields: self.fields.iter().cloned().chain(rest).collect(),
                    }])
                    .collect()
            }
            Cut::Reasons => {
                let rest = COMMON_REASONS.iter().map(|r| format!("reason!={r}"));
                COMMON_REASONS
                    .iter()
                    .map(|r| with(self.namespace.clone(), format!("reason={r}")))
                    .chain([Part {
                        namespace: self.namespace.clone(),
                        fields: self.fields.iter().cloned().chain(rest).collect(),
                    }])
                    .collect()
            }
        };
        (parts.len() > 1).then_some(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            nodes: Some(vec!["a".into(), "b".into()]),
            namespaces: Some(vec!["shop".into(), "kube-system".into()]),
        }
    }

    #[test]
    fn a_node_cut_has_one_part_per_node_and_one_for_every_other_pod() {
        let parts = Part::whole(Some("shop")).cut(Cut::Nodes, &names()).unwrap();
        let selectors: Vec<_> = parts
            .iter()
            .map(|p| p.params(&ListParams::default()).field_selector.unwrap())
            .collect();
        assert_eq!(
            selectors,
            [
                "spec.nodeName=a",
                "spec.nodeName=b",
                "spec.nodeName!=a,spec.nodeName!=b"
            ]
        );
        assert!(parts.iter().all(|p| p.namespace.as_deref() == Some("shop")));
    }

    #[test]
    fn cuts_keep_the_lists_own_selector_and_nest() {
        let base = ListParams::default().fields("type!=Normal");
        let by_ns = Part::whole(None).cut(Cut::Namespaces, &names()).unwrap();
        assert_eq!(by_ns.len(), 2);
        let by_reason = by_ns[0].cut(Cut::Reasons, &names()).unwrap();
        assert_eq!(by_reason.len(), COMMON_REASONS.len() + 1);
        assert_eq!(
            by_reason[0].params(&base).field_selector.as_deref(),
            Some("type!=Normal,reason=BackOff")
        );
        let rest = by_reason
            .last()
            .unwrap()
            .params(&base)
            .field_selector
            .unwrap();
        assert!(rest.starts_with("type!=Normal,reason!=BackOff,reason!=Unhealthy"));
        assert_eq!(by_reason[0].namespace.as_deref(), Some("shop"));
    }

    #[test]
    fn a_cut_is_not_made_without_its_names_or_inside_one_namespace() {
        assert!(
            Part::whole(Some("shop"))
                .cut(Cut::Namespaces, &names())
                .is_none()
        );
        assert!(
            Part::whole(None)
                .cut(Cut::Nodes, &Names::default())
                .is_none()
        );
        let many = Names {
            nodes: Some((0..=MAX_NODE_PARTS).map(|i| format!("n{i}")).collect()),
            namespaces: None,
        };
        assert!(Part::whole(None).cut(Cut::Nodes, &many).is_none());
    }
}
