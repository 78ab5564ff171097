//! Recommendations as text for people, JSON/YAML (documented schema), SARIF 2.1.0 for code
//! scanning, and GitHub Actions workflow annotations.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;
use serde_json::json;
use serde_sarif::sarif;

use super::FailOn;
use super::Outcome;
use super::policy::Policy;
use super::rules::{Category, RULES, Recommendation, Rule};
use crate::analyze::Severity;
use crate::render::Output;
use crate::ui::Palette;

const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const HOME: &str = "https://github.com/kubectl-ai/kubectl-ai";

pub(crate) fn write(
    output: Output,
    palette: &Palette,
    outcome: &Outcome,
    out: &mut dyn Write,
) -> io::Result<()> {
    // Stdout is line-buffered: a report of thousands of lines would be as many writes.
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    write_to(output, palette, outcome, &mut out)?;
    out.flush()
}

fn write_to(
    output: Output,
    palette: &Palette,
    outcome: &Outcome,
    out: &mut dyn Write,
) -> io::Result<()> {
    match output {
        Output::Text => text(outcome, palette, out),
        Output::Json => {
            serde_json::to_writer_pretty(&mut *out, &Report::new(outcome))?;
            writeln!(out)
        }
        Output::Yaml => {
            let yaml = serde_saphyr::to_string(&Report::new(outcome)).map_err(io::Error::other)?;
            out.write_all(yaml.as_bytes())
        }
        Output::Sarif => {
            explanation_to_stderr(outcome);
            serde_json::to_writer_pretty(&mut *out, &sarif(outcome))?;
            writeln!(out)
        }
        Output::Github => {
            explanation_to_stderr(outcome);
            github(outcome, out)
        }
    }
}

/// Formats that are a file format have no place for prose; it goes where a log reader sees it.
fn explanation_to_stderr(outcome: &Outcome) {
    if let Some(e) = &outcome.explanation {
        eprintln!("{e}");
    }
}

/// The JSON/YAML document (docs/output-schema.md).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    api_version: &'static str,
    kind: &'static str,
    source: &'a str,
    fail_on: &'static str,
    /// Whether the exit code says "found problems" (3).
    failed: bool,
    summary: Summary,
    recommendations: &'a [Recommendation],
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    errors: usize,
    warnings: usize,
    infos: usize,
    suppressed: usize,
}

fn summary(outcome: &Outcome) -> Summary {
    let count = |s| {
        outcome
            .recommendations
            .iter()
            .filter(|r| r.severity == s)
            .count()
    };
    Summary {
        errors: count(Severity::Error),
        warnings: count(Severity::Warning),
        infos: count(Severity::Info),
        suppressed: outcome.suppressed,
    }
}

impl<'a> Report<'a> {
    fn new(outcome: &'a Outcome) -> Self {
        Report {
            api_version: crate::render::API_VERSION,
            kind: "Recommendations",
            source: &outcome.source,
            fail_on: fail_on_name(outcome.fail_on),
            failed: outcome.fails(),
            summary: summary(outcome),
            recommendations: &outcome.recommendations,
            explanation: outcome.explanation.as_deref(),
        }
    }
}

fn fail_on_name(f: FailOn) -> &'static str {
    match f {
        FailOn::Error => "error",
        FailOn::Warning => "warning",
        FailOn::Info => "info",
        FailOn::Never => "never",
    }
}

