//! `kubectl ai recommend`: read the manifests or the cluster into an inventory, run the rules,
//! drop what the operator accepted, write the report, then (with `--fix`) rewrite the files or
//! apply through the plan pipeline. The exit code says whether anything reached `--fail-on`.

use std::io::Write;

use crate::analyze::Severity;
use crate::cli::RecommendArgs;
use crate::config;
use crate::error::{Error, exit};
use crate::llm::Conversation;
use crate::llm::prompt::{self, Item};
use crate::recommend::inventory::{self, Inventory};
use crate::recommend::policy::{self, Policy};
use crate::recommend::rules::{self, Recommendation, RuleId};
use crate::recommend::{
    EXPLAIN_PROMPT, IGNORE_ANNOTATION, Outcome, output, plan_of, schema, usage, validate, write,
};
use crate::render::Output;
use crate::session::Session;

pub(crate) async fn run(
    session: &Session,
    args: &RecommendArgs,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let file = session.config_file()?;
    let choices = policy::Choices {
        enable: &args.enable,
        disable: &args.disable,
        severity: &args.severity,
    };
    let policy = Policy::new(file.recommend.as_ref(), &choices)?;
    if args.list_rules {
        output::rules(session.output, &policy, out)?;
        return Ok(exit::OK);
    }
    refuse_mixed_fix_flags(args)?;
    let stdin = args.files.iter().any(|f| f.as_os_str() == "-");
    let mut ignore = args.ignore.clone();
    ignore.extend(file.recommend.map(|r| r.ignore).unwrap_or_default());
    let suppress = Suppressions::parse(&ignore)?;
    let (inv, mut found) = inventory(session, args).await?;
    // The process ends soon after the report: freeing every object of a large inventory one by
    // one cost a twentieth of the run, for memory the exit returns at once.
    let inv = std::mem::ManuallyDrop::new(inv);
    found.extend(rules::check_all(&inv));
    let (recommendations, suppressed): (Vec<_>, Vec<_>) = policy
        .apply(found)
        .into_iter()
        .partition(|r| !suppress.silences(&inv, r));

    let mut outcome = Outcome {
        source: inv.source.clone(),
        recommendations,
        suppressed: suppressed.len(),
        fail_on: args.fail_on,
        explanation: None,
    };

    if args.sizing.resources {
        let recs = &outcome.recommendations;
        return usage::resources(session, &inv, recs, args.fix, out).await;
    }
    if args.fix && stdin {
        return print_fixed(&inv, &outcome, out);
    }
    if args.explain {
        outcome.explanation = explain(session, &outcome).await?;
    }
    output::write(session.output, &session.palette, &outcome, out)?;
    if args.fix && args.write {
        return write_fixes(session, &inv, &outcome, out);
    }
    if args.fix {
        return apply_fixes(session, &outcome, out).await;
    }
    Ok(threshold_code(&outcome))
}

/// `--fix` on files rewrites them (`--write`) or prints them (stdin); anything else is a
/// mistake worth one line before any work.
fn refuse_mixed_fix_flags(args: &RecommendArgs) -> Result<(), Error> {
    let stdin = args.files.iter().any(|f| f.as_os_str() == "-");
    if args.write && (args.files.is_empty() || stdin) {
        return Err(Error::Usage(
            "--write rewrites manifest files given with -f (not stdin); for a cluster, --fix alone applies through the plan pipeline".into(),
        ));
    }
    if args.fix && !args.files.is_empty() && !args.write && !stdin {
        return Err(Error::Usage(
            "with -f FILE, --fix rewrites the files: add --write (review with `git diff`), or pipe them through `-f -` to print the fixed manifests".into(),
        ));
    }
    Ok(())
}

