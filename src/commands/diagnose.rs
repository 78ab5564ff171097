//! `kubectl ai diagnose [TARGET]`: collect, analyze, narrow to the target, print the report; with
//! `--fix`, the same diagnosis from the live cluster, then its certain fixes as one plan.

use std::io::Write;

use anyhow::Context as _;

use crate::analyze::{self, Finding};
use crate::cli::DiagnoseArgs;
use crate::cluster::live::Cluster;
use crate::context::{Context, Scope};
use crate::error::exit;
use crate::plan;
use crate::render::{Output, Report};
use crate::session::Session;
use crate::target::Target;
use crate::ui;

pub(crate) async fn run(
    session: &Session,
    args: &DiagnoseArgs,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    if args.fix {
        return fix(session, args, out).await;
    }
    let target = args.target.as_deref().map(Target::parse).transpose()?;
    let ctx = session.collect_for(target.clone()).await?;
    let findings = examine(session, &ctx, target.as_ref()).await?;
    let report = Report::new(&ctx, target.as_ref().map(ToString::to_string), &findings);
    match session.output {
        // Only `recommend` writes SARIF and annotations; the dispatcher refuses them elsewhere.
        Output::Json | Output::Sarif | Output::Github => report.json(out),
        Output::Yaml => report.yaml(out),
        Output::Text => report.text(out, &session.palette),
    }
    .context("writing the report")?;
    out.flush().context("writing the report")?;
    let code = if args.exit_code && report.has_problems() {
        exit::PROBLEMS_FOUND
    } else {
        exit::OK
    };
    // The process ends with this command: freeing a big cluster's objects one by one would be
    // the last tenth of its CPU time (10,000 pods), for memory the exit returns at once.
    drop(report);
    std::mem::forget(ctx);
    Ok(code)
}

/// The findings, narrowed to the target when there is one: what `diagnose` prints and `--fix`
/// plans from.
async fn examine(
    session: &Session,
    ctx: &Context,
    target: Option<&Target>,
) -> anyhow::Result<Vec<Finding>> {
    let mut findings = analyze::analyze(ctx);
    // History explains problems; about a pod with no finding it is not one (so the rest is left).
    let history = crate::prometheus::evidence::recent(session, ctx).await?;
    crate::prometheus::evidence::attach(&mut findings, history);
    Ok(match target {
        Some(t) => t.select(ctx, findings)?,
        None => findings,
    })
}

/// `diagnose --fix`: the diagnosis, then the certain fixes as one plan.
async fn fix(session: &Session, args: &DiagnoseArgs, out: &mut dyn Write) -> anyhow::Result<u8> {
    let target = args.target.as_deref().map(Target::parse).transpose()?;
    let (cluster, scope) = session.live_cluster("--fix").await?;
    let ctx = collect_live(session, &cluster, &scope, target.clone()).await?;
    let findings = examine(session, &ctx, target.as_ref()).await?;
    let actions = plan::fixes::for_findings(&findings);
    if session.output == Output::Text {
        Report::new(&ctx, args.target.clone(), &findings).text(out, &session.palette)?;
        writeln!(out)?;
        if actions.is_empty() {
            writeln!(
                out,
                "No fix is certain enough to apply automatically; the suggestions above say what to change."
            )?;
            return Ok(exit::OK);
        }
    }
    plan::execute::run(
        &cluster,
        &scope,
        plan::Plan { actions },
        &session.plan_options(),
        out,
    )
    .await
}

/// Reads the cluster a plan will be applied to, so the diagnosis and the plan see the same one.
async fn collect_live(
    session: &Session,
    cluster: &Cluster,
    scope: &Scope,
    target: Option<Target>,
) -> Result<Context, crate::error::Error> {
    // The same logs as `diagnose` reads (--logs, --log-pods, the target's), so both see one truth.
    let mut tail = session.limits.tail.clone();
    tail.reach.target = target;
    let _spinner = ui::Spinner::start("Reading the cluster…".into());
    cluster
        .collect(scope.clone(), tail, session.limits.chunk_size)
        .await
}
