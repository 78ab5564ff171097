//! `kubectl ai "question"`: collect, analyze, build one grounded prompt, ask the LLM once, and
//! stream the answer. Without an LLM, the analyzers' findings are the answer.

use std::io::{IsTerminal, Read, Write};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde_json::json;

use super::Intent;
use crate::analyze::Finding;
use crate::config::{LlmSettings, Provider};
use crate::context::Context;
use crate::error::{Error, exit};
use crate::llm::prompt;
use crate::llm::redact::Redactor;
use crate::llm::{self, Answer, Conversation, Grounding, ToolRunner, tools};
use crate::render::{self, Output};
use crate::session::Session;

/// The prompts compiled in; `--prompt-dir` (or `promptDir` in the config file) replaces them with
/// files of the same names.
pub const SYSTEM_PROMPT: &str = include_str!("../../prompts/system.md");
pub const QUESTION_PROMPT: &str = include_str!("../../prompts/question.md");

/// Piped text is kept to its last this-many bytes: the end of a log is where it explains itself.
const MAX_PIPED: usize = 32 * 1024;

pub(crate) async fn run(
    session: &Session,
    words: &str,
    intent: Intent,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let args = &session.llm;
    let mut question = words.to_string();
    // Only the operator's own words can ask for a change (or justify one); piped logs cannot.
    let own_words = question.clone();
    let propose = args.max_steps > 0 && intent.asks_for_change();
    if let Some(piped) = read_piped()? {
        question = format!("{question}\n\n{piped}");
    }
    let settings = session.llm_settings()?;
    let (system, template) = prompts(&settings)?;

    let ctx = session.collect().await?;
    let offered = if args.max_steps > 0 {
        tools::definitions(propose)
    } else {
        Vec::new()
    };
    let history = crate::prometheus::evidence::recent(session, &ctx).await?;
    let grounding = Grounding::new(&ctx, &question, &system, &template)
        .offering(offered)
        .with_history(history);
    let relevant = grounding.relevant.clone();
    let (mut prompt, mut redactor) = grounding.prompt(settings.max_context_tokens)?;

    if args.show_prompt {
        writeln!(
            out,
            "--- system ({} tokens in all{}) ---\n{}\n--- user ---\n{}",
            prompt.tokens,
            tools::describe(&prompt.tools),
            prompt.system,
            prompt.user
        )?;
        return Ok(exit::OK);
    }
    if settings.provider == Provider::None {
        let code = no_llm(session, &ctx, &relevant, out)?;
        fix_hint(session, &ctx, &relevant);
        return Ok(code);
    }

    let stream = !args.no_stream && session.output == Output::Text;
    let shared = Arc::new((ctx.clone(), grounding.findings.clone(), own_words));
    let mut retried = false;
    let answer = loop {
        let conversation = Conversation {
            prompt: prompt.clone(),
            max_steps: args.max_steps,
            runner: Some(tool_runner(shared.clone(), redactor, propose)),
        };
        match llm::answer(
            &settings,
            conversation,
            stream,
            session.output == Output::Text,
            out,
        )
        .await
        {
            Ok(answered) => break answered,
            // One retry with half the evidence when the model's window is smaller than the budget.
            Err(Error::LlmContextLength { .. }) if !retried => {
                retried = true;
                (prompt, redactor) = grounding.prompt(llm::smaller_budget(prompt.tokens))?;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let actions = if propose {
        let (ctx, findings, words) = &*shared;
        proposed(&answer, ctx, findings, words).map_err(Error::InvalidProposal)?
    } else {
        Vec::new()
    };
    if session.output != Output::Text {
        let doc = json!({ "answer": answer.text, "findings": relevant, "model": answer.model,
                          "usage": answer.usage, "proposedChanges": actions });
        write_doc(session.output, &doc, out)?;
        return Ok(exit::OK);
    }
    if actions.is_empty() {
        if !propose {
            fix_hint(session, &ctx, &relevant);
        }
        return Ok(exit::OK);
    }
    writeln!(out)?;
    if !session.is_live() {
        writeln!(
            out,
            "Proposed changes (a snapshot cannot be changed, so these are suggestions only):"
        )?;
        for a in &actions {
            writeln!(out, "  - {}: {}", a.target, a.summary)?;
        }
        return Ok(exit::OK);
    }
    // The model proposed; the same gate as every other change decides.
    let (cluster, scope) = session.live_cluster("applying proposed changes").await?;
    let plan = crate::plan::Plan { actions };
    crate::plan::execute::run(&cluster, &scope, plan, &session.plan_options(), out).await
}

/// After an answer that proposed nothing: how to apply the analyzers' certain fixes, if any.
fn fix_hint(session: &Session, ctx: &Context, relevant: &[Finding]) {
    if session.output != Output::Text || !session.is_live() {
        return;
    }
    let fixes = crate::plan::fixes::for_findings(relevant);
    if fixes.is_empty() {
        return;
    }
    let scope = match &ctx.scope {
        crate::context::Scope::Namespace(ns) => format!(" -n {ns}"),
        crate::context::Scope::AllNamespaces => " -A".into(),
    };
    eprintln!(
        "hint: {} automatic fix(es) available: `kubectl ai diagnose --fix{scope}` shows the diff and asks before applying, or ask for the change in words (\"fix ...\")",
        fixes.len()
    );
}

/// The changes the model proposed in its answer, or why the first unreadable one was refused.
fn proposed(
    answer: &Answer,
    ctx: &Context,
    findings: &[Finding],
    words: &str,
) -> Result<Vec<crate::plan::Action>, String> {
    let mut actions = Vec::new();
    for call in answer.calls_to(crate::plan::proposal::TOOL) {
        actions.extend(parse_proposal(&call.arguments, ctx, findings, words)?);
    }
    Ok(actions)
}

fn parse_proposal(
    arguments: &str,
    ctx: &Context,
    findings: &[Finding],
    words: &str,
) -> Result<Vec<crate::plan::Action>, String> {
    let namespace = match &ctx.scope {
        crate::context::Scope::Namespace(ns) => Some(ns.as_str()),
        crate::context::Scope::AllNamespaces => None,
    };
    crate::plan::proposal::parse(arguments, ctx, findings, words, namespace)
}

/// Tool results are evidence like any other: redacted with the prompt's own placeholders, fenced
/// as data, and capped. Proposals are parsed strictly and kept for the plan pipeline.
fn tool_runner(
    shared: Arc<(Context, Vec<Finding>, String)>,
    redactor: Redactor,
    propose: bool,
) -> ToolRunner {
    // The redactor keeps its placeholders across calls, so the same secret reads the same.
    let redactor = Mutex::new(redactor);
    Arc::new(move |name: &str, arguments: &str| {
        let (ctx, findings, words) = &*shared;
        if name == crate::plan::proposal::TOOL && propose {
            // Read again from the answer's calls once it is complete (`proposed`).
            return match parse_proposal(arguments, ctx, findings, words) {
                Ok(actions) => format!(
                    "Recorded {} proposed change(s). kubectl-ai will validate them, show the operator a diff and ask before applying anything; do not say they are applied.",
                    actions.len()
                ),
                Err(e) => format!("{e}. Nothing will be applied."),
            };
        }
        let text = tools::run(ctx, name, arguments);
        let redacted = redactor.lock().expect("poisoned").redact(&text);
        let body = prompt::cap(&prompt::fence_safe(&redacted), prompt::ITEM_CAP);
        format!("{}\n{body}\n{}", prompt::OPEN, prompt::CLOSE)
    })
}

fn prompts(settings: &LlmSettings) -> Result<(String, String), Error> {
    let Some(dir) = &settings.prompt_dir else {
        return Ok((SYSTEM_PROMPT.to_string(), QUESTION_PROMPT.to_string()));
    };
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|e| Error::Prompt {
            path,
            detail: e.to_string(),
        })
    };
    Ok((read("system.md")?, read("question.md")?))
}

/// `kubectl logs x | kubectl ai "explain this"`: the piped text follows the question.
fn read_piped() -> anyhow::Result<Option<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut buf = Vec::new();
    stdin
        .lock()
        .read_to_end(&mut buf)
        .context("reading standard input")?;
    let text = String::from_utf8_lossy(&buf);
    let text = crate::cluster::logs::Tail {
        lines: usize::MAX,
        bytes: MAX_PIPED,
        ..Default::default()
    }
    .apply(&text);
    Ok((!text.trim().is_empty()).then_some(text))
}

fn no_llm(
    session: &Session,
    ctx: &Context,
    findings: &[Finding],
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    eprintln!(
        "note: no LLM configured, so this is the analyzers' answer; set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server such as Ollama (http://localhost:11434/v1), to get one in plain words"
    );
    match session.output {
        Output::Text => render::Report::new(ctx, None, findings).text(out, &session.palette)?,
        format => write_doc(
            format,
            &json!({ "answer": null, "findings": findings, "model": null, "usage": null }),
            out,
        )?,
    }
    Ok(exit::OK)
}

fn write_doc(format: Output, doc: &serde_json::Value, out: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        Output::Yaml => out.write_all(serde_saphyr::to_string(doc)?.as_bytes())?,
        _ => writeln!(out, "{}", serde_json::to_string_pretty(doc)?)?,
    }
    Ok(())
}
