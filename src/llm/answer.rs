//! One conversation with the model, as the commands run it: streamed to `out` (or collected), with
//! a spinner on stderr until the first token.

use std::io::Write;

use super::{Chunk, Conversation, Usage};
use crate::config::LlmSettings;
use crate::error::Error;
use crate::ui;

/// Streams (or waits for) the answer; the spinner runs on stderr until the first token.
pub(crate) async fn answer(
    settings: &LlmSettings,
    conversation: Conversation,
    stream: bool,
    print: bool,
    out: &mut dyn Write,
) -> Result<(String, String, Option<Usage>), Error> {
    let mut rx = super::complete(settings, conversation, stream);
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
