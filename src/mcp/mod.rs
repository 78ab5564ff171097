//! `kubectl ai mcp`: the diagnosis, recommendations and plan gate as Model Context Protocol tools,
//! for any AI assistant. No LLM runs here: the assistant's own model reasons over the results.
//!
//! Every result is bounded by a token budget and redacted ([`budget`]); every change goes
//! through the plan pipeline in two halves (`propose_plan`, then `apply_plan` with
//! `--allow-writes`), kept between them in [`plans`]. [`engine`] is the one place that calls
//! into the rest of kubectl-ai.

mod budget;
mod engine;
mod plans;
mod server;
mod tools;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args as ClapArgs;

use crate::error::{Error, exit};
use crate::session::Session;

pub(crate) const HELP: &str = r#"Examples:
  # For a desktop assistant (Claude Desktop, VS Code, Cursor): it starts this over stdio
  kubectl ai mcp -n todo-app

  # Let the assistant apply the plans it proposed (each still validated, diffed and recorded)
  kubectl ai mcp --allow-writes

  # Streamable HTTP on loopback; any other address needs a bearer token
  kubectl ai mcp --http 127.0.0.1:8765
  KUBECTL_AI_MCP_TOKEN_FILE=~/.config/kubectl-ai/mcp-token kubectl ai mcp --http 0.0.0.0:8765

Tools: diagnose, explain_object, recommend, get_logs, list_problems, propose_plan, and
apply_plan (only with --allow-writes). Every result fits --max-result-tokens and never holds a
secret value. docs/mcp.md shows each client's configuration."#;

/// `kubectl ai mcp` flags; the global kubeconfig/context/namespace flags apply as everywhere.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Serve streamable HTTP on this address instead of stdio (e.g. 127.0.0.1:8765); an address
    /// other than loopback needs --token-file
    #[arg(long, value_name = "ADDR:PORT", env = "KUBECTL_AI_MCP_HTTP")]
    pub http: Option<SocketAddr>,

    /// File holding the bearer token HTTP clients must send (`Authorization: Bearer TOKEN`);
    /// required when --http is not on loopback, optional on loopback
    #[arg(long, value_name = "PATH", env = "KUBECTL_AI_MCP_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,

    /// Offer apply_plan: the assistant may apply plans it proposed in this server (nothing else
    /// can change the cluster); deletions and scale-downs to zero also need --allow-delete
    #[arg(long)]
    pub allow_writes: bool,

    /// Most tokens in one tool result (text and structured content together); what does not fit
    /// is left out and the result says how much
    #[arg(
        long,
        value_name = "N",
        env = "KUBECTL_AI_MCP_MAX_RESULT_TOKENS",
        default_value_t = 4000,
        value_parser = clap::value_parser!(u32).range(500..)
    )]
    pub max_result_tokens: u32,
}

/// Runs the server until the client goes away (stdio) or Ctrl-C (HTTP).
pub(crate) async fn run(session: Session, args: &Args) -> anyhow::Result<u8> {
    let token = token(args)?;
    let state = server::State::new(session, args);
    match args.http {
        None => server::stdio(state).await?,
        Some(addr) => server::http(state, addr, token).await?,
    }
    Ok(exit::OK)
}

/// The bearer token, read from its file; refused when a non-loopback address would go without.
fn token(args: &Args) -> Result<Option<String>, Error> {
    let token = match &args.token_file {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Usage(format!("--token-file {}: {e}", path.display())))?;
            let t = text.trim().to_string();
            if t.len() < 16 {
                return Err(Error::Usage(format!(
                    "--token-file {}: the token must be at least 16 characters",
                    path.display()
                )));
            }
            Some(t)
        }
    };
    match args.http {
        Some(addr) if !addr.ip().is_loopback() && token.is_none() => Err(Error::Usage(format!(
            "--http {addr} is reachable from other machines: give a bearer token with --token-file (or KUBECTL_AI_MCP_TOKEN_FILE), or bind 127.0.0.1"
        ))),
        None if token.is_some() => Err(Error::Usage(
            "--token-file is for --http; stdio needs no token".into(),
        )),
        _ => Ok(token),
    }
}
