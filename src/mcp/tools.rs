//! The tools: their input schemas and annotations, and each one's result shaped for an
//! assistant (structured content plus short text, within the budget). Nothing here reads the
//! cluster itself: [`super::engine`] does.

use std::collections::BTreeSet;
use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::budget::{self, Fitted, Section};
use super::engine::{self, Reach};
use super::plans::Entry;
use super::server::State;
use crate::analyze::{Finding, Severity};
use crate::context::ObjectRef;
use crate::error::Error;

/// The tools this server offers: their names said once, for the list and for the dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Name {
    Diagnose,
    ListProblems,
    ExplainObject,
    Recommend,
    GetLogs,
    ProposePlan,
    ApplyPlan,
}

impl Name {
    const ALL: [Name; 7] = [
        Name::Diagnose,
        Name::ListProblems,
        Name::ExplainObject,
        Name::Recommend,
        Name::GetLogs,
        Name::ProposePlan,
        Name::ApplyPlan,
    ];

    pub(super) const fn as_str(self) -> &'static str {
        match self {
            Name::Diagnose => "diagnose",
            Name::ListProblems => "list_problems",
            Name::ExplainObject => "explain_object",
            Name::Recommend => "recommend",
            Name::GetLogs => "get_logs",
            Name::ProposePlan => "propose_plan",
            Name::ApplyPlan => "apply_plan",
        }
    }

    fn named(name: &str) -> Option<Name> {
        Name::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// The tools this server offers; `apply_plan` only with `--allow-writes`.
pub(super) fn list(allow_writes: bool) -> Vec<Tool> {
    let scope = json!({
        "namespace": {"type": "string", "description": "Namespace to read (default: the server's -n, else the context's)"},
        "all_namespaces": {"type": "boolean", "description": "Read every namespace"},
    });
    let reader =
        |name: Name, title: &str, description: &'static str, props: Value, required: &[&str]| {
            let mut p = scope.clone();
            extend(&mut p, props);
            Tool::new(name.as_str(), description, schema(p, required))
                .with_title(title)
                .with_annotations(annotations(title, true))
        };
    let mut tools = vec![
        reader(Name::Diagnose, "Diagnose", "Find what is broken: ranked findings (root causes first) with verbatim evidence, the problems each causes, and a suggested fix. Optionally about one target (deployment/web, pod/web-1, svc/web, a bare name).",
            json!({"target": {"type": "string", "description": "KIND/NAME or NAME; the whole scope when omitted"}}), &[]),
        reader(Name::ListProblems, "List problems", "One line per finding (severity, rule, object, summary): the compact view of a big cluster. Call diagnose or explain_object for the evidence.",
            json!({"min_severity": {"enum": ["error", "warning", "info"], "description": "Leave out findings below this (default info)"}}), &[]),
        reader(Name::ExplainObject, "Explain object", "The bounded, redacted evidence about one object: its findings, status, events, log excerpts, owner, the Services selecting its pods and the claims they mount, and the object itself (Secrets as key names only).",
            json!({"kind": {"type": "string", "description": "Deployment, StatefulSet, Pod, Service, PersistentVolumeClaim, ... (kubectl short names work)"},
                   "name": {"type": "string"}}), &["kind", "name"]),
        reader(Name::Recommend, "Recommend", "Best-practice recommendations (reliability, resources, scaling, security, networking) for the cluster's workloads, or for manifests passed inline; each with the fix as a patch when one is certain.",
            json!({"manifests": {"type": "string", "description": "YAML or JSON manifests (several documents allowed); the cluster when omitted"}}), &[]),
        reader(Name::GetLogs, "Get logs", "One container's log tail, bounded by lines and bytes, with the lines that explain its errors first.",
            json!({"pod": {"type": "string"}, "container": {"type": "string", "description": "Default: the pod's default container"},
                   "previous": {"type": "boolean", "description": "The log of the previous (crashed) run"},
                   "lines": {"type": "integer", "minimum": 1, "maximum": 2000, "description": "Most lines to read (default 200)"},
                   "bytes": {"type": "integer", "minimum": 256, "maximum": 262144, "description": "Most bytes to read (default 32768)"}}), &["pod"]),
        Tool::new(Name::ProposePlan.as_str(), "Validate changes without applying them: typed actions (the same schema as kubectl-ai's own model tool) go through policy, an RBAC access review and a server-side dry run, and come back with the diff and a plan id. Put the operator's request in `reason`: each action must answer a finding about its object or be named there. Nothing is applied.",
            Arc::new(as_object(crate::plan::proposal::schema())))
            .with_title("Propose plan")
            .with_annotations(annotations("Propose plan", true)),
    ];
    if allow_writes {
        tools.push(
            Tool::new(Name::ApplyPlan.as_str(), "Apply a plan propose_plan returned, exactly as validated, if none of its objects changed since; recorded so `kubectl ai undo` reverts it. Ask the operator first: this changes the cluster.",
                schema(json!({"plan_id": {"type": "string", "description": "The id propose_plan returned"}}), &["plan_id"]))
                .with_title("Apply plan")
                .with_annotations(annotations("Apply plan", false)),
        );
    }
    tools
}

