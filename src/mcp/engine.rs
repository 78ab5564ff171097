//! Every call the MCP server makes into kubectl-ai's engine, in one place: collect a context,
//! analyze it, select a target, rank evidence, recommend, read a log, and the plan pipeline's two
//! halves. The tools above only shape what these return.

use std::collections::BTreeSet;

use crate::context::Pod;
use kube::api::{Api, LogParams};
use serde_json::Value;

use crate::analyze::Finding;
use crate::cluster::live::Cluster;
use crate::cluster::{self, ScopeRequest, Source};
use crate::context::{Context, ObjectRef, Scope};
use crate::error::{Error, kube_detail};
use crate::plan::{Action, Plan, proposal, staged};
use crate::recommend::{inventory, policy::Policy, rules::Recommendation};
use crate::session::Session;
use crate::target::Target;

/// Which namespaces a tool reads: its own arguments, else the server's flags.
#[derive(Debug, Clone, Default)]
pub(super) struct Reach {
    pub namespace: Option<String>,
    pub all_namespaces: bool,
}

impl Reach {
    fn request(&self, session: &Session) -> ScopeRequest {
        ScopeRequest {
            namespace: self
                .namespace
                .clone()
                .or_else(|| session.scope.namespace.clone()),
            all_namespaces: self.all_namespaces
                || (self.namespace.is_none() && session.scope.all_namespaces),
        }
    }
}

/// Reads the cluster (or snapshot) the server's flags point at, in the scope asked for.
pub(super) async fn context(session: &Session, reach: &Reach) -> Result<Context, Error> {
    cluster::collect(
        &session.source,
        &reach.request(session),
        session.limits.clone(),
    )
    .await
}

/// The findings, causes first; only those about `target` when one is named.
pub(super) fn findings(ctx: &Context, target: Option<&str>) -> Result<Vec<Finding>, Error> {
    let all = crate::analyze::analyze(ctx);
    match target {
        None => Ok(all),
        Some(t) => Target::parse(t)?.select(ctx, all),
    }
}

/// The diagnosis report's fields (source, scope, counts, notes) without its findings.
pub(super) fn report_head(ctx: &Context, target: Option<&str>, findings: &[Finding]) -> Value {
    let report = crate::render::Report::new(ctx, target.map(str::to_string), findings);
    let mut head = serde_json::to_value(&report).unwrap_or(Value::Null);
    if let Some(m) = head.as_object_mut() {
        m.remove("findings");
    }
    head
}

/// The objects a target names in the context (a Deployment, a pod, a Service...).
pub(super) fn objects(ctx: &Context, target: &str) -> Result<Vec<ObjectRef>, Error> {
    let t = Target::parse(target)?;
    let found = t.objects(ctx);
    if found.is_empty() {
        return Err(Error::TargetNotFound {
            target: t.to_string(),
            scope: format!("{} ({})", ctx.scope, ctx.source),
        });
    }
    Ok(found)
}

/// The raw evidence about `named` (pod states, events, log tails), best first, as the prompt
/// would rank it; findings are left to the caller, which has them as data.
pub(super) fn evidence(
    ctx: &Context,
    findings: &[Finding],
    named: &BTreeSet<ObjectRef>,
) -> Vec<String> {
    let mut items = crate::llm::prompt::items(ctx, findings, named);
    items.retain(|i| !i.text.starts_with("FINDING"));
    items.sort_by_key(|i| i.rank);
    items
        .into_iter()
        .map(|i| crate::llm::prompt::cap(&i.text, crate::llm::prompt::ITEM_CAP))
        .collect()
}

/// The pods a named object stands for: itself, the pods it owns, or those a Service selects.
pub(super) fn pods_of<'a>(ctx: &'a Context, obj: &ObjectRef) -> Vec<&'a Pod> {
    let service = (obj.kind == "Service")
        .then(|| {
            ctx.services
                .iter()
                .find(|s| ObjectRef::of("Service", &s.metadata) == *obj)
        })
        .flatten()
        .and_then(|s| s.spec.as_ref()?.selector.clone())
        .filter(|sel| !sel.is_empty());
    ctx.pods
        .iter()
        .filter(|p| match &service {
            Some(sel) => {
                p.metadata.namespace == obj.namespace
                    && crate::selector::map_selects(sel, p.metadata.labels.as_ref())
            }
            None => ObjectRef::of("Pod", &p.metadata) == *obj || ctx.owner_of(p) == *obj,
        })
        .collect()
}

/// The lines of a log that explain its errors, multi-line errors included.
pub(super) fn error_lines(log: &str, max: usize) -> Vec<String> {
    crate::analyze::keyline::key_lines(log, max)
}

/// Best-practice recommendations for the cluster's workloads, with the rules' default settings.
pub(super) fn recommend_cluster(ctx: Context) -> (String, Vec<Recommendation>) {
    let inv = inventory::from_context(ctx);
    (
        inv.source.clone(),
        Policy::default().apply(crate::recommend::rules::check_all(&inv)),
    )
}

