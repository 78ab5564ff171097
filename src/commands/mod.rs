//! One module per user-facing command, each a short orchestration over the engine, and the
//! dispatcher that picks one: a subcommand, or plain words routed by what they ask for.

pub(crate) mod ask;
pub(crate) mod completion;
pub(crate) mod config;
pub(crate) mod deploy;
pub(crate) mod diagnose;
pub(crate) mod generate;
pub(crate) mod history;
pub(crate) mod recommend;
pub(crate) mod undo;
pub(crate) mod version;

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::error::{Error, exit};
use crate::render::Output;
use crate::session::Session;

/// Runs one command, writing its result to `out`; returns the exit code.
pub async fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<u8> {
    if matches!(cli.global.output, Output::Sarif | Output::Github)
        && !matches!(cli.command, Some(Command::Recommend(_)))
    {
        return Err(Error::Usage(
            "-o sarif and -o github are formats of `kubectl ai recommend`; use text, json or yaml here".into(),
        )
        .into());
    }
    let session = Session::new(&cli);
    let Some(command) = cli.command else {
        return words(&session, &cli.question, &cli.files, cli.write, out).await;
    };
    match command {
        Command::Diagnose(args) => diagnose::run(&session, &args, out).await,
        Command::Ask { question } => {
            let words = question.join(" ");
            ask::run(&session, &words, Intent::of(&words), out).await
        }
        Command::Recommend(args) => recommend::run(&session, &args, out).await,
        Command::Deploy(args) => deploy::deploy(&session, &args, out).await,
        Command::Undeploy(args) => deploy::undeploy(&session, &args, out).await,
        Command::History => history::run(&session.history, session.output, out),
        Command::Undo { id } => undo::run(&session, id.as_deref(), out).await,
        Command::Config { no_check } => config::run(&session, !no_check, out).await,
        Command::Mcp(args) => crate::mcp::run(session, &args).await,
        Command::Version => version::run(session.output, out),
        Command::Completion { shell } => completion::run(shell, out),
    }
}

/// `kubectl ai WORDS...`: a manifest request (or any words with `-f`) generates; anything else is
/// a question, which may ask for a change. Without words, the help.
async fn words(
    session: &Session,
    words: &[String],
    files: &[std::path::PathBuf],
    write: bool,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    if words.is_empty() {
        write!(out, "{}", Cli::command().render_long_help())?;
        return Ok(exit::OK);
    }
    let words = words.join(" ");
    let intent = Intent::of(&words);
    if !files.is_empty() || intent.manifest {
        let request = generate::Request {
            words,
            files,
            write,
        };
        generate::run(session, request, out).await
    } else {
        ask::run(session, &words, intent, out).await
    }
}

/// What the operator's words ask for, decided by their verbs. A manifest request ("create a
/// redis deployment") makes new objects; a change ("scale the backend to 3") alters what exists;
/// anything else is a question. One sentence can be both a manifest request and a change ("set up
/// redis and scale it"): routing takes the manifest request first, and `ask` still offers the
/// model changes for the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intent {
    manifest: bool,
    change: bool,
}

impl Intent {
    pub fn of(words: &str) -> Intent {
        Intent {
            manifest: asks_for_manifests(words),
            change: asks_for_change(words),
        }
    }

    /// Whether the words ask for a change rather than only an explanation. Only then is the model
    /// offered `propose_changes`: its schema costs more tokens than the evidence of most
    /// questions, and the system prompt forbids proposing what nobody asked for anyway. A
    /// question mistaken for a request only costs tokens; a request mistaken for a question gets
    /// advice and the fix hint.
    pub fn asks_for_change(self) -> bool {
        self.change
    }
}

/// Starts with a verb that makes something new. "add", "scale", "restart" change what exists:
/// typed actions through `ask` handle those.
fn asks_for_manifests(words: &str) -> bool {
    const VERBS: &[&str] = &[
        "create", "make", "generate", "write", "expose", "deploy", "setup", "set up", "give me",
        "scaffold", "build me",
    ];
    let q = words.trim().to_lowercase();
    VERBS
        .iter()
        .any(|v| q.starts_with(v) && q[v.len()..].starts_with(|c: char| c.is_whitespace()))
}

/// A sentence that is not a question and has a verb that changes objects.
fn asks_for_change(words: &str) -> bool {
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
    words
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

#[cfg(test)]
mod tests {
    use super::Intent;

    #[test]
    fn requests_for_a_change_are_told_from_questions() {
        for request in [
            "scale the backend to 3 replicas",
            "why is backend crashlooping? fix it",
            "can you restart the frontend",
            "please add an autoscaler to the backend",
            "bump the memory limit of order-worker to 256Mi",
        ] {
            assert!(Intent::of(request).asks_for_change(), "{request}");
        }
        for question in [
            "why is backend crashlooping",
            "why does the todo-backend autoscaler not scale",
            "how do I fix the frontend",
            "what changed in the last rollout",
            "is the update stuck",
        ] {
            assert!(!Intent::of(question).asks_for_change(), "{question}");
        }
    }

    #[test]
    fn manifest_requests_are_told_from_changes_and_questions() {
        assert!(Intent::of("create a redis deployment with 3 replicas and a service").manifest);
        assert!(Intent::of("Expose the frontend on port 80").manifest);
        assert!(!Intent::of("why is backend crashlooping").manifest);
        assert!(!Intent::of("add an autoscaler to the backend").manifest);
        assert!(!Intent::of("address of the frontend?").manifest);
    }
}