fn annotations(title: &str, read_only: bool) -> ToolAnnotations {
    ToolAnnotations::with_title(title)
        .read_only(read_only)
        .destructive(!read_only)
        .idempotent(read_only)
        .open_world(false)
}

fn schema(props: Value, required: &[&str]) -> Arc<JsonObject> {
    Arc::new(as_object(json!({
        "type": "object", "properties": props, "required": required, "additionalProperties": false,
    })))
}

fn as_object(v: Value) -> JsonObject {
    match v {
        Value::Object(m) => m,
        _ => JsonObject::new(),
    }
}

fn extend(into: &mut Value, more: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), more) {
        a.extend(b);
    }
}

/// Runs one tool; every failure is an error for the assistant to read, never the server's end.
pub(super) async fn call(state: &State, name: &str, args: JsonObject) -> anyhow::Result<Fitted> {
    let args = Value::Object(args);
    let Some(tool) = Name::named(name) else {
        return Err(Error::Usage(format!("no tool named {name:?}")).into());
    };
    match tool {
        Name::Diagnose => diagnose(state, parse(name, args)?).await,
        Name::ListProblems => list_problems(state, parse(name, args)?).await,
        Name::ExplainObject => explain_object(state, parse(name, args)?).await,
        Name::Recommend => recommend(state, parse(name, args)?).await,
        Name::GetLogs => get_logs(state, parse(name, args)?).await,
        Name::ProposePlan => propose_plan(state, args).await,
        Name::ApplyPlan if state.allow_writes => apply_plan(state, parse(name, args)?).await,
        Name::ApplyPlan => Err(Error::Usage(format!(
            "{name} is not offered: this server was started without --allow-writes, so nothing can change the cluster"
        ))
        .into()),
    }
}

fn parse<T: DeserializeOwned>(tool: &str, args: Value) -> Result<T, Error> {
    serde_json::from_value(args)
        .map_err(|e| Error::Usage(format!("invalid arguments for {tool}: {e}")))
}

