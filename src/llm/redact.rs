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

/// A name that says its value is a secret (`DB_PASSWORD`, `api-key`, `GITHUB_TOKEN`).
const SECRET_NAME: &str = r"[A-Z0-9_.\-]*(?:password|passwd|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|credentials?)[A-Z0-9_.\-]*";

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
        // An env var as the API returns it, `{"name": "API_TOKEN", "value": "..."}` in either
        // order: the name says it is a secret, the value sits in a field of its own.
        pattern(
            &format!(r#"(?i)"name"\s*:\s*"{SECRET_NAME}"\s*,\s*"value"\s*:\s*"([^"]*)""#),
            1,
        ),
        pattern(
            &format!(r#"(?i)"value"\s*:\s*"([^"]*)"\s*,\s*"name"\s*:\s*"{SECRET_NAME}""#),
            1,
        ),
        // NAME=value, NAME: value, "name": "value" where the name says it is a secret.
        pattern(
            &format!(r#"(?i)\b{SECRET_NAME}["']?[ \t]*[=:][ \t]*["']?([^\s"',;&}}]{{3,}})"#),
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
                    // A flag (`automountServiceAccountToken: false`) or an empty value hides nothing.
                    if secret.as_str().starts_with("[REDACTED-") || not_secret(secret.as_str()) {
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

/// Values a secret-named field holds that are no secret.
fn not_secret(value: &str) -> bool {
    value.is_empty() || ["true", "false", "null"].contains(&value.to_ascii_lowercase().as_str())
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
        let env = r#"{
          "name": "PAYMENT_API_TOKEN",
          "value": "tok-literal-5f2a"
        }"#;
        let reversed = r#"{"value": "pw-literal-77c1", "name": "db_password"}"#;
        for (text, secret) in cases
            .into_iter()
            .chain([(env, "tok-literal-5f2a"), (reversed, "pw-literal-77c1")])
        {
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
        let flags =
            "automountServiceAccountToken: false, \"name\": \"TOKEN_PATH\", \"value\": \"\"";
        assert_eq!(r.redact(flags), flags);
        let plain_env = r#"{"name": "LOG_LEVEL", "value": "debug"}"#;
        assert_eq!(r.redact(plain_env), plain_env);
    }
}
