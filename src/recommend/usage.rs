//! Where `recommend` gets usage: the Prometheus history when there is one, one metrics.k8s.io
//! sample otherwise (said so); and `--resources`, the per-container sizing report.

use std::io::Write;

use serde::Serialize;

use super::inventory::Inventory;
use super::rules::{Recommendation, RuleId};
use super::sizing::{Proposal, Sizing, SizingArgs, quantity_text};
use crate::context::Scope;
use crate::prometheus::{self, Connection, queries};
use crate::render::Output;
use crate::session::Session;

/// Reads the history into the inventory of a live cluster; notes on stderr say what was used.
pub(crate) async fn attach(
    session: &Session,
    args: &SizingArgs,
    inv: &mut Inventory,
) -> Result<(), crate::error::Error> {
    let Some(ctx) = inv.live.as_ref() else {
        return Ok(());
    };
    let one_sample = "rightsizing uses one metrics.k8s.io sample";
    let prom = match prometheus::connect(session).await? {
        Connection::Ready(p) => p,
        Connection::Off => return Ok(()),
        Connection::NotFound => {
            eprintln!(
                "note: no Prometheus found in the cluster; {one_sample} (pass --prometheus URL for a usage history)"
            );
            return Ok(());
        }
        Connection::Failed(why) => {
            eprintln!("note: {why}; {one_sample}");
            return Ok(());
        }
    };
    let strategy = args.strategy();
    let ask = queries::Ask {
        namespace: match &ctx.scope {
            Scope::Namespace(ns) => Some(ns.clone()),
            Scope::AllNamespaces => None,
        },
        window: args.window,
        end: prometheus::now(),
        cpu_quantile: strategy.cpu_quantile,
        hpas: inv.of_kind("HorizontalPodAutoscaler").next().is_some(),
        incidents_only: false,
    };
    let spinner = crate::ui::Spinner::start(format!(
        "Reading {} of history from Prometheus…",
        prometheus::history::span(args.window.as_secs_f64())
    ));
    let fetched = queries::fetch(&prom, &ask).await;
    drop(spinner);
    match fetched {
        Ok(history) if history.containers.is_empty() => eprintln!(
            "note: Prometheus at {} has no container metrics (cAdvisor) for this scope; {one_sample}",
            prom.describe
        ),
        Ok(history) => {
            inv.source = format!(
                "{}, with {} of Prometheus history",
                inv.source,
                history.window_text()
            );
            inv.sizing = Some(Sizing { history, strategy });
        }
        Err(e) => eprintln!("note: {e}; {one_sample}"),
    }
    Ok(())
}

/// One container's row of the `--resources` report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    kind: String,
    namespace: String,
    name: String,
    container: String,
    replicas: i32,
    /// "prometheus" or "metrics.k8s.io sample".
    basis: &'static str,
    #[serde(flatten)]
    proposal: Option<Proposal>,
    /// The one sample, when there is no history: (millicores, bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    sample: Option<Sample>,
}

#[derive(Debug, Serialize)]
struct Sample {
    cpu: u64,
    memory: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    api_version: &'static str,
    kind: &'static str,
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_percentile: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_headroom: Option<f64>,
    containers: Vec<Row>,
}

/// `recommend --resources`: every container's sizing, then with `--fix` the changes through the
/// plan pipeline.
pub(crate) async fn resources(
    session: &Session,
    inv: &Inventory,
    recs: &[Recommendation],
    fix: bool,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    if inv.live.is_none() {
        return Err(crate::error::Error::Usage(
            "--resources sizes running containers: use it on a cluster (or --snapshot), not on -f manifests".into(),
        )
        .into());
    }
    if matches!(session.output, Output::Sarif | Output::Github) {
        return Err(crate::error::Error::Usage(
            "--resources writes text, json or yaml (-o sarif and github are for the rules)".into(),
        )
        .into());
    }
    let rows = rows(inv);
    let report = Report {
        api_version: "kubectl-ai.io/v1alpha1",
        kind: "ResourceSizing",
        source: &inv.source,
        window: inv.sizing.as_ref().map(|s| s.history.window_text()),
        cpu_percentile: inv.sizing.as_ref().map(|s| s.strategy.cpu_quantile * 100.0),
        memory_headroom: inv
            .sizing
            .as_ref()
            .map(|s| s.strategy.memory_headroom * 100.0),
        containers: rows,
    };
    match session.output {
        Output::Text => text(&report, inv.sizing.as_ref(), out)?,
        Output::Yaml => out.write_all(serde_saphyr::to_string(&report)?.as_bytes())?,
        _ => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
    }
    if !fix {
        return Ok(crate::error::exit::OK);
    }
    let sizing_rules = [
        RuleId::Rightsizing,
        RuleId::OomKillsSeen,
        RuleId::CpuThrottled,
        RuleId::RequestsMissing,
    ];
    let chosen: Vec<Recommendation> = recs
        .iter()
        .filter(|r| sizing_rules.contains(&r.rule))
        .cloned()
        .collect();
    let (cluster, scope) = session.live_cluster("recommend --resources --fix").await?;
    if session.output == Output::Text {
        writeln!(out)?;
    }
    crate::plan::execute::run(
        &cluster,
        &scope,
        crate::plan::Plan {
            actions: super::plan_of(&chosen),
        },
        &session.plan_options(),
        out,
    )
    .await
}

