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
pub mod doctor;
pub mod error;
pub mod llm;
pub mod metrics;
pub mod quantity;
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
    match cli.command {
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
        Some(Command::Ask { question }) => ask::run(&cli.global, &cli.llm, &question, out).await,
        None if !cli.question.is_empty() => {
            ask::run(&cli.global, &cli.llm, &cli.question, out).await
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
    let ctx = collect_context(global).await?;
    let mut findings = analyze::analyze(&ctx);
    if let Some(t) = &target {
        findings = t.select(&ctx, findings)?;
    }
    let report = render::Report::new(&ctx, target.as_ref().map(ToString::to_string), &findings);
    match global.output {
        Output::Json => report.json(out),
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

/// Reads the cluster (or snapshot) the global flags point at.
pub(crate) async fn collect_context(global: &Global) -> Result<context::Context, error::Error> {
    let source = source(global);
    let scope = ScopeRequest {
        namespace: global.namespace.clone(),
        all_namespaces: global.all_namespaces,
    };
    let limits = Limits {
        chunk_size: global.chunk_size,
        ..Limits::default()
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
        Output::Json => writeln!(out, "{}", serde_json::json!({ "version": v }))?,
        Output::Yaml => writeln!(out, "version: {v}")?,
    }
    Ok(exit::OK)
}
