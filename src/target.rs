//! The TARGET of `diagnose`: `deployment/web`, `po/web-1`, `svc/web`, or a bare name, resolved
//! against the context the way kubectl resolves its own arguments.

use std::collections::BTreeSet;

use crate::context::Pod;

use crate::analyze::Finding;
use crate::cluster::kinds::{self, Kind};
use crate::context::{Context, ObjectRef};
use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Canonical kind, or `None` for a bare name.
    pub kind: Option<&'static str>,
    pub name: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            Some(k) => write!(f, "{}/{}", k.to_lowercase(), self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The kinds a TARGET may name.
pub(crate) const KINDS: &[Kind] = &[
    kinds::PODS,
    kinds::DEPLOYMENTS,
    kinds::STATEFUL_SETS,
    kinds::DAEMON_SETS,
    kinds::REPLICA_SETS,
    kinds::REPLICATION_CONTROLLERS,
    kinds::JOBS,
    kinds::CRON_JOBS,
    kinds::SERVICES,
    kinds::INGRESSES,
    kinds::PVCS,
    kinds::HPAS,
    kinds::NODES,
];

/// The kind a TARGET's `KIND/` names, by kubectl's names and short names (from the kinds table).
pub(crate) fn canonical(kind: &str) -> Option<&'static str> {
    kinds::resolve(KINDS, kind)
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, Error> {
        let invalid = || Error::InvalidTarget(s.to_string());
        match s.split_once('/') {
            Some((kind, name)) if !name.is_empty() && !name.contains('/') => Ok(Target {
                kind: Some(canonical(kind).ok_or_else(invalid)?),
                name: name.to_string(),
            }),
            Some(_) => Err(invalid()),
            None if !s.is_empty() => Ok(Target {
                kind: None,
                name: s.to_string(),
            }),
            None => Err(invalid()),
        }
    }

    /// Every object in the context this target names.
    pub(crate) fn objects(&self, ctx: &Context) -> Vec<ObjectRef> {
        KINDS
            .iter()
            .flat_map(|k| ctx.objects_of(k))
            .map(|o| o.reference())
            .filter(|o| o.name == self.name && self.kind.is_none_or(|k| k == o.kind))
            .collect()
    }

    /// The findings about this target: its own, those of the workload owning it (for a pod),
    /// and those of the workloads behind it (for a Service).
    pub fn select(&self, ctx: &Context, findings: Vec<Finding>) -> Result<Vec<Finding>, Error> {
        let objects = self.objects(ctx);
        if objects.is_empty() {
            return Err(Error::TargetNotFound {
                target: self.to_string(),
                scope: format!("{} ({})", ctx.scope, ctx.source),
            });
        }
        // A finding about any of the pods behind the target is about the target.
        let pods = pods_of(ctx, &objects);
        let mut related: BTreeSet<ObjectRef> = objects.into_iter().collect();
        related.extend(pods.iter().map(|p| ctx.owner_of(p)));
        let pod_names: BTreeSet<&str> = pods
            .iter()
            .filter_map(|p| p.metadata.name.as_deref())
            .collect();
        Ok(findings
            .into_iter()
            .filter(|f| {
                // A root cause is about the target when any of its consequences is.
                let caused = f.causes.iter().any(|c| {
                    related.contains(&c.object)
                        || c.pods.iter().any(|p| pod_names.contains(p.as_str()))
                });
                related.contains(&f.object)
                    || f.pods.iter().any(|p| pod_names.contains(p.as_str()))
                    || caused
            })
            .collect())
    }
}

impl Target {
    /// The pods behind the target: itself for a pod, those it selects for a Service, those it
    /// owns for a workload.
    pub(crate) fn pods<'a>(&self, ctx: &'a Context) -> Vec<&'a Pod> {
        pods_of(ctx, &self.objects(ctx))
    }
}

fn pods_of<'a>(ctx: &'a Context, objects: &[ObjectRef]) -> Vec<&'a Pod> {
    ctx.pods
        .iter()
        .filter(|p| {
            objects.iter().any(|obj| match obj.kind.as_str() {
                "Pod" => ObjectRef::of("Pod", &p.metadata) == *obj,
                "Service" => service_selects(ctx, obj, p),
                _ => ctx.owner_of(p) == *obj,
            })
        })
        .collect()
}

fn service_selects(ctx: &Context, service: &ObjectRef, pod: &Pod) -> bool {
    pod.metadata.namespace == service.namespace
        && ctx
            .services
            .iter()
            .find(|s| ObjectRef::of("Service", &s.metadata) == *service)
            .and_then(|s| s.spec.as_ref()?.selector.as_ref())
            .filter(|sel| !sel.is_empty())
            .is_some_and(|sel| crate::selector::map_selects(sel, pod.metadata.labels.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectl_style_targets() {
        assert_eq!(
            Target::parse("deploy/web").unwrap(),
            Target {
                kind: Some("Deployment"),
                name: "web".into()
            }
        );
        assert_eq!(
            Target::parse("deployment.apps/web").unwrap().kind,
            Some("Deployment")
        );
        assert_eq!(Target::parse("web").unwrap().kind, None);
        assert!(Target::parse("widget/web").is_err());
        assert!(Target::parse("pod/").is_err());
        assert!(Target::parse("a/b/c").is_err());
    }
}
