//! `kubectl ai deploy` and `undeploy`: the bundled todo app (or any manifests) through the plan
//! pipeline, adapted to the cluster it lands on, and verified healthy through the API.
//!
//! The order of work: values (flags, or words turned into values by the LLM) -> survey of the
//! cluster -> adaptations -> objects -> with `--build`, the app's images built into the cluster
//! -> the image check (every image on a node or in its registry) -> one plan (diff, consent,
//! apply, history) -> waiting for the database, then the backend, then the frontend -> endpoints
//! -> `/ready` through the API server's service proxy -> how to reach it. A failure runs the
//! diagnosis on the app's namespace and names the undo command.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::cli::{DeployArgs, UndeployArgs};
use crate::cluster::live::Cluster;
use crate::context::{ObjectRef, Scope};
use crate::deploy::{app, build, images, survey, verify, words};
use crate::error::{Error, exit};
use crate::plan::{self, Action, Plan};
use crate::render::Output;
use crate::session::{PlanSettings, Session};
use crate::ui::{Palette, Spinner};
use app::Values;
use survey::Note;

/// What `deploy` was asked to deploy.
enum Source {
    TodoApp,
    Manifests,
}

fn source_of(what: &str) -> Result<Source, Error> {
    if what == "todo-app" {
        return Ok(Source::TodoApp);
    }
    if what == "-" || Path::new(what).exists() {
        return Ok(Source::Manifests);
    }
    Err(Error::Usage(format!(
        "{what:?} is neither a bundled app (todo-app) nor a file or directory of manifests"
    )))
}

pub(crate) async fn deploy(
    session: &Session,
    args: &DeployArgs,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    if args.list_values {
        for k in app::KEYS {
            writeln!(out, "{:<30} {}", k.name, k.help)?;
        }
        return Ok(exit::OK);
    }
    let source = source_of(&args.what)?;
    let Source::TodoApp = source else {
        if args.build.is_some() {
            return Err(Error::Usage(
                "--build builds the todo app's images; for other manifests, build and load their images first".into(),
            )
            .into());
        }
        return deploy_manifests(session, args.skip_image_check, &args.what, out).await;
    };
    let values = values_of(session, args).await?;
    let namespace = session
        .scope
        .namespace
        .clone()
        .unwrap_or_else(|| app::NAMESPACE.to_string());

    if args.render {
        return render(&values, &namespace, out);
    }

    let (cluster, _) = session.live_cluster("deploy").await?;
    let palette = session.palette.clone();
    let found = {
        let _s = Spinner::start("Looking at the cluster…".into());
        survey::survey(&cluster).await?
    };
    let (values, notes) = survey::adapt(&found, &values, &namespace);
    let text = session.output == Output::Text;
    if text {
        writeln!(
            out,
            "Deploying todo-app to {} ({}), namespace {namespace}",
            found.nodes.flavour, cluster.description
        )?;
        show_notes(&notes, &palette, out)?;
    }
    let mut objects = app::render(&values, &namespace);
    objects.extend(
        secret(
            &cluster,
            &namespace,
            session.llm.env_api_key.as_deref(),
            text,
            out,
        )
        .await?,
    );
    if text {
        writeln!(out)?;
    }
    let built = match &args.build {
        Some(dir) => {
            match build_images(dir, &found.nodes, &objects, &session.plan, text, out).await? {
                Some(built) => built,
                None => return Ok(exit::NOT_APPLIED),
            }
        }
        None => Vec::new(),
    };
    if !args.skip_image_check {
        preflight(session, &cluster, &found.nodes, &objects, &built, true, out).await?;
    }
    let actions: Vec<Action> = objects
        .iter()
        .filter_map(|o| Action::apply_manifest(o.clone(), "todo-app"))
        .collect();
    let scope = Scope::Namespace(namespace.clone());
    let (code, id) = apply(&cluster, &scope, actions, session, out).await?;
    if code != exit::OK || session.plan.dry_run || !text {
        return Ok(code);
    }
    if session.plan.timeout.is_zero() {
        writeln!(out, "Not waiting for the app (--timeout 0).")?;
        return Ok(exit::OK);
    }
    let checked = verify::todo_app(
        &cluster,
        &namespace,
        &objects,
        session.plan.timeout,
        id.as_deref(),
        &palette,
        out,
    )
    .await;
    match checked {
        Ok(()) => {
            verify::reach(&cluster, &found, &namespace, &objects, out).await?;
            Ok(exit::OK)
        }
        Err(e) => unhealthy(session, &cluster, &namespace, id.as_deref(), e, out).await,
    }
}

