//! The one gate every change passes: policy, permission, server-side dry run, diff, consent,
//! ordered apply, rollout wait, record. A failure stops at once and says what was and was not done.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

use super::history::{self, Changed};
use super::{Action, Change, FIELD_MANAGER, PatchKind, Plan, diff, justify, landed, policy};
use crate::cluster::live::Cluster;
use crate::context::Scope;
use crate::error::{Error, exit, kube_detail};
use crate::render::Output;
use crate::ui::{Palette, Spinner};

/// How far the pipeline may go on its own.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Consent given up front (the only non-interactive consent).
    pub yes: bool,
    /// Stop after showing the plan.
    pub dry_run: bool,
    pub output: Output,
    pub palette: Palette,
    /// How long to wait for rollouts after applying; zero skips the wait.
    pub wait: Duration,
    /// `undeploy --delete-data`: policy lets the plan delete the app's Namespace and claims.
    pub delete_data: bool,
    /// `--allow-delete`: consent to the model's deletions and scale-downs to zero.
    pub allow_delete: bool,
    /// Where what is applied is recorded, for `undo`.
    pub history: history::Store,
}

/// One action as the pipeline validated it: the object as it was and as the dry run says it
/// would be.
pub(super) struct Step {
    pub(super) action: Action,
    pub(super) live: Option<Value>,
    pub(super) proposed: Option<Value>,
    pub(super) diff: String,
}

/// Runs a plan through the pipeline; returns the exit code.
pub(crate) async fn run(
    cluster: &Cluster,
    scope: &Scope,
    plan: Plan,
    opts: &Options,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let plan = plan.ordered();
    if plan.actions.is_empty() && opts.output == Output::Text {
        writeln!(out, "Nothing to change.")?;
        return Ok(exit::OK);
    }
    let mut refusals = policy::check(&plan, scope, opts.delete_data);
    refusals.extend(justify::refusals(&plan));
    if !refusals.is_empty() {
        return Err(Error::PlanRefused(refusals.join("; ")).into());
    }
    // Destruction the model proposed needs its own consent. Without a terminal to type a name
    // on, only --allow-delete gives it; refused here, before any request, even a dry run.
    let applying = !opts.dry_run && opts.output == Output::Text;
    let destructive = justify::needing_consent(&plan);
    if applying && !opts.allow_delete && !destructive.is_empty() && !interactive() {
        let what: Vec<String> = destructive
            .iter()
            .map(|a| format!("{}: {}", a.target, a.summary))
            .collect();
        return Err(Error::DestructionNotConsented(what.join(", ")).into());
    }
    let steps = prepare(cluster, plan).await?;

    if opts.output != Output::Text {
        let doc = json!({
            "apiVersion": crate::render::API_VERSION, "kind": "Plan",
            "actions": steps.iter().map(|s| json!({
                "summary": s.action.summary, "why": s.action.why, "object": s.action.target,
                "change": printable(&s.action.change), "diff": s.diff,
            })).collect::<Vec<_>>(),
        });
        match opts.output {
            Output::Yaml => out.write_all(serde_saphyr::to_string(&doc)?.as_bytes())?,
            _ => writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?,
        }
        return Ok(exit::OK);
    }
    if steps.is_empty() {
        writeln!(
            out,
            "Nothing to change: the cluster already matches the plan."
        )?;
        return Ok(exit::OK);
    }
    show(&steps, &opts.palette, out)?;
    if opts.dry_run {
        writeln!(
            out,
            "Dry run: the server accepted every change; nothing was applied."
        )?;
        return Ok(exit::OK);
    }
    if !consent(opts, &steps, out)? || !destruction_consented(opts, &steps)? {
        writeln!(out, "Nothing was changed.")?;
        return Ok(exit::NOT_APPLIED);
    }
    apply(cluster, steps, opts, out).await.map(|_| exit::OK)
}