/// The objects to check: the cluster's (with usage), or the manifests' with their schema
/// problems, which are findings of their own.
async fn inventory(
    session: &Session,
    args: &RecommendArgs,
) -> anyhow::Result<(Inventory, Vec<Recommendation>)> {
    if args.files.is_empty() {
        let mut inv = inventory::from_context(session.collect().await?);
        usage::attach(session, &args.sizing, &mut inv).await?;
        return Ok((inv, Vec::new()));
    }
    let ns = session.scope.namespace.as_deref().unwrap_or("default");
    let mut inv = inventory::from_manifests(&args.files, ns)?;
    inv.kubernetes_minor = Some(schema::minor(&args.kubernetes_version)?);
    if !args.allow_empty {
        refuse_empty(&inv)?;
    }
    let found = validated(session, args, &inv).await?;
    Ok((inv, found))
}

/// The fixed manifests are the output; the report would corrupt them.
fn print_fixed(inv: &Inventory, outcome: &Outcome, out: &mut dyn Write) -> anyhow::Result<u8> {
    let files = write::rewrite(inv, &outcome.recommendations)?;
    let fixes: usize = files.iter().map(|f| f.fixes).sum();
    for f in &files {
        out.write_all(f.text.as_bytes())?;
    }
    eprintln!("applied {fixes} fix(es) to the manifests on stdout");
    Ok(threshold_code(outcome))
}

fn write_fixes(
    session: &Session,
    inv: &Inventory,
    outcome: &Outcome,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let files = write::rewrite(inv, &outcome.recommendations)?;
    for f in files.iter().filter(|f| f.fixes > 0) {
        std::fs::write(&f.path, &f.text).map_err(|e| Error::Manifest {
            path: f.path.clone(),
            detail: format!("writing: {e}"),
        })?;
        if session.output == Output::Text {
            writeln!(out, "wrote {} fix(es) to {}", f.fixes, f.path)?;
        } else {
            eprintln!("wrote {} fix(es) to {}", f.fixes, f.path);
        }
    }
    Ok(exit::OK)
}

/// A cluster's fixes, through the plan pipeline.
async fn apply_fixes(
    session: &Session,
    outcome: &Outcome,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let actions = plan_of(&outcome.recommendations);
    let (cluster, scope) = session.live_cluster("recommend --fix").await?;
    if session.output == Output::Text {
        writeln!(out)?;
    }
    crate::plan::execute::run(
        &cluster,
        &scope,
        crate::plan::Plan { actions },
        &session.plan_options(),
        out,
    )
    .await
}

/// A file with no objects is a mistake a gate must not pass as "nothing to recommend": a
/// template that rendered to nothing, a wrong path, a truncated pipe.
fn refuse_empty(inv: &Inventory) -> Result<(), Error> {
    let with_objects: std::collections::HashSet<&str> = inv
        .objects
        .iter()
        .filter_map(|o| o.file_line().map(|(f, _)| f))
        .collect();
    match inv.files.iter().find(|(f, _)| !with_objects.contains(f.as_str())) {
        Some((f, _)) => Err(Error::Manifest {
            path: f.clone(),
            detail: "no Kubernetes objects in it (empty, or only `---` and comments); pass --allow-empty if that is expected".into(),
        }),
        None => Ok(()),
    }
}