fn text(outcome: &Outcome, p: &Palette, out: &mut dyn Write) -> io::Result<()> {
    let s = summary(outcome);
    let mut by_object: BTreeMap<_, Vec<&Recommendation>> = BTreeMap::new();
    for r in &outcome.recommendations {
        by_object.entry(&r.object).or_default().push(r);
    }
    for (object, recs) in &by_object {
        let place = recs[0]
            .location
            .as_ref()
            .map(|l| format!("  {}", p.dim(&format!("{}:{}", l.file, l.line))))
            .unwrap_or_default();
        writeln!(out, "{}{place}", p.bold(&object.to_string()))?;
        let mut recs = recs.clone();
        recs.sort_by_key(|r| std::cmp::Reverse(r.severity));
        for r in recs {
            let label = p.severity(r.severity);
            let pad = " ".repeat(8usize.saturating_sub(r.severity.to_string().len() + 1));
            writeln!(
                out,
                "  {label}{pad} {}  {}",
                r.message,
                p.dim(r.rule.as_str())
            )?;
            if let Some(fix) = &r.fix {
                writeln!(out, "           {} {}", p.dim("fix:"), fix.summary)?;
            }
        }
        writeln!(out)?;
    }
    if outcome.recommendations.is_empty() {
        writeln!(
            out,
            "{} No recommendations for {}.",
            p.good("✓"),
            outcome.source
        )?;
    }
    let fixable = outcome
        .recommendations
        .iter()
        .filter(|r| r.fix.is_some())
        .count();
    writeln!(
        out,
        "{}: {} error(s), {} warning(s), {} info{}{}",
        outcome.source,
        s.errors,
        s.warnings,
        s.infos,
        if s.suppressed > 0 {
            format!(", {} suppressed", s.suppressed)
        } else {
            String::new()
        },
        if fixable > 0 {
            format!("; {fixable} fixable with --fix")
        } else {
            String::new()
        }
    )?;
    if let Some(e) = &outcome.explanation {
        writeln!(out, "\n{}\n{e}", p.bold("Summary"))?;
    }
    Ok(())
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// SARIF 2.1.0, as GitHub code scanning reads it: every rule in the driver, results pointing at
/// the file and line for manifests, or at the object (a logical location) for a cluster.
fn sarif(outcome: &Outcome) -> sarif::Sarif {
    let rules: Vec<sarif::ReportingDescriptor> = RULES.iter().map(sarif_rule).collect();
    let results: Vec<sarif::Result> = outcome.recommendations.iter().map(sarif_result).collect();
    let driver = sarif::ToolComponent::builder()
        .name("kubectl-ai")
        .version(env!("CARGO_PKG_VERSION"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .information_uri(HOME)
        .rules(rules)
        .build();
    let run = sarif::Run::builder()
        .tool(sarif::Tool::builder().driver(driver).build())
        .results(results)
        .build();
    sarif::Sarif::builder()
        .schema(SARIF_SCHEMA)
        .version(json!("2.1.0"))
        .runs(vec![run])
        .build()
}

/// One rule in the driver: what it checks, its default level, and GitHub's security score.
fn sarif_rule(r: &Rule) -> sarif::ReportingDescriptor {
    let mut extra = BTreeMap::new();
    if r.category == Category::Security {
        // GitHub ranks security alerts by this (0-10).
        let score = match r.severity {
            Severity::Error => "8.0",
            Severity::Warning => "5.0",
            Severity::Info => "2.0",
        };
        extra.insert("security-severity".to_string(), json!(score));
    }
    sarif::ReportingDescriptor::builder()
        .id(r.id.as_str())
        .name(r.id.as_str())
        .short_description(
            sarif::MultiformatMessageString::builder()
                .text(r.title)
                .build(),
        )
        .full_description(
            sarif::MultiformatMessageString::builder()
                .text(r.help)
                .build(),
        )
        .help(
            sarif::MultiformatMessageString::builder()
                .text(r.help)
                .build(),
        )
        .help_uri(format!("{HOME}/blob/main/docs/rules.md#{}", r.id))
        .default_configuration(
            sarif::ReportingConfiguration::builder()
                .level(json!(level(r.severity)))
                .build(),
        )
        .properties(
            sarif::PropertyBag::builder()
                .tags(vec![
                    "kubernetes".to_string(),
                    r.category.name().to_string(),
                ])
                .additional_properties(extra)
                .build(),
        )
        .build()
}

/// One recommendation, at its file and line for a manifest, and at its object for both.
fn sarif_result(r: &Recommendation) -> sarif::Result {
    let index = r.rule as usize as i64;
    let logical = sarif::LogicalLocation::builder()
        .name(r.object.name.clone())
        .fully_qualified_name(r.object.to_string())
        .kind(r.object.kind.to_lowercase())
        .build();
    let location = sarif::Location::builder().logical_locations(vec![logical]);
    let location = match &r.location {
        Some(l) => location
            .physical_location(
                sarif::PhysicalLocation::builder()
                    .artifact_location(sarif::ArtifactLocation::builder().uri(uri(&l.file)).build())
                    .region(sarif::Region::builder().start_line(l.line as i64).build())
                    .build(),
            )
            .build(),
        None => location.build(),
    };
    let message = match &r.fix {
        Some(f) => format!("{} (fix: {})", r.message, f.summary),
        None => r.message.clone(),
    };
    let fingerprint: BTreeMap<String, String> = [(
        "kubectlAi/v1".to_string(),
        format!(
            "{}:{}:{}",
            r.rule,
            r.object,
            r.container.as_deref().unwrap_or("")
        ),
    )]
    .into();
    sarif::Result::builder()
        .rule_id(r.rule.as_str())
        .rule_index(index)
        .level(match r.severity {
            Severity::Error => sarif::ResultLevel::Error,
            Severity::Warning => sarif::ResultLevel::Warning,
            Severity::Info => sarif::ResultLevel::Note,
        })
        .message(sarif::Message::builder().text(message).build())
        .locations(vec![location])
        .partial_fingerprints(fingerprint)
        .build()
}

/// A relative path as a URI reference (code scanning resolves it against the checkout); stdin has
/// no file, so it is named as such.
fn uri(file: &str) -> String {
    if file == "-" {
        return "stdin".into();
    }
    let trimmed = file.strip_prefix("./").unwrap_or(file);
    trimmed
        .replace('\\', "/")
        .replace('%', "%25")
        .replace(' ', "%20")
}

/// `::error file=...,line=...,title=...::message`, escaped as the runner requires.
fn github(outcome: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    fn data(s: &str) -> String {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    }
    fn property(s: &str) -> String {
        data(s).replace(':', "%3A").replace(',', "%2C")
    }
    for r in &outcome.recommendations {
        let command = match r.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut props = Vec::new();
        if let Some(l) = r.location.as_ref().filter(|l| l.file != "-") {
            props.push(format!("file={}", property(&l.file)));
            props.push(format!("line={}", l.line));
        }
        props.push(format!(
            "title={}",
            property(&format!("{} ({})", r.rule, r.object))
        ));
        writeln!(out, "::{command} {}::{}", props.join(","), data(&r.message))?;
    }
    let s = summary(outcome);
    writeln!(
        out,
        "::notice title=kubectl-ai recommend::{} error(s), {} warning(s), {} info, {} suppressed",
        s.errors, s.warnings, s.infos, s.suppressed
    )
}

/// `--list-rules`.
/// `--list-rules`: every rule with its effective severity and whether it runs.
pub(crate) fn rules(output: Output, policy: &Policy, out: &mut dyn Write) -> io::Result<()> {
    match output {
        Output::Text => {
            writeln!(
                out,
                "{:<30} {:<8} {:<12} {:<4} WHAT",
                "RULE", "SEVERITY", "CATEGORY", "ON"
            )?;
            for (r, severity, on) in policy.rules() {
                writeln!(
                    out,
                    "{:<30} {:<8} {:<12} {:<4} {}",
                    r.id,
                    severity.to_string(),
                    r.category.name(),
                    if on { "yes" } else { "no" },
                    r.title
                )?;
            }
            writeln!(
                out,
                "\nWhy each matters and what to do: `--list-rules -o json`, or docs/rules.md."
            )
        }
        _ => {
            let list: Vec<_> = policy
                .rules()
                .map(|(r, severity, on)| {
                    json!({"id": r.id, "severity": severity, "defaultSeverity": r.severity,
                           "category": r.category, "enabled": on, "title": r.title, "help": r.help})
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &list)?;
            writeln!(out)
        }
    }
}

/// docs/rules.md, from the rule table (a test keeps the committed page equal to it).
#[cfg(test)]
fn rules_markdown() -> String {
    let mut md = String::from(
        "# Recommendation rules\n\n<!-- Generated from the rule table in src/recommend/rules/mod.rs; \
         `KUBECTL_AI_BLESS_DOCS=1 cargo test --lib rules_page` rewrites it. -->\n\n\
         Every rule `kubectl ai recommend` runs, with its default severity. Change a severity, turn a \
         rule off, or turn on one that is off by default with `--severity RULE=LEVEL`, `--disable \
         RULE`, `--enable RULE` or the config file ([recommend.md](recommend.md#rules-as-configuration)).\n\n\
         | rule | severity | category | on by default | fires when |\n|---|---|---|---|---|\n",
    );
    for r in RULES {
        md.push_str(&format!(
            "| [`{id}`](#{id}) | {} | {} | {} | {} |\n",
            r.severity,
            r.category.name(),
            if r.enabled { "yes" } else { "no" },
            r.title,
            id = r.id
        ));
    }
    let mut category = None;
    for r in RULES {
        if category != Some(r.category) {
            category = Some(r.category);
            let name = r.category.name();
            let title = format!("{}{}", name[..1].to_uppercase(), &name[1..]);
            md.push_str(&format!("\n## {title}\n"));
        }
        md.push_str(&format!(
            "\n### {}\n\n**{}**{}: {}. {}\n",
            r.id,
            r.severity,
            if r.enabled { "" } else { " (off by default)" },
            r.title,
            r.help
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rewrite with `KUBECTL_AI_BLESS_DOCS=1 cargo test --lib rules_page`.
    #[test]
    fn rules_page_is_generated_from_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md");
        let want = rules_markdown();
        if std::env::var_os("KUBECTL_AI_BLESS_DOCS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        for r in RULES {
            assert!(want.contains(&format!("\n### {}\n", r.id)), "{}", r.id);
        }
        assert!(
            have == want,
            "docs/rules.md is out of date: KUBECTL_AI_BLESS_DOCS=1 cargo test --lib rules_page"
        );
    }
}
