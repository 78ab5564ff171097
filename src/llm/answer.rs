//! One conversation with the model, as the commands run it: streamed to `out` (or collected), with
//! a spinner on stderr until the first token.

use std::io::Write;

use super::{Chunk, Conversation, ToolCall, Usage};
use crate::config::LlmSettings;
use crate::error::Error;
use crate::ui;

/// What the model answered.
#[derive(Debug)]
pub(crate) struct Answer {
    pub text: String,
    /// The model that answered, as the endpoint names it.
    pub model: String,
    pub usage: Option<Usage>,
    /// The tool calls the runner answered, in the order the model made them.
    pub calls: Vec<ToolCall>,
}

impl Answer {
    /// The calls to one tool.
    pub(crate) fn calls_to<'a>(&'a self, tool: &'a str) -> impl Iterator<Item = &'a ToolCall> + 'a {
        self.calls.iter().filter(move |c| c.name == tool)
    }
}

/// Streams (or waits for) the answer; the spinner runs on stderr until the first token.
pub(crate) async fn answer(
    settings: &LlmSettings,
    conversation: Conversation,
    stream: bool,
    print: bool,
    out: &mut dyn Write,
) -> Result<Answer, Error> {
    let mut rx = super::complete(settings, conversation, stream);
    let mut spinner = Some(ui::Spinner::start(format!("Asking {}…", settings.model)));
    let (mut text, mut model, mut usage) = (String::new(), settings.model.clone(), None);
    let mut calls = Vec::new();
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
            Chunk::Called(call) => calls.push(call),
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
    Ok(Answer {
        text,
        model,
        usage,
        calls,
    })
}