fn rows(inv: &Inventory) -> Vec<Row> {
    let mut rows = Vec::new();
    for w in inv.workloads().iter().filter(|w| w.long_running) {
        for c in &w.spec.containers {
            let proposal = inv
                .sizing
                .as_ref()
                .and_then(|s| super::rules::history_proposal(inv, s, w, &c.name));
            let sample = proposal
                .is_none()
                .then(|| inv.usage(w, &c.name))
                .flatten()
                .map(|(cpu, memory)| Sample { cpu, memory });
            if proposal.is_none() && sample.is_none() {
                continue;
            }
            rows.push(Row {
                kind: w.object.kind().to_string(),
                namespace: w.object.namespace().to_string(),
                name: w.object.oref.name.clone(),
                container: c.name.clone(),
                replicas: w.replicas_or_one(),
                basis: if proposal.is_some() {
                    "prometheus"
                } else {
                    "metrics.k8s.io sample"
                },
                proposal,
                sample,
            });
        }
    }
    rows
}

fn text(report: &Report<'_>, sizing: Option<&Sizing>, out: &mut dyn Write) -> std::io::Result<()> {
    match sizing {
        Some(s) => writeln!(
            out,
            "Requests and limits from {} of Prometheus history ({}): CPU at p{:.0} of the 5m rate, memory at the peak working set + {:.0}%",
            s.history.window_text(),
            s.history.source,
            s.strategy.cpu_quantile * 100.0,
            s.strategy.memory_headroom * 100.0
        )?,
        None => writeln!(
            out,
            "Usage from one metrics.k8s.io sample ({}): no history, so no sizing is proposed here (give --prometheus URL)",
            report.source
        )?,
    }
    if report.containers.is_empty() {
        return writeln!(out, "\nNo container usage known for this scope.");
    }
    let (mut cpu, mut memory) = (0, 0);
    for r in &report.containers {
        if let Some(p) = &r.proposal {
            let (c, m) = p.freed();
            cpu += c * i64::from(r.replicas.max(1));
            memory += m * i64::from(r.replicas.max(1));
        }
        writeln!(
            out,
            "\n{}/{} -n {} container {}",
            r.kind.to_lowercase(),
            r.name,
            r.namespace,
            r.container
        )?;
        match (&r.proposal, &r.sample) {
            (Some(p), _) => proposal_text(p, r.replicas, out)?,
            (None, Some(s)) => writeln!(
                out,
                "  now using {} CPU, {} memory (one sample: a pod that idles now may spike later)",
                quantity_text("cpu", s.cpu),
                quantity_text("memory", s.memory)
            )?,
            (None, None) => {}
        }
    }
    if let Some(total) = super::sizing::effect_text(cpu, memory) {
        writeln!(out, "\nIn all: {total} requested.")?;
    }
    Ok(())
}

fn proposal_text(p: &Proposal, replicas: i32, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "  {}", p.confidence_text())?;
    let observed: Vec<String> = [
        p.cpu_observed
            .map(|c| format!("CPU {}", quantity_text("cpu", c))),
        p.memory_peak
            .map(|m| format!("memory peak {}", quantity_text("memory", m))),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !observed.is_empty() {
        writeln!(out, "  observed: {}", observed.join(", "))?;
    }
    let risks = p.risks();
    if !risks.is_empty() {
        writeln!(out, "  risk: {}", risks.join(", "))?;
    }
    if !p.changes_anything() {
        let why = if p.confidence == super::sizing::Confidence::Low {
            "too little history to propose a change"
        } else {
            "the current values fit the history"
        };
        return writeln!(out, "  no change: {why}");
    }
    for c in p.changes() {
        writeln!(out, "  {c}")?;
    }
    if let Some(e) = p.effect(replicas) {
        writeln!(out, "  {e}")?;
    }
    Ok(())
}
