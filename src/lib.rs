//! kubectl-ai: find what is broken in a Kubernetes cluster, from the cluster's own facts.
//!
//! The data flows one way: a source ([`cluster`]) fills a [`context::Context`], the analyzers
//! ([`analyze`]) turn it into findings, and [`render`] prints them. `main.rs` only parses
//! arguments, sets up logging and maps the outcome to an exit code.

pub mod analyze;
pub mod ask;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod context;
pub mod deploy;
pub mod doctor;
pub mod error;
pub mod generate;
pub mod llm;
pub mod metrics;
pub mod plan;
pub mod quantity;
pub mod recommend;
pub mod render;
pub mod target;
pub mod ui;

use std::io::Write;

use anyhow::Context as _;
use clap::CommandFactory;

use cli::{Cli, Command, Global, Output};
use cluster::{Limits, ScopeRequest, Source};
use error::exit;

/// Runs one command, writing its result to `out`; returns the exit code.
pub async fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<u8> {
    if matches!(cli.global.output, Output::Sarif | Output::Github)
        && !matches!(cli.command, Some(Command::Recommend(_)))
    {
        return Err(error::Error::Usage(
            "-o sarif and -o github are formats of `kubectl ai recommend`; use text, json or yaml here".into(),
        )
        .into());
    }
    match cli.command {
        Some(Command::Deploy(args)) => {
            deploy::deploy(&cli.global, &cli.llm, &cli.plan, &args, out).await
        }
        Some(Command::Undeploy(args)) => deploy::undeploy(&cli.global, &cli.plan, &args, out).await,
        Some(Command::Recommend(args)) => {
            recommend::run(&cli.global, &cli.llm, &cli.plan, &args, out).await
        }
        Some(Command::Diagnose(args)) if args.fix => fix(&cli.global, &args, &cli.plan, out).await,
        Some(Command::History) => history(cli.global.output, out),
        Some(Command::Undo { id }) => undo(&cli.global, id.as_deref(), &cli.plan, out).await,
        Some(Command::Diagnose(args)) => {
            diagnose(&cli.global, args.target.as_deref(), args.exit_code, out).await
        }
        Some(Command::Version) => version(cli.global.output, out),
        Some(Command::Config { no_check }) => {
            doctor::run(&cli.llm, cli.global.output, !no_check, out).await
        }
        Some(Command::Completion { shell }) => {
            clap_complete::generate(shell, &mut Cli::command(), "kubectl-ai", out);
            Ok(exit::OK)
        }
        Some(Command::Ask { question }) => {
            ask::run(&cli.global, &cli.llm, &cli.plan, &question, out).await
        }
        None if !cli.question.is_empty() => {
            let words = cli.question.join(" ");
            if !cli.files.is_empty() || generate::is_request(&words) {
                let request = generate::Request {
                    words,
                    files: &cli.files,
                    write: cli.write,
                };
                generate::run(&cli.global, &cli.llm, &cli.plan, request, out).await
            } else {
                ask::run(&cli.global, &cli.llm, &cli.plan, &cli.question, out).await
            }
        }
        None => {
            write!(out, "{}", Cli::command().render_long_help())?;
            Ok(exit::OK)
        }
    }
}

pub(crate) fn source(global: &Global) -> Source {
    if global.demo {
        Source::Snapshot(cluster::snapshot::Root::Demo)
    } else if let Some(dir) = &global.snapshot {
        Source::Snapshot(cluster::snapshot::Root::Dir(dir.clone()))
    } else {
        Source::Live(cluster::live::ConnectOptions {
            kubeconfig: global.kubeconfig.clone(),
            context: global.context.clone(),
            request_timeout: (!global.request_timeout.is_zero()).then_some(global.request_timeout),
        })
    }
}

async fn diagnose(
    global: &Global,
    target: Option<&str>,
    exit_code: bool,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let target = target.map(target::Target::parse).transpose()?;
    let ctx = collect_context_for(global, target.clone()).await?;
    let mut findings = analyze::analyze(&ctx);
    if let Some(t) = &target {
        findings = t.select(&ctx, findings)?;
    }
    let report = render::Report::new(&ctx, target.as_ref().map(ToString::to_string), &findings);
    match global.output {
        // Only `recommend` writes SARIF and annotations; `run` refuses them elsewhere.
        Output::Json | Output::Sarif | Output::Github => report.json(out),
        Output::Yaml => report.yaml(out),
        Output::Text => report.text(out, &ui::Palette::for_stdout(global.no_color)),
    }
    .context("writing the report")?;
    out.flush().context("writing the report")?;
    Ok(if exit_code && report.has_problems() {
        exit::PROBLEMS_FOUND
    } else {
        exit::OK
    })
}

/// The live cluster and the scope the flags ask for; plans need one, snapshots cannot change.
pub(crate) async fn live_cluster(
    global: &Global,
    what: &'static str,
) -> Result<(cluster::live::Cluster, context::Scope), error::Error> {
    let Source::Live(opts) = source(global) else {
        return Err(error::Error::NeedsLive(what));
    };
    let cluster = cluster::live::Cluster::connect(&opts).await?;
    let scope = if global.all_namespaces {
        context::Scope::AllNamespaces
    } else {
        context::Scope::Namespace(
            global
                .namespace
                .clone()
                .unwrap_or_else(|| cluster.default_namespace.clone()),
        )
    };
    Ok((cluster, scope))
}

