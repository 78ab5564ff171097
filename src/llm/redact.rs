//! Credentials out of everything that leaves the machine.
//!
//! Secret objects are never read (see `context::KeyedObject`), but credentials still turn up in
//! env values, command lines, log lines and annotations. Every text bound for an LLM passes through
//! a [`Redactor`], which replaces what looks like a credential with a placeholder. Placeholders are
//! stable within one prompt (the same value is always `[REDACTED-2]`), so the model can still see
//! that two places hold the same secret without ever seeing it.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Each pattern names the capture group holding the secret; the rest of the match is kept.
struct Pattern {
    regex: Regex,
    secret_group: usize,
}

fn pattern(re: &str, secret_group: usize) -> Pattern {
    Pattern {
        regex: Regex::new(re).expect("valid redaction pattern"),
        secret_group,
    }
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    vec![
        // PEM private keys, whole.
        pattern(
            r"(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----)",
            1,
        ),
        // Authorization headers.
        pattern(
            r"(?i)\b(?:bearer|basic|token)\s+([A-Za-z0-9\-._~+/]{8,}=*)",
            1,
        ),
        // user:password@ in URLs and connection strings.
        pattern(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]+:([^\s@/]+)@", 1),
        // Well-known token shapes.
        pattern(r"\b(sk-[A-Za-z0-9_\-]{16,})", 1),
        pattern(r"\b(gh[pousr]_[A-Za-z0-9]{30,})", 1),
        pattern(r"\b((?:AKIA|ASIA)[0-9A-Z]{16})\b", 1),
        pattern(r"\b(xox[abprs]-[A-Za-z0-9\-]{10,})", 1),
        pattern(
            r"\b(eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})",
            1,
        ),
        // NAME=value, NAME: value, "name": "value" where the name says it is a secret.
        pattern(
            r#"(?i)\b[A-Z0-9_.\-]*(?:password|passwd|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|credentials?)[A-Z0-9_.\-]*["']?[ \t]*[=:][ \t]*["']?([^\s"',;&}]{3,})"#,
            1,
        ),
    ]
});

/// Replaces credentials with stable placeholders.
#[derive(Debug, Default)]
pub struct Redactor {
    seen: HashMap<String, usize>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// How many distinct secrets were replaced so far.
    pub fn count(&self) -> usize {
        self.seen.len()
    }

    pub fn redact(&mut self, text: &str) -> String {
        let mut out = text.to_string();
        for p in PATTERNS.iter() {
            out = p
                .regex
                .replace_all(&out, |caps: &Captures| {
                    let whole = caps.get(0).expect("match");
                    let secret = caps.get(p.secret_group).expect("secret group");
                    if secret.as_str().starts_with("[REDACTED-") {
                        return whole.as_str().to_string();
                    }
                    let next = self.seen.len() + 1;
                    let n = *self.seen.entry(secret.as_str().to_string()).or_insert(next);
                    let start = secret.start() - whole.start();
                    let end = secret.end() - whole.start();
                    format!(
                        "{}[REDACTED-{n}]{}",
                        &whole.as_str()[..start],
                        &whole.as_str()[end..]
                    )
                })
                .into_owned();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_shapes_credentials_take() {
        let mut r = Redactor::new();
        let cases = [
            (
                "DATABASE_URL=postgresql://todo:s3cr3t-pw@postgres:5432/todo",
                "s3cr3t-pw",
            ),
            (
                "Authorization: Bearer abcdef0123456789abcdef",
                "abcdef0123456789abcdef",
            ),
            ("POSTGRES_PASSWORD=hunter2hunter2", "hunter2hunter2"),
            (r#"{"api_key": "k-1234567890"}"#, "k-1234567890"),
            (
                "using key sk-proj-ABCDEFGHIJKLMNOPQRSTUV",
                "sk-proj-ABCDEFGHIJKLMNOPQRSTUV",
            ),
            ("aws AKIAIOSFODNN7EXAMPLE in env", "AKIAIOSFODNN7EXAMPLE"),
            (
                "token ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
                "MIIEpAIBAAKCAQEA",
            ),
        ];
        for (text, secret) in cases {
            let out = r.redact(text);
            assert!(!out.contains(secret), "{text:?} -> {out:?}");
            assert!(out.contains("[REDACTED-"), "{out}");
        }
    }

    #[test]
    fn placeholders_are_stable_and_ordinary_text_survives() {
        let mut r = Redactor::new();
        let a = r.redact("PASSWORD=abc123xyz and later PASSWORD=abc123xyz");
        assert_eq!(a, "PASSWORD=[REDACTED-1] and later PASSWORD=[REDACTED-1]");
        let b = r.redact("secret: other-value");
        assert_eq!(b, "secret: [REDACTED-2]");
        let plain = "psycopg2.OperationalError: connection to server at \"postgres\" port 5432 failed: Connection refused";
        assert_eq!(r.redact(plain), plain);
        assert_eq!(
            r.redact("exit code 137, restarts: 7"),
            "exit code 137, restarts: 7"
        );
        assert_eq!(r.count(), 2);
    }
}