/// Reads, access reviews, server-side dry runs and diffs: everything before consent, in that
/// order, with nothing sent for real. Steps whose diff is empty are dropped.
pub(super) async fn prepare(cluster: &Cluster, plan: Plan) -> Result<Vec<Step>, Error> {
    // Reads first (they change nothing), so the access reviews can ask for exactly the verbs the
    // plan needs, then every review before any change is sent, even as a dry run.
    let mut lives = Vec::new();
    for action in &plan.actions {
        lives.push(get(cluster, action).await?);
    }
    for (action, live) in plan.actions.iter().zip(&lives) {
        permitted(cluster, action, live.is_some()).await?;
    }
    // Namespaces this plan creates: a dry run of an object inside one cannot succeed until it
    // exists, so such objects are validated for real when they are applied, after it.
    let creates_namespace = |ns: &str| {
        plan.actions.iter().zip(&lives).any(|(a, live)| {
            a.target.kind == "Namespace"
                && a.target.name == ns
                && live.is_none()
                && matches!(a.change, Change::Apply(_))
        })
    };
    let new_namespaces: Vec<String> = plan
        .actions
        .iter()
        .filter_map(|a| a.target.namespace.clone())
        .filter(|ns| creates_namespace(ns))
        .collect();
    let mut steps = Vec::new();
    for (action, live) in plan.actions.into_iter().zip(lives) {
        let deferred = live.is_none()
            && action
                .target
                .namespace
                .as_ref()
                .is_some_and(|ns| new_namespaces.contains(ns));
        let proposed = match (&action.change, deferred) {
            (Change::Apply(body), true) => Some(body.clone()),
            _ => send(cluster, &action, true)
                .await
                .map_err(|e| rejected(&action, e))?,
        };
        let diff = diff::unified(live.as_ref(), proposed.as_ref(), &action.target.to_string());
        steps.push(Step {
            action,
            live,
            proposed,
            diff,
        });
    }
    steps.retain(|s| !s.diff.is_empty());
    Ok(steps)
}

/// A change as data, with any Secret values masked as in the diff.
pub(super) fn printable(change: &Change) -> Value {
    match change {
        Change::Apply(body) => json!({"type": "apply", "object": diff::shown(body)}),
        Change::Replace(body) => json!({"type": "replace", "object": diff::shown(body)}),
        Change::Patch { kind, patch } => {
            json!({"type": "patch", "patchType": kind, "patch": patch})
        }
        Change::Delete => json!({"type": "delete"}),
    }
}

fn show(steps: &[Step], p: &Palette, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{}",
        p.bold(&format!("Plan: {} change(s)", steps.len()))
    )?;
    for (i, s) in steps.iter().enumerate() {
        writeln!(
            out,
            "  {}. {}: {}  {}",
            i + 1,
            s.action.target,
            s.action.summary,
            p.dim(&format!("(why: {})", s.action.why))
        )?;
    }
    writeln!(out)?;
    for s in steps {
        out.write_all(diff::paint(&s.diff, p).as_bytes())?;
    }
    writeln!(out)
}

fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Each deletion or scale-down to zero the model proposed, unless --allow-delete: the operator
/// types the object's name, as for deleting a repository on a forge. Anything else keeps it.
fn destruction_consented(opts: &Options, steps: &[Step]) -> anyhow::Result<bool> {
    if opts.allow_delete {
        return Ok(true);
    }
    for s in steps {
        if !matches!(s.action.origin, super::Origin::Model { .. })
            || !justify::destructive(&s.action)
        {
            continue;
        }
        let typed: String = dialoguer::Input::new()
            .with_prompt(format!(
                "The model proposes to {} {}. Type its name ({}) to consent",
                s.action.summary, s.action.target, s.action.target.name
            ))
            .allow_empty(true)
            .interact_text()
            .map_err(|_| Error::NoConsent)?;
        if typed.trim() != s.action.target.name {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Asks on the terminal; without one, only `--yes` consents.
fn consent(opts: &Options, steps: &[Step], out: &mut dyn Write) -> anyhow::Result<bool> {
    if opts.yes {
        return Ok(true);
    }
    if !interactive() {
        return Err(Error::NoConsent.into());
    }
    loop {
        let answer: String = dialoguer::Input::new()
            .with_prompt("Apply these changes? [y]es / [n]o / [d]etails")
            .allow_empty(true)
            .interact_text()
            .map_err(|_| Error::NoConsent)?;
        match answer.trim().to_lowercase().as_str() {
            "y" | "yes" => return Ok(true),
            "" | "n" | "no" => return Ok(false),
            "d" | "details" => {
                for s in steps {
                    let text = s
                        .proposed
                        .as_ref()
                        .map(|v| serde_saphyr::to_string(&diff::clean(v)).unwrap_or_default());
                    writeln!(
                        out,
                        "--- proposed {} ---\n{}",
                        s.action.target,
                        text.unwrap_or_else(|| "(deleted)\n".into())
                    )?;
                }
            }
            _ => {}
        }
    }
}

/// Applies validated steps in order and records them; returns the history id.
pub(super) async fn apply(
    cluster: &Cluster,
    steps: Vec<Step>,
    opts: &Options,
    out: &mut dyn Write,
) -> anyhow::Result<String> {
    let mut done: Vec<Changed> = Vec::new();
    let total = steps.len();
    for (i, step) in steps.iter().enumerate() {
        match write(cluster, step).await {
            Ok(after) => {
                writeln!(
                    out,
                    "applied {}: {}",
                    step.action.target, step.action.summary
                )?;
                done.push(Changed {
                    target: step.action.target.clone(),
                    summary: step.action.summary.clone(),
                    before: step.live.clone(),
                    after,
                });
            }
            Err(e) => {
                let id = if done.is_empty() {
                    None
                } else {
                    Some(opts.history.save(&cluster.description, done.clone())?)
                };
                writeln!(
                    out,
                    "FAILED {}: {}: {}",
                    step.action.target,
                    step.action.summary,
                    kube_detail(&e)
                )?;
                for s in &steps[i + 1..] {
                    writeln!(out, "not applied {}: {}", s.action.target, s.action.summary)?;
                }
                return Err(Error::ApplyFailed {
                    applied: done.len(),
                    total,
                    detail: kube_detail(&e),
                    undo: id
                        .map(|id| format!("; undo what was applied with `kubectl ai undo {id}`"))
                        .unwrap_or_default(),
                }
                .into());
            }
        }
    }
    // Recorded before waiting, so a rollout that never finishes can still be undone.
    let rollouts: Vec<_> = done
        .iter()
        .filter(|c| {
            matches!(c.target.kind.as_str(), "Deployment" | "StatefulSet") && c.after.is_some()
        })
        .map(|c| c.target.clone())
        .collect();
    let id = opts.history.save(&cluster.description, done)?;
    writeln!(
        out,
        "Applied {total} change(s). Undo with: kubectl ai undo {id}"
    )?;
    if !opts.wait.is_zero() {
        for target in &rollouts {
            wait_rollout(cluster, target, opts.wait, &id).await?;
        }
    }
    Ok(id)
}

/// Tries a write at most this many times when its answer is lost.
const WRITE_ATTEMPTS: u32 = 3;

/// Sends one real change. When the answer is lost (a 5xx, a dropped connection) the object is
/// read again: a write that landed counts as applied, one that did not is sent again (a few
/// times), and an object someone else changed meanwhile stops the plan.
async fn write(cluster: &Cluster, step: &Step) -> Result<Option<Value>, kube::Error> {
    let mut attempt = 0;
    loop {
        let err = match send(cluster, &step.action, false).await {
            Ok(after) => return Ok(after),
            Err(e) if attempt + 1 < WRITE_ATTEMPTS && crate::cluster::retry::transient(&e) => e,
            Err(e) => return Err(e),
        };
        let Ok(now) = get(cluster, &step.action).await else {
            return Err(err);
        };
        match landed::seen(
            &step.action.change,
            step.live.as_ref(),
            step.proposed.as_ref(),
            now,
        ) {
            landed::Seen::Landed(after) => {
                tracing::debug!(target = %step.action.target, "the write landed; its answer was lost");
                return Ok(after);
            }
            landed::Seen::Untouched => {
                tracing::debug!(target = %step.action.target, error = %kube_detail(&err), "the write did not land; sending it again");
                tokio::time::sleep(crate::cluster::retry::backoff(attempt)).await;
                attempt += 1;
            }
            landed::Seen::Moved => {
                let detail = match &err {
                    kube::Error::Api(s) => s.message.clone(),
                    other => kube_detail(other),
                };
                let code = crate::error::kube_code(&err);
                let message = format!(
                    "{detail}, and the object changed meanwhile (not by this write), so it was not sent again"
                );
                let status = kube::core::Status::failure(&message, "Conflict").with_code(code);
                return Err(kube::Error::Api(status.boxed()));
            }
        }
    }
}

fn api(cluster: &Cluster, action: &Action) -> Result<(Api<DynamicObject>, ApiResource), Error> {
    let kind = action.kind().ok_or_else(|| {
        Error::PlanRefused(format!(
            "{}: kind {} is not supported",
            action.target, action.target.kind
        ))
    })?;
    let ar = ApiResource {
        group: kind.group.into(),
        version: kind.version.into(),
        api_version: kind.api_version(),
        kind: kind.kind.into(),
        plural: kind.plural.into(),
    };
    let api = match (&action.target.namespace, kind.namespaced) {
        (Some(ns), true) => Api::namespaced_with(cluster.client.clone(), ns, &ar),
        _ => Api::all_with(cluster.client.clone(), &ar),
    };
    Ok((api, ar))
}

pub(crate) async fn get(cluster: &Cluster, action: &Action) -> Result<Option<Value>, Error> {
    let (api, _) = api(cluster, action)?;
    let found = api
        .get_opt(&action.target.name)
        .await
        .map_err(|e| Error::Read {
            target: action.target.to_string(),
            detail: kube_detail(&e),
        })?;
    Ok(found.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)))
}

/// Sends one change, for real or as a server-side dry run; returns the object as it would be.
pub(crate) async fn send(
    cluster: &Cluster,
    action: &Action,
    dry_run: bool,
) -> Result<Option<Value>, kube::Error> {
    let (api, ar) = api(cluster, action).map_err(|e| {
        kube::Error::Discovery(kube::error::DiscoveryError::MissingResource(e.to_string()))
    })?;
    let name = &action.target.name;
    match &action.change {
        Change::Apply(body) => {
            let mut params = PatchParams::apply(FIELD_MANAGER).force();
            params.dry_run = dry_run;
            api.patch(name, &params, &Patch::Apply(body))
                .await
                .map(|o| Some(to_value(o)))
        }
        Change::Replace(body) => {
            let mut obj: DynamicObject =
                serde_json::from_value(body.clone()).map_err(kube::Error::SerdeError)?;
            obj.types = Some(kube::api::TypeMeta {
                api_version: ar.api_version.clone(),
                kind: ar.kind.clone(),
            });
            let params = PostParams {
                dry_run,
                field_manager: Some(FIELD_MANAGER.into()),
            };
            match api.replace(name, &params, &obj).await {
                Ok(o) => Ok(Some(to_value(o))),
                // The object is gone (deleted since): undo recreates it.
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    obj.metadata.resource_version = None;
                    api.create(&params, &obj).await.map(|o| Some(to_value(o)))
                }
                Err(e) => Err(e),
            }
        }
        Change::Patch { kind, patch } => {
            let params = PatchParams {
                dry_run,
                field_manager: Some(FIELD_MANAGER.into()),
                ..PatchParams::default()
            };
            let patch = match kind {
                PatchKind::Merge => Patch::Merge(patch.clone()),
                PatchKind::Strategic => Patch::Strategic(patch.clone()),
                PatchKind::Json => Patch::Json(
                    serde_json::from_value::<json_patch::Patch>(patch.clone())
                        .map_err(kube::Error::SerdeError)?,
                ),
            };
            api.patch(name, &params, &patch)
                .await
                .map(|o| Some(to_value(o)))
        }
        Change::Delete => {
            let params = DeleteParams {
                dry_run,
                ..DeleteParams::default()
            };
            api.delete(name, &params).await.map(|_| None)
        }
    }
}

