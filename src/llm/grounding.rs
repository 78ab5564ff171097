//! The prompt of a question about the cluster: the findings, the objects the question names, and
//! the evidence ranked and trimmed to the budget, with secrets redacted.

use crate::analyze::{self, Finding};
use crate::context::Context;
use crate::error::Error;
use crate::llm::prompt::{self, Prompt};
use crate::llm::redact::Redactor;
use crate::llm::tokens;

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

    /// The tools to offer with the prompt; their definitions count against its budget.
    /// Adds the Prometheus history: evidence of the findings about its pods, items of its own
    /// otherwise; both count against the budget like everything else.
    pub(crate) fn with_history(mut self, notes: Vec<crate::prometheus::evidence::Note>) -> Self {
        use crate::prometheus::evidence::attach;
        attach(&mut self.relevant, notes.clone());
        self.history = attach(&mut self.findings, notes);
        self
    }

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
            tool_tokens = tokens::of_tools(&p.tools),
            budget,
            items_included = p.included,
            items_omitted = p.omitted,
            secrets_redacted = redactor.count(),
            "prompt built"
        );
        Ok((p, redactor))
    }
}