/// `--render`: the final manifests for GitOps; the Secret is left out (it holds credentials).
fn render(values: &Values, namespace: &str, out: &mut dyn Write) -> anyhow::Result<u8> {
    let objects = app::render(values, namespace);
    writeln!(
        out,
        "# todo-app for namespace {namespace}, rendered by kubectl-ai {}.\n# Not included: Secret {} (DATABASE_PASSWORD, DATABASE_URL, AUTH_SECRET, OPENAI_API_KEY);\n# `kubectl ai deploy todo-app` generates it, or create it yourself before applying these.",
        env!("CARGO_PKG_VERSION"),
        app::SECRET
    )?;
    for o in &objects {
        writeln!(out, "---")?;
        out.write_all(serde_saphyr::to_string(o)?.as_bytes())?;
    }
    Ok(exit::OK)
}

/// The values asked for: `--image-tag`, `--set`, and a request in words (the flags win).
async fn values_of(session: &Session, args: &DeployArgs) -> anyhow::Result<Values> {
    let mut values = Values::default();
    if let Some(tag) = &args.image_tag {
        values.set("imageTag", Value::String(tag.clone()))?;
    }
    for s in &args.set {
        values.set_arg(s)?;
    }
    if !args.request.is_empty() {
        let request = args.request.join(" ");
        let asked = words::values(session.llm_settings(), &request).await?;
        let shown: Vec<String> = asked.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("\"{request}\" means: --set {}", shown.join(" --set "));
        // Explicit flags are the user's last word.
        let mut merged = asked;
        merged.0.extend(values.0);
        values = merged;
    }
    Ok(values)
}

/// What the survey adapted, and what the cluster lacks.
fn show_notes(notes: &[Note], palette: &Palette, out: &mut dyn Write) -> anyhow::Result<()> {
    for n in notes {
        match n {
            Note::Adapted(t) => writeln!(out, "  {} {t}", palette.good("adapted:"))?,
            Note::Info(t) => writeln!(out, "  {} {t}", palette.dim("note:"))?,
            Note::Missing { what, fix } => writeln!(
                out,
                "  {} {what}\n           fix: {fix}",
                palette.severity(crate::analyze::Severity::Warning)
            )?,
        }
    }
    Ok(())
}