fn reach(namespace: &Option<String>, all_namespaces: bool) -> Reach {
    Reach {
        namespace: namespace.clone(),
        all_namespaces,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiagnoseArgs {
    target: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    all_namespaces: bool,
}

fn finding_line(f: &Finding) -> String {
    format!(
        "[{}] {} {}: {} (fix: {})",
        f.severity, f.rule, f.object, f.summary, f.fix
    )
}

async fn diagnose(state: &State, a: DiagnoseArgs) -> anyhow::Result<Fitted> {
    let ctx = engine::context(&state.session, &reach(&a.namespace, a.all_namespaces)).await?;
    let target = a.target.as_deref();
    let findings = engine::findings(&ctx, target)?;
    let head = engine::report_head(&ctx, target, &findings);
    let text = format!(
        "Diagnosis of {}{} ({}): {} error(s), {} warning(s), {} info",
        ctx.scope,
        target.map(|t| format!(", {t}")).unwrap_or_default(),
        ctx.source,
        head["summary"]["errors"],
        head["summary"]["warnings"],
        head["summary"]["infos"],
    );
    let mut section = Section::new("findings");
    for f in &findings {
        section.push(serde_json::to_value(f)?, finding_line(f));
    }
    Ok(budget::fit(state.max_tokens, head, &text, vec![section]))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    min_severity: Option<Severity>,
    namespace: Option<String>,
    #[serde(default)]
    all_namespaces: bool,
}

async fn list_problems(state: &State, a: ListArgs) -> anyhow::Result<Fitted> {
    let ctx = engine::context(&state.session, &reach(&a.namespace, a.all_namespaces)).await?;
    let mut findings = engine::findings(&ctx, None)?;
    findings.retain(|f| f.severity >= a.min_severity.unwrap_or(Severity::Info));
    let head = engine::report_head(&ctx, None, &findings);
    let text = format!(
        "{} problem(s) in {} ({})",
        findings.len(),
        ctx.scope,
        ctx.source
    );
    let mut section = Section::new("problems");
    for f in &findings {
        let line = format!("{} {} {}: {}", f.severity, f.rule, f.object, f.summary);
        section.push(
            json!({"severity": f.severity, "rule": f.rule, "object": f.object.to_string(), "summary": f.summary}),
            line,
        );
    }
    Ok(budget::fit(state.max_tokens, head, &text, vec![section]))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectArgs {
    kind: String,
    name: String,
    namespace: Option<String>,
}

async fn explain_object(state: &State, a: ObjectArgs) -> anyhow::Result<Fitted> {
    let reach = reach(&a.namespace, false);
    let ctx = engine::context(&state.session, &reach).await?;
    let target = format!("{}/{}", a.kind, a.name);
    let objects = engine::objects(&ctx, &target)?;
    let findings = engine::findings(&ctx, Some(&target))?;
    let mut named: BTreeSet<ObjectRef> = objects.iter().cloned().collect();
    let mut related = Section::new("related");
    for obj in &objects {
        for (relation, other) in engine::related(&ctx, obj) {
            named.insert(other.clone());
            let line = format!("{relation}: {other}");
            related.push(json!({"relation": relation, "object": other}), line);
        }
    }
    let mut found = Section::new("findings");
    for f in &findings {
        found.push(serde_json::to_value(f)?, finding_line(f));
    }
    let mut evidence = Section::new("evidence");
    for item in engine::evidence(&ctx, &findings, &named) {
        let first = item.lines().next().unwrap_or_default();
        let line = crate::analyze::keyline::clip(first, 160);
        evidence.push(Value::String(item), line);
    }
    let mut object = Section::new("object");
    for obj in &objects {
        if let Some(v) = engine::object(&ctx, obj) {
            object.push(v, String::new());
        }
    }
    let head = json!({"target": objects.first(), "source": ctx.source, "scope": ctx.scope, "notes": ctx.notes()});
    let text = format!(
        "{}: {} finding(s), {} related object(s)",
        objects.first().map(ToString::to_string).unwrap_or(target),
        findings.len(),
        related.items.len()
    );
    Ok(budget::fit(
        state.max_tokens,
        head,
        &text,
        vec![found, related, evidence, object],
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecommendArgs {
    manifests: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    all_namespaces: bool,
}

async fn recommend(state: &State, a: RecommendArgs) -> anyhow::Result<Fitted> {
    let (source, recs) = match &a.manifests {
        Some(text) => {
            let ns = a
                .namespace
                .as_deref()
                .or(state.session.scope.namespace.as_deref())
                .unwrap_or("default");
            engine::recommend_text(text, ns)?
        }
        None => engine::recommend_cluster(
            engine::context(&state.session, &reach(&a.namespace, a.all_namespaces)).await?,
        ),
    };
    let count = |s| recs.iter().filter(|r| r.severity == s).count();
    let head = json!({"source": source, "summary": {
        "errors": count(Severity::Error), "warnings": count(Severity::Warning), "infos": count(Severity::Info)}});
    let text = format!("{} recommendation(s) for {source}", recs.len());
    let mut section = Section::new("recommendations");
    for r in &recs {
        let fix = r
            .fix
            .as_ref()
            .map(|f| format!(" (fix: {})", f.summary))
            .unwrap_or_default();
        let line = format!(
            "[{}] {} {}: {}{fix}",
            r.severity, r.rule, r.object, r.message
        );
        section.push(serde_json::to_value(r)?, line);
    }
    Ok(budget::fit(state.max_tokens, head, &text, vec![section]))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogArgs {
    pod: String,
    container: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    previous: bool,
    lines: Option<usize>,
    bytes: Option<usize>,
}

/// The error lines shown first, at most.
const ERROR_LINES: usize = 20;

async fn get_logs(state: &State, a: LogArgs) -> anyhow::Result<Fitted> {
    let tail = crate::cluster::logs::Tail {
        lines: a.lines.unwrap_or(200).clamp(1, 2000),
        bytes: a.bytes.unwrap_or(32 * 1024).clamp(256, 256 * 1024),
        ..Default::default()
    };
    let reach = reach(&a.namespace, false);
    let (pod, container, log) = engine::log(
        &state.session,
        &reach,
        &a.pod,
        a.container.as_deref(),
        a.previous,
        tail.clone(),
    )
    .await?;
    let mut errors = Section::new("errorLines");
    for line in engine::error_lines(&log, ERROR_LINES) {
        errors.push(Value::String(line.clone()), format!("! {line}"));
    }
    let mut lines = Section::new("lines");
    lines.from_end = true;
    for line in log.lines() {
        lines.push(Value::String(line.to_string()), line);
    }
    let which = if a.previous { "previous" } else { "current" };
    let head = json!({"pod": pod, "container": container, "previous": a.previous,
        "read": {"lines": log.lines().count(), "bytes": log.len()},
        "bounds": {"lines": tail.lines, "bytes": tail.bytes}});
    let text = format!(
        "{which} log of {pod} container {container}: {} line(s); error lines first (marked !), then the tail",
        log.lines().count()
    );
    Ok(budget::fit(
        state.max_tokens,
        head,
        &text,
        vec![errors, lines],
    ))
}

async fn propose_plan(state: &State, args: Value) -> anyhow::Result<Fitted> {
    let (cluster, scope) = engine::live(&state.session).await?;
    let actions = engine::actions(&cluster, &scope, &state.session, &args).await?;
    let proposed = engine::propose(&cluster, &scope, actions).await?;
    let mut report = proposed.report();
    let mut section = Section::new("actions");
    for a in report["actions"].as_array().cloned().unwrap_or_default() {
        let line = action_line(&a);
        section.push(a, line);
    }
    if let Some(m) = report.as_object_mut() {
        m.remove("actions");
    }
    if proposed.is_empty() {
        report["planId"] = Value::Null;
        let text = "Nothing to change: the cluster already matches the plan.";
        return Ok(budget::fit(state.max_tokens, report, text, vec![section]));
    }
    let destructive = proposed.destructive().to_vec();
    let id = state.plans.add(Entry {
        cluster: cluster.description.clone(),
        proposed,
    });
    let next = match (state.allow_writes, destructive.is_empty() || state.session.plan.allow_delete) {
        (false, _) => "apply_plan is not offered (the server runs without --allow-writes): nothing can be applied from here".to_string(),
        (true, false) => format!("apply_plan will refuse it: it deletes or scales to zero ({}), which needs the server's --allow-delete", destructive.join(", ")),
        (true, true) => format!("show the diff to the operator; with their consent, call apply_plan with plan_id {id}"),
    };
    report["planId"] = json!(id);
    report["cluster"] = json!(cluster.description);
    report["next"] = json!(next);
    let text = format!(
        "Plan {id}: {} change(s) passed policy, RBAC review and a server dry run on {}; nothing was applied. Next: {next}",
        section.items.len(),
        cluster.description
    );
    Ok(budget::fit(state.max_tokens, report, &text, vec![section]))
}

/// "deployment/web: scale to 3 replicas", then its diff.
fn action_line(a: &Value) -> String {
    let object = &a["object"];
    format!(
        "{}/{}: {}\n{}",
        object["kind"].as_str().unwrap_or_default().to_lowercase(),
        object["name"].as_str().unwrap_or_default(),
        a["summary"].as_str().unwrap_or_default(),
        a["diff"].as_str().unwrap_or_default()
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyArgs {
    plan_id: String,
}

async fn apply_plan(state: &State, a: ApplyArgs) -> anyhow::Result<Fitted> {
    let entry = state.plans.take(&a.plan_id).ok_or_else(|| {
        Error::PlanRefused(format!(
            "unknown plan id {:?}: only a plan propose_plan returned from this server, not yet applied, can be applied",
            a.plan_id
        ))
    })?;
    let cluster = entry.cluster.clone();
    let (id, output) = engine::apply(&state.session, entry.cluster, entry.proposed).await?;
    let head = json!({"planId": a.plan_id, "historyId": id, "undo": format!("kubectl ai undo {id}"), "cluster": cluster});
    let mut section = Section::new("applied");
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        section.push(Value::String(line.to_string()), line);
    }
    let text = format!(
        "Applied plan {}; undo with `kubectl ai undo {id}`",
        a.plan_id
    );
    Ok(budget::fit(state.max_tokens, head, &text, vec![section]))
}