/// Best-practice recommendations for manifests passed as text.
pub(super) fn recommend_text(
    text: &str,
    namespace: &str,
) -> Result<(String, Vec<Recommendation>), Error> {
    let inv = inventory::from_text("manifests", text, namespace)?;
    if inv.objects.is_empty() {
        return Err(Error::Manifest {
            path: "manifests".into(),
            detail: "no Kubernetes objects in it".into(),
        });
    }
    Ok((
        inv.source.clone(),
        Policy::default().apply(crate::recommend::rules::check_all(&inv)),
    ))
}

/// One container's log: read from the cluster (bounded by the server with `lines` and `bytes`),
/// or from the snapshot's collected tails.
pub(super) async fn log(
    session: &Session,
    reach: &Reach,
    pod: &str,
    container: Option<&str>,
    previous: bool,
    tail: cluster::logs::Tail,
) -> Result<(ObjectRef, String, String), Error> {
    let Source::Live(opts) = &session.source else {
        let ctx = context(session, reach).await?;
        return snapshot_log(&ctx, pod, container, previous, tail);
    };
    let cluster = Cluster::connect(opts).await?;
    let ns = reach
        .request(session)
        .namespace
        .unwrap_or_else(|| cluster.default_namespace.clone());
    let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let target = ObjectRef::new("Pod", Some(&ns), pod);
    let read = |e: kube::Error| Error::Read {
        target: target.to_string(),
        detail: kube_detail(&e),
    };
    let p = api.get(pod).await.map_err(read)?;
    let container = match container {
        Some(c) => c.to_string(),
        None => default_container(&p).ok_or_else(|| Error::Read {
            target: target.to_string(),
            detail: "the pod has no containers".into(),
        })?,
    };
    let params = LogParams {
        container: Some(container.clone()),
        previous,
        tail_lines: Some(tail.lines as i64),
        limit_bytes: Some(tail.bytes as i64),
        ..Default::default()
    };
    let text = api.logs(pod, &params).await.map_err(read)?;
    Ok((target, container, tail.apply(&text)))
}

/// kubectl's choice when no container is named: the annotated default, else the first.
fn default_container(pod: &k8s_openapi::api::core::v1::Pod) -> Option<String> {
    let annotated = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubectl.kubernetes.io/default-container"))
        .cloned();
    annotated.or_else(|| Some(pod.spec.as_ref()?.containers.first()?.name.clone()))
}

fn snapshot_log(
    ctx: &Context,
    pod: &str,
    container: Option<&str>,
    previous: bool,
    tail: cluster::logs::Tail,
) -> Result<(ObjectRef, String, String), Error> {
    let (key, logs) = ctx
        .logs
        .iter()
        .find(|(k, _)| k.pod == pod && container.is_none_or(|c| c == k.container))
        .ok_or_else(|| Error::TargetNotFound {
            target: format!("a log of pod/{pod}"),
            scope: format!("{} ({})", ctx.scope, ctx.source),
        })?;
    let text = if previous {
        &logs.previous
    } else {
        &logs.current
    };
    let target = ObjectRef::new("Pod", Some(&key.namespace), &key.pod);
    Ok((
        target,
        key.container.clone(),
        tail.apply(text.as_deref().unwrap_or_default()),
    ))
}

/// The live cluster and scope a plan is validated against; snapshots cannot change.
pub(super) async fn live(session: &Session) -> Result<(Cluster, Scope), Error> {
    session
        .live_cluster(super::tools::Name::ProposePlan.as_str())
        .await
}

/// The typed actions of a proposal (the LLM tool's schema), each justified by a finding about
/// its object or named in the proposal's `reason`, as for the model's own proposals.
pub(super) async fn actions(
    cluster: &Cluster,
    scope: &Scope,
    session: &Session,
    arguments: &Value,
) -> Result<Vec<Action>, Error> {
    let ctx = cluster
        .collect(
            scope.clone(),
            cluster::logs::Tail::NONE,
            session.limits.chunk_size,
        )
        .await?;
    let findings = crate::analyze::analyze(&ctx);
    let reason = arguments["reason"].as_str().unwrap_or_default();
    let namespace = match scope {
        Scope::Namespace(ns) => Some(ns.as_str()),
        Scope::AllNamespaces => None,
    };
    proposal::parse(&arguments.to_string(), &ctx, &findings, reason, namespace)
        .map_err(Error::InvalidProposal)
}

/// Policy, RBAC, dry run and diff, nothing applied.
pub(super) async fn propose(
    cluster: &Cluster,
    scope: &Scope,
    actions: Vec<Action>,
) -> Result<staged::Proposed, Error> {
    staged::propose(cluster, scope, Plan { actions }).await
}