/// Schema problems of the manifests, with a note for the custom resources left unchecked.
async fn validated(
    session: &Session,
    args: &RecommendArgs,
    inv: &Inventory,
) -> anyhow::Result<Vec<Recommendation>> {
    let against = validate::Against {
        validate: args.validate,
        kubernetes_version: &args.kubernetes_version,
        crd_schemas: &args.crd_schemas,
        schema_cache: session.schema_cache.as_deref(),
    };
    let cluster = match args.validate {
        crate::recommend::Validate::Cluster => Some(
            session
                .live_cluster("recommend --validate cluster")
                .await?
                .0,
        ),
        _ => None,
    };
    let Some((schemas, label)) = validate::schemas(&against, cluster.as_ref(), inv).await? else {
        return Ok(Vec::new());
    };
    let v = validate::check(inv, &schemas, &label);
    if !v.skipped.is_empty() {
        eprintln!(
            "note: not validated, no CustomResourceDefinition known for: {} (check them with --crd-schemas DIR)",
            v.skipped.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(v.findings)
}

fn threshold_code(outcome: &Outcome) -> u8 {
    if outcome.fails() {
        exit::PROBLEMS_FOUND
    } else {
        exit::OK
    }
}

/// Rules the user has accepted: everywhere, or on one object.
#[derive(Debug, Default)]
struct Suppressions {
    everywhere: Vec<RuleId>,
    /// (rule, lowercase kind, name)
    on_object: Vec<(RuleId, String, String)>,
}

impl Suppressions {
    fn parse(entries: &[String]) -> Result<Suppressions, Error> {
        let mut s = Suppressions::default();
        for entry in entries {
            let (rule, object) = match entry.split_once('@') {
                Some((r, o)) => (r, Some(o)),
                None => (entry.as_str(), None),
            };
            let rule = policy::rule(rule, "ignore list")?;
            match object.map(|o| o.split_once('/')) {
                None => s.everywhere.push(rule),
                Some(Some((kind, name))) => {
                    let kind = crate::target::canonical(kind).unwrap_or(kind);
                    s.on_object
                        .push((rule, kind.to_lowercase(), name.to_string()));
                }
                Some(None) => {
                    return Err(Error::Usage(format!(
                        "ignore entry {entry:?}: write RULE or RULE@KIND/NAME"
                    )));
                }
            }
        }
        Ok(s)
    }

    fn silences(&self, inv: &Inventory, r: &Recommendation) -> bool {
        if self.everywhere.contains(&r.rule) {
            return true;
        }
        let kind = r.object.kind.to_lowercase();
        if self
            .on_object
            .iter()
            .any(|(rule, k, n)| *rule == r.rule && *k == kind && *n == r.object.name)
        {
            return true;
        }
        let ns = r.object.namespace.as_deref().unwrap_or_default();
        inv.find(&r.object.kind, ns, &r.object.name)
            .and_then(|o| o.annotation(IGNORE_ANNOTATION))
            .is_some_and(|list| {
                list.split(',')
                    .map(str::trim)
                    .any(|id| id == r.rule.as_str() || id == "all")
            })
    }
}

/// The LLM's summary, grounded in the recommendations only; `None` without an LLM.
async fn explain(session: &Session, outcome: &Outcome) -> anyhow::Result<Option<String>> {
    let settings = session.llm_settings()?;
    if settings.provider == config::Provider::None {
        eprintln!(
            "note: --explain needs an LLM (OPENAI_API_KEY, or OPENAI_BASE_URL for a local server); the recommendations are complete without it"
        );
        return Ok(None);
    }
    let items = outcome
        .recommendations
        .iter()
        .map(|r| Item {
            rank: match r.severity {
                Severity::Error => 0,
                Severity::Warning => 1,
                Severity::Info => 2,
            },
            text: format!(
                "[{}] {} {}: {}{}",
                r.severity,
                r.rule,
                r.object,
                r.message,
                r.fix
                    .as_ref()
                    .map(|f| format!(" (fix: {})", f.summary))
                    .unwrap_or_default()
            ),
        })
        .collect();
    let header = format!(
        "Recommendations for {} ({} in all, {} suppressed by the operator). Summarize them.",
        outcome.source,
        outcome.recommendations.len(),
        outcome.suppressed
    );
    let prompt = prompt::build_once(
        EXPLAIN_PROMPT,
        &header,
        items,
        Vec::new(),
        settings.max_context_tokens,
    )?;
    let conversation = Conversation {
        prompt,
        max_steps: 0,
        runner: None,
    };
    let mut sink = std::io::sink();
    let answer = crate::llm::answer(&settings, conversation, false, false, &mut sink).await?;
    Ok(Some(answer.text.trim().to_string()))
}
