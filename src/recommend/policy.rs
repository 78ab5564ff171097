//! Which rules run and how severe each is, from the rule table's defaults, the config file's
//! `recommend:` section, then flags: a team's gate is configuration, not a fork of the table.

use crate::analyze::Severity;
use crate::config::RecommendFile;
use crate::error::Error;

use super::rules::{RULES, Recommendation, Rule, RuleId};

/// The effective table: one entry per rule, by id.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    enabled: Vec<bool>,
    severity: Vec<Severity>,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            enabled: RULES.iter().map(|r| r.enabled).collect(),
            severity: RULES.iter().map(|r| r.severity).collect(),
        }
    }
}

/// The rule an id names, or a usage error that says where to find the ids.
pub(crate) fn rule(id: &str, whence: &str) -> Result<RuleId, Error> {
    RuleId::parse(id).ok_or_else(|| {
        Error::Usage(format!(
            "unknown rule {id:?} in {whence} (see `kubectl ai recommend --list-rules`)"
        ))
    })
}

fn severity(word: &str, whence: &str) -> Result<Severity, Error> {
    match word {
        "error" => Ok(Severity::Error),
        "warning" => Ok(Severity::Warning),
        "info" => Ok(Severity::Info),
        _ => Err(Error::Usage(format!(
            "{whence}: severity {word:?} is not one of error, warning, info"
        ))),
    }
}

/// What the flags say about rules: `--enable`, `--disable`, `--severity RULE=LEVEL`.
pub(crate) struct Choices<'a> {
    pub enable: &'a [String],
    pub disable: &'a [String],
    pub severity: &'a [String],
}

impl Policy {
    /// Defaults, then the config file, then flags (each later source wins).
    pub(crate) fn new(file: Option<&RecommendFile>, flags: &Choices) -> Result<Policy, Error> {
        let mut p = Policy::default();
        if let Some(f) = file {
            p.set(&f.enable, &f.disable, "the config file's recommend section")?;
            for (id, level) in &f.severity {
                let r = rule(id, "the config file's recommend.severity")?;
                p.severity[r as usize] = severity(level, &format!("recommend.severity.{id}"))?;
            }
        }
        p.set(flags.enable, flags.disable, "--enable/--disable")?;
        for entry in flags.severity {
            let (id, level) = entry.split_once('=').ok_or_else(|| {
                Error::Usage(format!(
                    "--severity {entry:?}: write RULE=error|warning|info"
                ))
            })?;
            let r = rule(id, "--severity")?;
            p.severity[r as usize] = severity(level, &format!("--severity {entry}"))?;
        }
        Ok(p)
    }

    fn set(&mut self, enable: &[String], disable: &[String], whence: &str) -> Result<(), Error> {
        for id in enable {
            self.enabled[rule(id, whence)? as usize] = true;
        }
        for id in disable {
            self.enabled[rule(id, whence)? as usize] = false;
        }
        Ok(())
    }

    pub(crate) fn enabled(&self, id: RuleId) -> bool {
        self.enabled[id as usize]
    }

    pub(crate) fn severity(&self, id: RuleId) -> Severity {
        self.severity[id as usize]
    }

    /// Drops what is disabled and gives the rest their configured severity.
    pub(crate) fn apply(&self, recs: Vec<Recommendation>) -> Vec<Recommendation> {
        recs.into_iter()
            .filter(|r| self.enabled(r.rule))
            .map(|mut r| {
                r.severity = self.severity(r.rule);
                r
            })
            .collect()
    }

    /// Every rule with its effective severity and whether it runs.
    pub(crate) fn rules(&self) -> impl Iterator<Item = (&'static Rule, Severity, bool)> + '_ {
        RULES
            .iter()
            .map(|r| (r, self.severity(r.id), self.enabled(r.id)))
    }
}