fn to_value(o: DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

/// A SelfSubjectAccessReview for the verb the action needs, before anything is sent.
/// Server-side apply of an object that does not exist yet creates it, which RBAC grants separately.
async fn permitted(cluster: &Cluster, action: &Action, exists: bool) -> Result<(), Error> {
    for verb in verbs(action, exists) {
        review(cluster, action, verb).await?;
    }
    Ok(())
}

/// The RBAC verbs an action needs.
pub(super) fn verbs(action: &Action, exists: bool) -> &'static [&'static str] {
    match action.change {
        Change::Apply(_) if !exists => &["create", "patch"],
        Change::Apply(_) | Change::Patch { .. } => &["patch"],
        Change::Replace(_) if !exists => &["create"],
        Change::Replace(_) => &["update"],
        Change::Delete => &["delete"],
    }
}

async fn review(cluster: &Cluster, action: &Action, verb: &str) -> Result<(), Error> {
    let kind = action.kind().ok_or_else(|| {
        Error::PlanRefused(format!(
            "{}: kind {} is not supported",
            action.target, action.target.kind
        ))
    })?;
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(kind.group.into()),
                resource: Some(kind.plural.into()),
                verb: Some(verb.into()),
                namespace: action.target.namespace.clone(),
                name: Some(action.target.name.clone()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(cluster.client.clone());
    let answer = api
        .create(&PostParams::default(), &review)
        .await
        .map_err(|e| Error::Read {
            target: format!("whether {verb} {} is allowed", action.target),
            detail: kube_detail(&e),
        })?;
    let status = answer.status.unwrap_or_default();
    if status.allowed {
        Ok(())
    } else {
        Err(Error::NotPermitted {
            verb: verb.into(),
            target: action.target.to_string(),
            reason: status.reason.unwrap_or_else(|| "denied by RBAC".into()),
        })
    }
}

fn rejected(action: &Action, e: kube::Error) -> Error {
    Error::DryRunRejected {
        target: action.target.to_string(),
        detail: kube_detail(&e),
    }
}

/// Waits until a Deployment or StatefulSet has rolled out its new spec on every replica.
pub(crate) async fn wait_rollout(
    cluster: &Cluster,
    target: &crate::context::ObjectRef,
    timeout: Duration,
    id: &str,
) -> Result<(), Error> {
    let action = Action::delete(target.clone(), "");
    let spinner = Spinner::start(format!("Waiting for {target} to roll out…"));
    let started = Instant::now();
    loop {
        if let Some(obj) = get(cluster, &action).await? {
            let n = |path: &[&str]| {
                path.iter()
                    .try_fold(&obj, |v, k| v.get(k))
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            };
            let want = n(&["spec", "replicas"]);
            let ready = n(&["status", "updatedReplicas"]).min(n(&["status", "readyReplicas"]));
            if n(&["status", "observedGeneration"]) >= n(&["metadata", "generation"])
                && ready >= want
            {
                drop(spinner);
                return Ok(());
            }
        }
        if started.elapsed() > timeout {
            drop(spinner);
            return Err(Error::RolloutTimeout {
                target: target.to_string(),
                seconds: timeout.as_secs(),
                id: id.to_string(),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