pub(crate) fn plan_options(global: &Global, args: &cli::PlanArgs) -> plan::execute::Options {
    plan::execute::Options {
        yes: args.yes,
        dry_run: args.dry_run,
        output: global.output,
        palette: ui::Palette::for_stdout(global.no_color),
        wait: args.timeout,
        delete_data: false,
        allow_delete: args.allow_delete,
    }
}

/// `diagnose --fix`: the diagnosis, then the certain fixes as one plan.
async fn fix(
    global: &Global,
    args: &cli::DiagnoseArgs,
    plan_args: &cli::PlanArgs,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let (cluster, scope) = live_cluster(global, "--fix").await?;
    let ctx = {
        let _spinner = ui::Spinner::start("Reading the cluster…".into());
        cluster
            .collect(
                scope.clone(),
                cluster::logs::Tail::default(),
                global.chunk_size,
            )
            .await?
    };
    let mut findings = analyze::analyze(&ctx);
    if let Some(t) = args
        .target
        .as_deref()
        .map(target::Target::parse)
        .transpose()?
    {
        findings = t.select(&ctx, findings)?;
    }
    let actions = plan::fixes::for_findings(&ctx, &findings);
    if global.output == Output::Text {
        render::Report::new(&ctx, args.target.clone(), &findings)
            .text(out, &ui::Palette::for_stdout(global.no_color))?;
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
        &plan_options(global, plan_args),
        out,
    )
    .await
}

fn history(output: Output, out: &mut dyn Write) -> anyhow::Result<u8> {
    let records = plan::history::list()?;
    match output {
        // Only `recommend` writes SARIF and annotations; `run` refuses them elsewhere.
        Output::Json | Output::Sarif | Output::Github => {
            writeln!(out, "{}", serde_json::to_string_pretty(&records)?)?
        }
        Output::Yaml => out.write_all(serde_saphyr::to_string(&records)?.as_bytes())?,
        Output::Text if records.is_empty() => writeln!(out, "No changes recorded yet.")?,
        Output::Text => {
            writeln!(out, "{:<20} {:<22} CHANGES", "ID", "APPLIED")?;
            for r in &records {
                let changes: Vec<String> = r
                    .changes
                    .iter()
                    .map(|c| format!("{}: {}", c.target, c.summary))
                    .collect();
                writeln!(
                    out,
                    "{:<20} {:<22} {}",
                    r.id,
                    r.at.split('.').next().unwrap_or(&r.at),
                    changes.join("; ")
                )?;
            }
        }
    }
    Ok(exit::OK)
}

async fn undo(
    global: &Global,
    id: Option<&str>,
    args: &cli::PlanArgs,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let record = plan::history::find(id)?;
    let (cluster, _) = live_cluster(global, "undo").await?;
    if record.cluster != cluster.description {
        return Err(error::Error::PlanRefused(format!(
            "change {} was applied to {}, but the current cluster is {}; switch to that context first",
            record.id, record.cluster, cluster.description
        ))
        .into());
    }
    let plan = plan::history::undo_plan(&record);
    plan::execute::run(
        &cluster,
        &context::Scope::AllNamespaces,
        plan,
        &plan_options(global, args),
        out,
    )
    .await
}

/// Reads the cluster (or snapshot) the global flags point at.
pub(crate) async fn collect_context(global: &Global) -> Result<context::Context, error::Error> {
    collect_context_for(global, None).await
}

/// Reads the cluster for a diagnosis of `target`, whose pods have all their logs read.
async fn collect_context_for(
    global: &Global,
    target: Option<target::Target>,
) -> Result<context::Context, error::Error> {
    let source = source(global);
    let scope = ScopeRequest {
        namespace: global.namespace.clone(),
        all_namespaces: global.all_namespaces,
    };
    let limits = Limits {
        chunk_size: global.chunk_size,
        tail: cluster::logs::Tail {
            reach: cluster::logs::Reach {
                all: global.logs,
                namespace_pods: global.log_pods,
                target,
            },
            ..Default::default()
        },
    };
    // Only a live cluster makes anyone wait; a snapshot reads in milliseconds.
    let _spinner = matches!(source, Source::Live(_))
        .then(|| ui::Spinner::start("Reading the cluster…".into()));
    cluster::collect(&source, &scope, limits).await
}

fn version(output: Output, out: &mut dyn Write) -> anyhow::Result<u8> {
    let v = env!("CARGO_PKG_VERSION");
    match output {
        Output::Text => writeln!(out, "kubectl-ai {v}")?,
        // Only `recommend` writes SARIF and annotations; `run` refuses them elsewhere.
        Output::Json | Output::Sarif | Output::Github => {
            writeln!(out, "{}", serde_json::json!({ "version": v }))?
        }
        Output::Yaml => writeln!(out, "version: {v}")?,
    }
    Ok(exit::OK)
}
