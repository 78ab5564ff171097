//! `kubectl ai "question"`: collect, analyze, build one grounded prompt, ask the LLM once, and
//! stream the answer. Without an LLM, the analyzers' findings are the answer.

use std::io::{IsTerminal, Read, Write};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde_json::json;

use crate::analyze::{self, Finding};
use crate::cli::{Global, LlmArgs, Output, PlanArgs};
use crate::config::{self, LlmFlags, LlmSettings, Provider};
use crate::context::Context;
use crate::error::{Error, exit};
use crate::llm::prompt::{self, Prompt};
use crate::llm::redact::Redactor;
use crate::llm::{self, Chunk, Conversation, ToolRunner, Usage, tools};
use crate::{render, ui};

/// The prompts compiled in; `--prompt-dir` (or `promptDir` in the config file) replaces them with
/// files of the same names.
pub const SYSTEM_PROMPT: &str = include_str!("../prompts/system.md");
pub const QUESTION_PROMPT: &str = include_str!("../prompts/question.md");

/// Piped text is kept to its last this-many bytes: the end of a log is where it explains itself.
const MAX_PIPED: usize = 32 * 1024;

pub async fn run(
    global: &Global,
    args: &LlmArgs,
    plan_args: &PlanArgs,
    words: &[String],
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let mut question = words.join(" ");
    // Only the operator's own words can ask for a change (or justify one); piped logs cannot.
    let own_words = question.clone();
    let propose = args.max_steps > 0 && asks_for_change(&question);
    if let Some(piped) = read_piped()? {
        question = format!("{question}\n\n{piped}");
    }
    let settings = settings(args)?;
    let (system, template) = prompts(&settings)?;

    let ctx = crate::collect_context(global).await?;
    let offered = if args.max_steps > 0 {
        tools::definitions(propose)
    } else {
        Vec::new()
    };
    let history = crate::prometheus::evidence::recent(global, &ctx).await?;
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
        let code = no_llm(global, &ctx, &relevant, out)?;
        fix_hint(global, &ctx, &relevant);
        return Ok(code);
    }

    let stream = !args.no_stream && global.output == Output::Text;
    let proposals = Arc::new(Mutex::new(Proposals::default()));
    let shared = Arc::new((ctx.clone(), grounding.findings.clone(), own_words));
    let mut retried = false;
    let (text, model, usage) = loop {
        let conversation = Conversation {
            prompt: prompt.clone(),
            max_steps: args.max_steps,
            runner: Some(tool_runner(
                shared.clone(),
                redactor,
                proposals.clone(),
                propose,
            )),
        };
        match answer(
            &settings,
            conversation,
            stream,
            global.output == Output::Text,
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
    let proposals = std::mem::take(&mut *proposals.lock().expect("poisoned"));
    if let Some(error) = proposals.errors.into_iter().next() {
        return Err(Error::InvalidProposal(error).into());
    }
    if global.output != Output::Text {
        let doc = json!({ "answer": text, "findings": relevant, "model": model, "usage": usage,
                          "proposedChanges": proposals.actions });
        write_doc(global.output, &doc, out)?;
        return Ok(exit::OK);
    }
    if proposals.actions.is_empty() {
        if !propose {
            fix_hint(global, &ctx, &relevant);
        }
        return Ok(exit::OK);
    }
    writeln!(out)?;
    if !matches!(crate::source(global), crate::cluster::Source::Live(_)) {
        writeln!(
            out,
            "Proposed changes (a snapshot cannot be changed, so these are suggestions only):"
        )?;
        for a in &proposals.actions {
            writeln!(out, "  - {}: {}", a.target, a.summary)?;
        }
        return Ok(exit::OK);
    }
    // The model proposed; the same gate as every other change decides.
    let (cluster, scope) = crate::live_cluster(global, "applying proposed changes").await?;
    let plan = crate::plan::Plan {
        actions: proposals.actions,
    };
    crate::plan::execute::run(
        &cluster,
        &scope,
        plan,
        &crate::plan_options(global, plan_args),
        out,
    )
    .await
}

/// Whether the operator asks for a change rather than only an explanation. Only then is the model
/// offered `propose_changes`: its schema costs more tokens than the evidence of most questions, and
/// the system prompt forbids proposing what nobody asked for anyway. A question mistaken for a
/// request only costs tokens; a request mistaken for a question gets advice and `fix_hint`.
pub fn asks_for_change(question: &str) -> bool {
    const VERBS: &[&str] = &[
        "add",
        "apply",
        "autoscale",
        "bump",
        "change",
        "decrease",
        "delete",
        "downgrade",
        "edit",
        "fix",
        "increase",
        "label",
        "lower",
        "patch",
        "raise",
        "remove",
        "resize",
        "restart",
        "revert",
        "rollback",
        "roll",
        "scale",
        "set",
        "update",
        "upgrade",
    ];
    // "why does it not scale" asks about scaling; "why is it down? fix it" asks for a fix.
    const QUESTION: &[&str] = &[
        "why", "what", "how", "where", "when", "which", "who", "is", "are", "does", "do", "did",
        "was", "were", "has", "have",
    ];
    question
        .split(['?', '.', '!', ';', '\n'])
        .map(|sentence| {
            sentence
                .split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .filter(|words| {
            !words
                .first()
                .is_some_and(|w| QUESTION.contains(&w.as_str()))
        })
        .any(|words| words.iter().any(|w| VERBS.contains(&w.as_str())))
}

/// After an answer that proposed nothing: how to apply the analyzers' certain fixes, if any.
fn fix_hint(global: &Global, ctx: &Context, relevant: &[Finding]) {
    if global.output != Output::Text
        || !matches!(crate::source(global), crate::cluster::Source::Live(_))
    {
        return;
    }
    let fixes = crate::plan::fixes::for_findings(ctx, relevant);
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

/// Changes the model proposed during one conversation, or why they could not be read.
#[derive(Default)]
struct Proposals {
    actions: Vec<crate::plan::Action>,
    errors: Vec<String>,
}

/// Everything a prompt is made from: the question, the findings and what it names.
pub struct Grounding<'a> {
    ctx: &'a Context,
    /// Every finding, for the prompt and for proposals that name one.
    pub findings: Vec<Finding>,
    named: std::collections::BTreeSet<crate::context::ObjectRef>,
    system: String,
    header: String,
    /// The findings about what the question names (all of them when it names nothing).
    pub relevant: Vec<Finding>,
    /// The tools offered beside the prompt: part of its budget.
    tools: Vec<async_openai::types::chat::ChatCompletionTools>,
    /// Prometheus history that no finding took as evidence.
    history: Vec<crate::prometheus::evidence::Note>,
}

impl<'a> Grounding<'a> {
    pub fn new(ctx: &'a Context, question: &str, system: &str, template: &str) -> Self {
        let findings = analyze::analyze(ctx);
        let named = prompt::objects_named(ctx, question);
        let relevant = findings
            .iter()
            .filter(|f| prompt::is_about(ctx, &named, f))
            .cloned()
            .collect();
        let relevance = if named.is_empty() {
            "The question names no object; everything in scope is included.".to_string()
        } else {
            let names: Vec<String> = named.iter().map(ToString::to_string).collect();
            format!("The question is about: {}.", names.join(", "))
        };
        let header = template
            .replace("{question}", question.trim())
            .replace("{scope}", &format!("{} ({})", ctx.scope, ctx.source))
            .replace("{relevance}", &relevance);
        Grounding {
            ctx,
            findings,
            named,
            system: system.to_string(),
            header,
            relevant,
            tools: Vec::new(),
            history: Vec::new(),
        }
    }

    /// Adds the Prometheus history: evidence of the findings about its pods, items of its own
    /// otherwise; both count against the budget like everything else.
    pub(crate) fn with_history(mut self, notes: Vec<crate::prometheus::evidence::Note>) -> Self {
        use crate::prometheus::evidence::attach;
        attach(&mut self.relevant, notes.clone());
        self.history = attach(&mut self.findings, notes);
        self
    }

    /// The tools to offer with the prompt; their definitions count against its budget.
    pub fn offering(mut self, tools: Vec<async_openai::types::chat::ChatCompletionTools>) -> Self {
        self.tools = tools;
        self
    }

    /// The prompt within `budget` tokens (tool definitions included), and the redactor whose
    /// placeholders it uses.
    pub fn prompt(&self, budget: usize) -> Result<(Prompt, Redactor), Error> {
        let mut redactor = Redactor::new();
        let mut items = prompt::items(self.ctx, &self.findings, &self.named);
        items.extend(prompt::history_items(self.ctx, &self.named, &self.history));
        let p = prompt::build(
            &self.system,
            &self.header,
            items,
            self.tools.clone(),
            budget,
            &mut redactor,
        )
        .map_err(|needed| Error::BudgetTooSmall { budget, needed })?;
        tracing::info!(
            prompt_tokens = p.tokens,
            tool_tokens = tools::tokens(&p.tools),
            budget,
            items_included = p.included,
            items_omitted = p.omitted,
            secrets_redacted = redactor.count(),
            "prompt built"
        );
        Ok((p, redactor))
    }
}

/// Tool results are evidence like any other: redacted with the prompt's own placeholders, fenced
/// as data, and capped. Proposals are parsed strictly and kept for the plan pipeline.
fn tool_runner(
    shared: Arc<(Context, Vec<Finding>, String)>,
    redactor: Redactor,
    proposals: Arc<Mutex<Proposals>>,
    propose: bool,
) -> ToolRunner {
    let redactor = Mutex::new(redactor);
    Arc::new(move |name: &str, arguments: &str| {
        let (ctx, findings, words) = &*shared;
        if name == crate::plan::proposal::TOOL && propose {
            let namespace = match &ctx.scope {
                crate::context::Scope::Namespace(ns) => Some(ns.as_str()),
                crate::context::Scope::AllNamespaces => None,
            };
            let mut kept = proposals.lock().expect("poisoned");
            return match crate::plan::proposal::parse(arguments, ctx, findings, words, namespace) {
                Ok(actions) => {
                    let n = actions.len();
                    kept.actions.extend(actions);
                    format!(
                        "Recorded {n} proposed change(s). kubectl-ai will validate them, show the operator a diff and ask before applying anything; do not say they are applied."
                    )
                }
                Err(e) => {
                    kept.errors.push(e.clone());
                    format!("{e}. Nothing will be applied.")
                }
            };
        }
        let text = tools::run(ctx, name, arguments);
        let redacted = redactor.lock().expect("poisoned").redact(&text);
        let body = prompt::cap(&prompt::fence_safe(&redacted), prompt::ITEM_CAP);
        format!("{}\n{body}\n{}", prompt::OPEN, prompt::CLOSE)
    })
}

/// The effective LLM settings: flags over environment over config file over defaults.
pub fn settings(args: &LlmArgs) -> anyhow::Result<LlmSettings> {
    let env = |k: &str| std::env::var(k).ok();
    let file = config::load()?;
    let flags = LlmFlags {
        model: args.model.clone(),
        max_context_tokens: args.max_context_tokens,
        prompt_dir: args.prompt_dir.clone(),
    };
    Ok(config::resolve(&flags, file, &env))
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

/// Streams (or waits for) the answer; the spinner runs on stderr until the first token.
pub(crate) async fn answer(
    settings: &LlmSettings,
    conversation: Conversation,
    stream: bool,
    print: bool,
    out: &mut dyn Write,
) -> Result<(String, String, Option<Usage>), Error> {
    let mut rx = llm::complete(settings, conversation, stream);
    let mut spinner = Some(ui::Spinner::start(format!("Asking {}…", settings.model)));
    let (mut text, mut model, mut usage) = (String::new(), settings.model.clone(), None);
    let mut done = false;
    while let Some(chunk) = rx.recv().await {
        match chunk? {
            Chunk::Text(t) => {
                spinner = None;
                text.push_str(&t);
                if print {
                    // A closed pipe ends the answer quietly; nothing else can fail here.
                    if out
                        .write_all(t.as_bytes())
                        .and_then(|_| out.flush())
                        .is_err()
                    {
                        break;
                    }
                }
            }
            Chunk::Done { model: m, usage: u } => {
                model = m;
                usage = u;
                done = true;
            }
        }
    }
    drop(spinner);
    if !done && !text.is_empty() && print {
        let _ = writeln!(out);
    }
    if !done {
        return Err(Error::LlmMalformed {
            detail: "the answer ended before it was complete".into(),
        });
    }
    if print && !text.ends_with('\n') {
        let _ = writeln!(out);
    }
    Ok((text, model, usage))
}

fn no_llm(
    global: &Global,
    ctx: &Context,
    findings: &[Finding],
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    eprintln!(
        "note: no LLM configured, so this is the analyzers' answer; set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server such as Ollama (http://localhost:11434/v1), to get one in plain words"
    );
    match global.output {
        Output::Text => render::Report::new(ctx, None, findings)
            .text(out, &ui::Palette::for_stdout(global.no_color))?,
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

#[cfg(test)]
mod tests {
    use super::asks_for_change;

    #[test]
    fn requests_for_a_change_are_told_from_questions() {
        for request in [
            "scale the backend to 3 replicas",
            "why is backend crashlooping? fix it",
            "can you restart the frontend",
            "please add an autoscaler to the backend",
            "bump the memory limit of order-worker to 256Mi",
        ] {
            assert!(asks_for_change(request), "{request}");
        }
        for question in [
            "why is backend crashlooping",
            "why does the todo-backend autoscaler not scale",
            "how do I fix the frontend",
            "what changed in the last rollout",
            "is the update stuck",
        ] {
            assert!(!asks_for_change(question), "{question}");
        }
    }
}
