//! `kubectl ai version`.

use std::io::Write;

use crate::error::exit;
use crate::render::Output;

pub(crate) fn run(output: Output, out: &mut dyn Write) -> anyhow::Result<u8> {
    let v = env!("CARGO_PKG_VERSION");
    match output {
        Output::Text => writeln!(out, "kubectl-ai {v}")?,
        // Only `recommend` writes SARIF and annotations; the dispatcher refuses them elsewhere.
        Output::Json | Output::Sarif | Output::Github => {
            writeln!(out, "{}", serde_json::json!({ "version": v }))?
        }
        Output::Yaml => writeln!(out, "version: {v}")?,
    }
    Ok(exit::OK)
}
