//! Turning findings into output: text for people, JSON and YAML for programs.
//!
//! The JSON/YAML shape is a documented, versioned schema (docs/output-schema.md); fields are only
//! ever added to it.

use std::io::{self, Write};

use serde::Serialize;

use crate::analyze::{Finding, Severity};
use crate::context::{Context, Scope};
use crate::ui::{Level, Palette};

pub(crate) const API_VERSION: &str = "kubectl-ai.io/v1alpha1";

/// A severity's label on the terminal: the palette knows levels, not findings.
impl From<Severity> for Level {
    fn from(s: Severity) -> Level {
        match s {
            Severity::Info => Level::Info,
            Severity::Warning => Level::Warning,
            Severity::Error => Level::Error,
        }
    }
}

/// The output formats (`-o`); the flag parses straight into this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
    Yaml,
    /// SARIF 2.1.0 (recommend only), for code-scanning tools
    Sarif,
    /// GitHub Actions workflow annotations (recommend only)
    Github,
}

/// A diagnosis as data.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Report<'a> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub source: &'a str,
    pub scope: &'a Scope,
    /// RFC 3339: when the data was true (snapshot: the newest timestamp in it).
    pub observed_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub summary: Summary,
    pub findings: &'a [Finding],
    /// What could not be read, and why.
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
    pub pods_checked: usize,
    pub events_read: usize,
}

impl<'a> Report<'a> {
    pub(crate) fn new(ctx: &'a Context, target: Option<String>, findings: &'a [Finding]) -> Self {
        let count = |s| findings.iter().filter(|f| f.severity == s).count();
        Report {
            api_version: API_VERSION,
            kind: "Diagnosis",
            source: &ctx.source,
            scope: &ctx.scope,
            observed_at: ctx.observed_at.to_string(),
            target,
            summary: Summary {
                errors: count(Severity::Error),
                warnings: count(Severity::Warning),
                infos: count(Severity::Info),
                pods_checked: ctx.pods.len(),
                events_read: ctx.events.len(),
            },
            findings,
            notes: ctx.notes(),
        }
    }

    /// Whether anything at warning level or above was found: what `--exit-code` gates on.
    pub(crate) fn has_problems(&self) -> bool {
        self.summary.errors + self.summary.warnings > 0
    }

    pub(crate) fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self).map_err(io::Error::other)?;
        writeln!(out)
    }

    pub(crate) fn yaml(&self, out: &mut dyn Write) -> io::Result<()> {
        let text = serde_saphyr::to_string(self).map_err(io::Error::other)?;
        out.write_all(text.as_bytes())
    }

    pub(crate) fn text(&self, out: &mut dyn Write, p: &Palette) -> io::Result<()> {
        let what = match &self.target {
            Some(t) => format!("{t} in {}", self.scope),
            None => self.scope.to_string(),
        };
        writeln!(
            out,
            "{}",
            p.dim(&format!("Diagnosis of {what} from {}", self.source))
        )?;
        writeln!(out)?;
        if self.findings.is_empty() {
            writeln!(
                out,
                "{} No problems found ({} pods checked).",
                p.good("OK"),
                self.summary.pods_checked
            )?;
        }
        for f in self.findings {
            writeln!(
                out,
                "{} {}  {}",
                p.severity(f.severity),
                p.bold(&f.object.to_string()),
                p.dim(&format!("[{}]", f.rule))
            )?;
            writeln!(out, "  {}", f.summary)?;
            if !f.pods.is_empty() {
                writeln!(out, "  {} {}", p.dim("pods:"), f.pods.join(", "))?;
            }
            if !f.evidence.is_empty() {
                writeln!(out, "  {}", p.dim("evidence:"))?;
                for e in &f.evidence {
                    writeln!(out, "    - {e}")?;
                }
            }
            if let Some(c) = &f.caused_by {
                writeln!(
                    out,
                    "  {} {} {} {}",
                    p.dim("probably caused by:"),
                    c.object,
                    p.dim(&format!("[{}]", c.rule)),
                    p.dim(&format!("({}, a guess)", c.via))
                )?;
            }
            if !f.causes.is_empty() {
                writeln!(out, "  {}", p.dim("caused:"))?;
                for c in &f.causes {
                    writeln!(
                        out,
                        "    - {} {} {}",
                        c.object,
                        p.dim(&format!("[{}]", c.rule)),
                        c.summary
                    )?;
                    writeln!(out, "      {}", p.dim(&format!("({})", c.via)))?;
                }
            }
            writeln!(out, "  {} {}", p.bold("fix:"), f.fix)?;
            writeln!(out)?;
        }
        if !self.findings.is_empty() {
            let s = &self.summary;
            writeln!(
                out,
                "{} error(s), {} warning(s), {} info; {} pods checked, {} warning events read.",
                s.errors, s.warnings, s.infos, s.pods_checked, s.events_read
            )?;
        }
        for note in &self.notes {
            writeln!(out, "{} {note}", p.dim("note:"))?;
        }
        Ok(())
    }
}
