//! `kubectl ai completion SHELL`: the shell completion script clap writes from the command line.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::exit;

pub(crate) fn run(shell: clap_complete::Shell, out: &mut dyn Write) -> anyhow::Result<u8> {
    clap_complete::generate(shell, &mut Cli::command(), "kubectl-ai", out);
    Ok(exit::OK)
}
