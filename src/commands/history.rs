//! `kubectl ai history`: the changes kubectl-ai has applied, newest last.

use std::io::Write;

use crate::error::exit;
use crate::plan;
use crate::render::Output;

pub(crate) fn run(
    history: &plan::history::Store,
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let records = history.list()?;
    match output {
        // Only `recommend` writes SARIF and annotations; the dispatcher refuses them elsewhere.
        Output::Json | Output::Sarif | Output::Github => {
            writeln!(out, "{}", serde_json::to_string_pretty(&records)?)?
        }
        Output::Yaml => out.write_all(serde_saphyr::to_string(&records)?.as_bytes())?,
        Output::Text if records.is_empty() => writeln!(out, "No changes recorded yet.")?,
        Output::Text => {
            writeln!(out, "{:<20} {:<22} CHANGES", "ID", "APPLIED")?;
            for r in &records {
                let changes: Vec<String> = r
                    .changes
                    .iter()
                    .map(|c| format!("{}: {}", c.target, c.summary))
                    .collect();
                writeln!(
                    out,
                    "{:<20} {:<22} {}",
                    r.id,
                    r.at.split('.').next().unwrap_or(&r.at),
                    changes.join("; ")
                )?;
            }
        }
    }
    Ok(exit::OK)
}
