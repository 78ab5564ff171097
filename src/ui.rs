//! Terminal presentation: colour only where a human is looking, a spinner only on a terminal.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use console::Style;
use indicatif::{ProgressBar, ProgressStyle};

/// How loud a label is; its colour and word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Info,
    Warning,
    Error,
}

/// Styles for one output stream; all plain when colour is off.
#[derive(Debug, Clone)]
pub(crate) struct Palette {
    enabled: bool,
}

impl Palette {
    /// Colour when stdout is a terminal, unless `off` (`--no-color` or NO_COLOR, decided by the
    /// session).
    pub(crate) fn for_stdout(off: bool) -> Palette {
        Palette {
            enabled: !off && std::io::stdout().is_terminal(),
        }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.enabled {
            style.force_styling(true).apply_to(text).to_string()
        } else {
            text.to_string()
        }
    }

    /// The level's label (`ERROR`, `WARNING`, `INFO`) in its colour. Anything with a severity
    /// says which level it is (`impl From<..> for Level`, beside that type's renderer), so this
    /// module knows no engine type.
    pub(crate) fn severity(&self, level: impl Into<Level>) -> String {
        let (label, style) = match level.into() {
            Level::Error => ("ERROR", Style::new().red().bold()),
            Level::Warning => ("WARNING", Style::new().yellow().bold()),
            Level::Info => ("INFO", Style::new().cyan()),
        };
        self.paint(style, label)
    }

    pub(crate) fn bold(&self, text: &str) -> String {
        self.paint(Style::new().bold(), text)
    }

    pub(crate) fn dim(&self, text: &str) -> String {
        self.paint(Style::new().dim(), text)
    }

    pub(crate) fn added(&self, text: &str) -> String {
        self.paint(Style::new().green(), text)
    }

    pub(crate) fn removed(&self, text: &str) -> String {
        self.paint(Style::new().red(), text)
    }

    pub(crate) fn good(&self, text: &str) -> String {
        self.paint(Style::new().green().bold(), text)
    }
}

/// A spinner on stderr while something slow runs; nothing at all when stderr is not a terminal,
/// so logs and CI output stay clean.
pub(crate) struct Spinner(Option<(u64, ProgressBar)>);

/// The spinner on screen and its own message, so work under way can add what it has done so
/// far ([`progress`]) without knowing who started it.
static SHOWN: Mutex<Option<(u64, ProgressBar, String)>> = Mutex::new(None);
static NEXT: AtomicU64 = AtomicU64::new(0);

impl Spinner {
    pub(crate) fn start(message: String) -> Spinner {
        if !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
        );
        bar.set_message(message.clone());
        bar.enable_steady_tick(Duration::from_millis(100));
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        *SHOWN.lock().expect("poisoned") = Some((id, bar.clone(), message));
        Spinner(Some((id, bar)))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some((id, bar)) = self.0.take() {
            let mut shown = SHOWN.lock().expect("poisoned");
            if shown.as_ref().is_some_and(|(s, _, _)| *s == id) {
                *shown = None;
            }
            bar.finish_and_clear();
        }
    }
}

/// Adds `detail` (what has arrived so far) to the spinner on screen; nothing when there is none.
pub(crate) fn progress(detail: &str) {
    if let Some((_, bar, message)) = SHOWN.lock().expect("poisoned").as_ref() {
        bar.set_message(format!("{message} {detail}"));
    }
}

/// "pods 10,008 · events 1,250 · deployments 200 · 64 more": the largest counts by resource,
/// as a progress detail short enough for one line.
pub(crate) fn counts(arrived: &BTreeMap<&str, usize>) -> String {
    let mut largest: Vec<(&str, usize)> = arrived
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(what, n)| (*what, *n))
        .collect();
    largest.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let rest: usize = largest.iter().skip(3).map(|(_, n)| n).sum();
    let mut parts: Vec<String> = largest
        .iter()
        .take(3)
        .map(|(what, n)| format!("{what} {}", thousands(*n)))
        .collect();
    if rest > 0 {
        parts.push(format!("{} more", thousands(rest)));
    }
    parts.join(" · ")
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_resources_with_grouped_digits() {
        let arrived = BTreeMap::from([
            ("pods", 10_008),
            ("events", 1_250),
            ("jobs", 0),
            ("nodes", 7),
        ]);
        assert_eq!(counts(&arrived), "pods 10,008 · events 1,250 · nodes 7");
        let arrived = BTreeMap::from([
            ("pods", 9),
            ("events", 8),
            ("nodes", 7),
            ("jobs", 2),
            ("pvs", 1),
        ]);
        assert_eq!(counts(&arrived), "pods 9 · events 8 · nodes 7 · 3 more");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(999), "999");
    }
}
