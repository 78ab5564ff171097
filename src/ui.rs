//! Terminal presentation: colour only where a human is looking, a spinner only on a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use console::Style;
use indicatif::{ProgressBar, ProgressStyle};

use crate::analyze::Severity;

/// Styles for one output stream; all plain when colour is off.
#[derive(Debug, Clone)]
pub struct Palette {
    enabled: bool,
}

impl Palette {
    /// Colour when stdout is a terminal, unless `--no-color` or NO_COLOR says otherwise.
    pub fn for_stdout(no_color: bool) -> Palette {
        let env_off = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Palette {
            enabled: !no_color && !env_off && std::io::stdout().is_terminal(),
        }
    }

    pub fn plain() -> Palette {
        Palette { enabled: false }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.enabled {
            style.force_styling(true).apply_to(text).to_string()
        } else {
            text.to_string()
        }
    }

    pub fn severity(&self, s: Severity) -> String {
        let (label, style) = match s {
            Severity::Error => ("ERROR", Style::new().red().bold()),
            Severity::Warning => ("WARNING", Style::new().yellow().bold()),
            Severity::Info => ("INFO", Style::new().cyan()),
        };
        self.paint(style, label)
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint(Style::new().bold(), text)
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint(Style::new().dim(), text)
    }

    pub fn added(&self, text: &str) -> String {
        self.paint(Style::new().green(), text)
    }

    pub fn removed(&self, text: &str) -> String {
        self.paint(Style::new().red(), text)
    }

    pub fn good(&self, text: &str) -> String {
        self.paint(Style::new().green().bold(), text)
    }
}

/// A spinner on stderr while something slow runs; nothing at all when stderr is not a terminal,
/// so logs and CI output stay clean.
pub struct Spinner(Option<ProgressBar>);

impl Spinner {
    pub fn start(message: String) -> Spinner {
        if !std::io::stderr().is_terminal() {
            return Spinner(None);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
        );
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(100));
        Spinner(Some(bar))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}