/// The app's Secret when there is none yet (new random credentials); an existing one is kept,
/// so credentials survive re-deploys. `key` is the environment's OPENAI_API_KEY, if any.
async fn secret(
    cluster: &Cluster,
    namespace: &str,
    key: Option<&str>,
    text: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Option<Value>> {
    let secret_ref = ObjectRef::new("Secret", Some(namespace), app::SECRET);
    let existing = plan::execute::get(cluster, &Action::delete(secret_ref, "")).await?;
    if existing.is_none() {
        if text {
            writeln!(
                out,
                "  Secret {}: new random credentials{}",
                app::SECRET,
                if key.is_some() {
                    ", OPENAI_API_KEY from your environment"
                } else {
                    " (no OPENAI_API_KEY in your environment: the backend's AI features stay off)"
                }
            )?;
        }
        return Ok(Some(app::secret(namespace, key)?));
    }
    if text {
        writeln!(
            out,
            "  Secret {}: kept as it is (credentials survive re-deploys)",
            app::SECRET
        )?;
    }
    Ok(None)
}

/// The pre-flight image check: images just built count as present (a node's image list lags
/// behind); notes go to stderr; missing images are listed with their fixes, then stop the deploy.
async fn preflight(
    session: &Session,
    cluster: &Cluster,
    nodes: &survey::Nodes,
    objects: &[Value],
    built: &[String],
    todo_app: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let wanted: Vec<images::Use> = images::uses(objects)
        .into_iter()
        .filter(|u| !built.contains(&u.image))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let limit = images::time_limit(session.request_timeout);
    let checked = {
        let _s = Spinner::start(format!("Checking {} image(s)…", wanted.len()));
        images::check(cluster, &nodes.flavour, &nodes.images, &wanted, limit).await
    };
    for n in &checked.notes {
        eprintln!("note: {n}");
    }
    if checked.missing.is_empty() {
        return Ok(());
    }
    if session.output == Output::Text {
        show_missing(nodes, &checked.missing, todo_app, &session.palette, out)?;
    }
    let names: Vec<&str> = checked.missing.iter().map(|m| m.image.as_str()).collect();
    Err(Error::ImagesMissing {
        images: names.join(", "),
    }
    .into())
}

/// Each missing image with its fix for this cluster, and for the todo app the ways to fix both.
fn show_missing(
    nodes: &survey::Nodes,
    missing: &[images::Missing],
    todo_app: bool,
    palette: &Palette,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let p = palette;
    writeln!(out, "{}", p.bold("Images the cluster cannot get:"))?;
    for m in missing {
        writeln!(out, "  {} ({}): {}", m.image, m.workloads.join(", "), m.why)?;
        let fix = images::fix(&nodes.flavour, nodes.cluster_name.as_deref(), &m.image);
        writeln!(out, "    fix: {fix}")?;
    }
    if todo_app {
        if matches!(
            nodes.flavour,
            survey::Flavour::Minikube | survey::Flavour::Kind | survey::Flavour::DockerDesktop
        ) {
            writeln!(
                out,
                "  or build both at once: kubectl ai deploy todo-app --build DIR (the app's repository, with frontend/ and backend/)"
            )?;
        }
        writeln!(
            out,
            "  or use images that exist: --set backend.image=REPO --set frontend.image=REPO --image-tag TAG"
        )?;
    }
    writeln!(out)
}

/// `--build DIR`: the app's images built into the cluster with the plan's tags, after consent.
/// Returns the images built (or that would be, in a dry run), or None when declined.
async fn build_images(
    dir: &Path,
    nodes: &survey::Nodes,
    objects: &[Value],
    consent: &PlanSettings,
    text: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Option<Vec<String>>> {
    let wanted = build::app_images(objects);
    let steps = build::steps(nodes, dir, &wanted)?;
    // -o json|yaml prints the plan as data and changes nothing: neither does its build.
    let show_only = consent.dry_run || !text;
    let outcome = build::run(&steps, consent.yes, show_only, !text, out).await?;
    Ok((outcome != build::Outcome::Declined).then(|| wanted.into_iter().map(|(_, i)| i).collect()))
}

/// The plan through the pipeline without its own rollout wait (deploy waits in dependency order
/// itself); returns the exit code and the history record the apply wrote, if it changed anything.
async fn apply(
    cluster: &Cluster,
    scope: &Scope,
    actions: Vec<Action>,
    session: &Session,
    out: &mut dyn Write,
) -> anyhow::Result<(u8, Option<String>)> {
    let opts = plan::execute::Options {
        wait: std::time::Duration::ZERO,
        ..session.plan_options()
    };
    let before = session.history.list()?.len();
    let code = plan::execute::run(cluster, scope, Plan { actions }, &opts, out).await?;
    let id = (session.history.list()?.len() > before)
        .then(|| session.history.find(None).map(|r| r.id))
        .transpose()?;
    Ok((code, id))
}

/// Prints the diagnosis of the app's namespace and ends with the error and the undo command.
async fn unhealthy(
    session: &Session,
    cluster: &Cluster,
    namespace: &str,
    id: Option<&str>,
    cause: Error,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    writeln!(
        out,
        "\nThe app is not healthy ({cause}). Diagnosis of namespace {namespace}:\n"
    )?;
    let ctx = cluster
        .collect(
            Scope::Namespace(namespace.to_string()),
            crate::cluster::logs::Tail::default(),
            session.limits.chunk_size,
        )
        .await?;
    let findings = crate::analyze::analyze(&ctx);
    crate::render::Report::new(&ctx, None, &findings).text(out, &session.palette)?;
    Err(Error::Unhealthy {
        app: format!("namespace {namespace}"),
        undo: id
            .map(|id| format!("; undo the deploy with `kubectl ai undo {id}`"))
            .unwrap_or_default(),
    }
    .into())
}

/// `deploy DIR|FILE`: any manifests, through the same plan, then their rollouts.
async fn deploy_manifests(
    session: &Session,
    skip_image_check: bool,
    what: &str,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let (cluster, scope) = session.live_cluster("deploy").await?;
    let Scope::Namespace(default_ns) = scope.clone() else {
        return Err(Error::Usage("deploy takes one namespace (-n), not -A".into()).into());
    };
    let mut objects = Vec::new();
    for (path, text) in crate::recommend::inventory::read_inputs(Path::new(what))? {
        for doc in crate::recommend::inventory::split_documents(&text) {
            let mut v: Value = serde_saphyr::from_str(doc.text).map_err(|e| Error::Manifest {
                path: format!("{path}:{}", doc.first_line),
                detail: format!(
                    "invalid YAML: {}",
                    e.to_string().lines().next().unwrap_or_default()
                ),
            })?;
            if v.is_null() {
                continue;
            }
            if !v.is_object() {
                return Err(Error::Manifest {
                    path: format!("{path}:{}", doc.first_line),
                    detail:
                        "not a Kubernetes object (a mapping with apiVersion, kind and metadata)"
                            .into(),
                }
                .into());
            }
            if crate::cluster::kinds::is_namespaced(v["kind"].as_str().unwrap_or_default())
                && v.pointer("/metadata/namespace").is_none()
            {
                v["metadata"]["namespace"] = Value::String(default_ns.clone());
            }
            objects.push(v);
        }
    }
    let namespaces: Vec<String> = objects
        .iter()
        .filter_map(|o| o.pointer("/metadata/namespace").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    let mut actions = Vec::new();
    for o in &objects {
        let action = Action::apply_manifest(o.clone(), what).ok_or_else(|| Error::Manifest {
            path: what.to_string(),
            detail: "an object without kind or metadata.name".into(),
        })?;
        actions.push(action);
    }
    // The plan may touch only the namespaces its own manifests name.
    let scope = match namespaces.iter().all(|n| *n == default_ns) {
        true => Scope::Namespace(default_ns),
        false => Scope::AllNamespaces,
    };
    if !skip_image_check && !images::uses(&objects).is_empty() {
        let nodes = match survey::list_nodes(&cluster).await {
            Ok(n) => n,
            Err(e) => {
                eprintln!("note: images on the nodes not checked: {e}");
                Vec::new()
            }
        };
        let nodes = survey::Nodes::read(&nodes);
        preflight(session, &cluster, &nodes, &objects, &[], false, out).await?;
    }
    let (code, id) = apply(&cluster, &scope, actions, session, out).await?;
    if code != exit::OK
        || session.plan.dry_run
        || session.output != Output::Text
        || session.plan.timeout.is_zero()
    {
        return Ok(code);
    }
    let id = id.unwrap_or_else(|| "-".into());
    for o in objects
        .iter()
        .filter(|o| matches!(o["kind"].as_str(), Some("Deployment" | "StatefulSet")))
    {
        let target = ObjectRef::new(
            o["kind"].as_str().unwrap_or_default(),
            o.pointer("/metadata/namespace").and_then(Value::as_str),
            o.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        );
        plan::execute::wait_rollout(&cluster, &target, session.plan.timeout, &id).await?;
        writeln!(out, "{} {target} is ready", session.palette.good("✓"))?;
    }
    Ok(exit::OK)
}

pub(crate) async fn undeploy(
    session: &Session,
    args: &UndeployArgs,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    if !matches!(source_of(&args.what)?, Source::TodoApp) {
        return Err(Error::Usage("undeploy knows the bundled app: todo-app".into()).into());
    }
    let namespace = session
        .scope
        .namespace
        .clone()
        .unwrap_or_else(|| app::NAMESPACE.to_string());
    let (cluster, _) = session.live_cluster("undeploy").await?;
    // Every object the app may have, monitoring included: those absent are skipped below.
    let mut everything = Values::default();
    everything.set("monitoring.enabled", Value::Bool(true))?;
    everything.set("monitoring.backend.enabled", Value::Bool(true))?;
    let mut targets: Vec<ObjectRef> = app::render(&everything, &namespace)
        .iter()
        .map(|o| {
            ObjectRef::new(
                o["kind"].as_str().unwrap_or_default(),
                o.pointer("/metadata/namespace").and_then(Value::as_str),
                o.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            )
        })
        .collect();
    targets.push(ObjectRef::new("Secret", Some(&namespace), app::SECRET));
    // The database's own claims come from the StatefulSet's template, not from the manifests.
    let claims = kube::Api::<k8s_openapi::api::core::v1::PersistentVolumeClaim>::namespaced(
        cluster.client.clone(),
        &namespace,
    )
    .list(&kube::api::ListParams::default().labels("app=postgres"))
    .await
    .map(|l| l.items)
    .unwrap_or_default();
    for c in claims {
        targets.push(ObjectRef::of("PersistentVolumeClaim", &c.metadata));
    }
    let data = |t: &ObjectRef| {
        matches!(t.kind.as_str(), "PersistentVolumeClaim" | "Namespace")
            || (t.kind == "Secret" && t.name == app::SECRET)
    };
    let mut kept = Vec::new();
    let mut actions = Vec::new();
    for t in targets {
        let found = match plan::execute::get(&cluster, &Action::delete(t.clone(), "")).await {
            Ok(found) => found,
            // The operator's kinds where they are not served (or not readable): none of ours.
            Err(_)
                if crate::cluster::kinds::CUSTOM
                    .iter()
                    .any(|k| k.kind == t.kind) =>
            {
                None
            }
            Err(e) => return Err(e.into()),
        };
        if found.is_none() {
            continue;
        }
        if data(&t) && !args.delete_data {
            kept.push(t.to_string());
            continue;
        }
        actions.push(Action::delete(t, "undeploy todo-app"));
    }
    let opts = plan::execute::Options {
        delete_data: args.delete_data,
        ..session.plan_options()
    };
    let code = plan::execute::run(
        &cluster,
        &Scope::Namespace(namespace.clone()),
        Plan { actions },
        &opts,
        out,
    )
    .await?;
    if session.output == Output::Text && !kept.is_empty() {
        writeln!(
            out,
            "Kept (the data and what reads it): {}. Remove them too with --delete-data.",
            kept.join(", ")
        )?;
    }
    Ok(code)
}