/// Applies a proposed plan (still unchanged live) on the cluster it was validated against,
/// recording it for undo; the history id and what the pipeline printed.
pub(super) async fn apply(
    session: &Session,
    validated_on: String,
    proposed: staged::Proposed,
) -> anyhow::Result<(String, String)> {
    let Source::Live(connect) = session.source.clone() else {
        return Err(Error::NeedsLive(super::tools::Name::ApplyPlan.as_str()).into());
    };
    let opts = session.plan_options();
    // The pipeline writes its progress to a `dyn Write`, which no future sent between threads may
    // hold: it runs on a thread of its own.
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        runtime.block_on(async move {
            let cluster = Cluster::connect(&connect).await?;
            if cluster.description != validated_on {
                return Err(Error::PlanRefused(format!(
                    "the plan was validated against {validated_on}, but the current cluster is {}",
                    cluster.description
                ))
                .into());
            }
            let mut out = Vec::new();
            let id = staged::apply(&cluster, proposed, &opts, &mut out).await?;
            Ok((id, String::from_utf8_lossy(&out).into_owned()))
        })
    })
    .await?
}

/// What an object is tied to: its owner (for a pod), its pods, the Services selecting them and
/// the claims they mount.
pub(super) fn related(ctx: &Context, obj: &ObjectRef) -> Vec<(&'static str, ObjectRef)> {
    let mut out: Vec<(&'static str, ObjectRef)> = Vec::new();
    let mut add = |relation, other: ObjectRef| {
        if other != *obj && !out.iter().any(|(_, o)| *o == other) {
            out.push((relation, other));
        }
    };
    let pods = pods_of(ctx, obj);
    for p in &pods {
        if obj.kind == "Pod" {
            add("owner", ctx.owner_of(p));
        } else {
            add("pod", ObjectRef::of("Pod", &p.metadata));
        }
    }
    for s in &ctx.services {
        let svc = ObjectRef::of("Service", &s.metadata);
        let selects = pods_of(ctx, &svc);
        if pods.iter().any(|p| {
            selects
                .iter()
                .any(|q| q.metadata.uid == p.metadata.uid && q.metadata.name == p.metadata.name)
        }) {
            add("service", svc);
        }
    }
    for p in &pods {
        let volumes = p.spec.iter().flat_map(|s| s.volumes.iter().flatten());
        for claim in volumes.filter_map(|v| v.persistent_volume_claim.as_ref()) {
            add(
                "claim",
                ObjectRef::new(
                    "PersistentVolumeClaim",
                    p.metadata.namespace.as_deref(),
                    &claim.claim_name,
                ),
            );
        }
    }
    out
}

/// The object as collected, for an assistant: no managedFields, no last-applied copy, env as
/// `NAME=value` lines so the redactor sees names beside values; Secrets as key names only.
pub(super) fn object(ctx: &Context, obj: &ObjectRef) -> Option<Value> {
    let args = serde_json::json!({"kind": obj.kind, "name": obj.name, "namespace": obj.namespace});
    let text = crate::llm::tools::run(
        ctx,
        crate::llm::tools::Tool::Object.name(),
        &args.to_string(),
    );
    let Ok(mut v) = serde_json::from_str::<Value>(&text) else {
        return (matches!(obj.kind.as_str(), "Secret" | "ConfigMap"))
            .then_some(Value::String(text));
    };
    if let Some(a) = v
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
    env_as_lines(&mut v);
    Some(v)
}

fn env_as_lines(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if k == "env"
                    && let Value::Array(vars) = child
                {
                    for var in vars.iter_mut() {
                        *var = Value::String(env_line(var));
                    }
                } else {
                    env_as_lines(child);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(env_as_lines),
        _ => {}
    }
}

fn env_line(var: &Value) -> String {
    let name = var["name"].as_str().unwrap_or_default();
    if let Some(value) = var.get("value").and_then(Value::as_str) {
        return format!("{name}={value}");
    }
    match var.get("valueFrom") {
        Some(from) => format!("{name} from {from}"),
        None => format!("{name}="),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::logs::Tail;
    use crate::cluster::snapshot::{Root, load};

    #[test]
    fn env_values_sit_beside_their_names_so_the_redactor_sees_both() {
        let mut pod = serde_json::json!({"spec": {"containers": [{"name": "app", "env": [
            {"name": "API_TOKEN", "value": "abc123def456"},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        ]}]}});
        env_as_lines(&mut pod);
        let env = &pod["spec"]["containers"][0]["env"];
        assert_eq!(env[0], "API_TOKEN=abc123def456");
        assert!(env[1].as_str().unwrap().starts_with("DB_PASSWORD from {"));
        let redacted = crate::llm::redact::Redactor::new().redact(env[0].as_str().unwrap());
        assert_eq!(redacted, "API_TOKEN=[REDACTED-1]");
    }

    #[test]
    fn a_workload_is_related_to_its_pods_services_and_claims() {
        let ctx = load(&Root::Demo, None, Tail::default()).unwrap();
        let sts = ObjectRef::new("StatefulSet", Some("todo-app"), "postgres");
        let related: Vec<String> = related(&ctx, &sts)
            .into_iter()
            .map(|(r, o)| format!("{r} {o}"))
            .collect();
        assert!(
            related.iter().any(|r| r.starts_with("pod pod/postgres-0")),
            "{related:?}"
        );
        assert!(
            related
                .iter()
                .any(|r| r.starts_with("service service/postgres")),
            "{related:?}"
        );
        assert!(
            related
                .iter()
                .any(|r| r.starts_with("claim persistentvolumeclaim/data-postgres-0")),
            "{related:?}"
        );
    }
}
