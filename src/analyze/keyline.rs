//! The lines of a log that explain an error, multi-line errors included.
//!
//! A stack trace is mostly frames; the line that matters is elsewhere in each language: the last
//! line of a Python traceback (and, for pydantic, the field lines after "1 validation error for
//! Settings"), the last `Caused by:` of a Java chain, Go's `panic:` line and the first frame of
//! the panicking goroutine, the `Error:` line above a Node.js stack, the `(ArgumentError)` line
//! of a Rails boot. Those come first; plain lines with error words fill up to the limit.

/// Words of a line that reads as an error.
const ERROR_WORDS: &[&str] = &[
    "error",
    "exception",
    "fatal",
    "panic",
    "failed",
    "failure",
    "refused",
    "denied",
    "forbidden",
    "not found",
    "cannot",
    "can't",
    "could not",
    "unable",
    "invalid",
    "killed",
    "timeout",
    "timed out",
    "no such",
    "missing",
    "required",
    "critical",
    "not defined",
    "unknown flag",
    "unrecognized",
];

/// The last `max` lines that explain the log's errors, in log order: the key lines of
/// multi-line errors first, then lines with error words; the last lines when none match, since a
/// crash's final words are its best explanation.
pub(crate) fn key_lines(log: &str, max: usize) -> Vec<String> {
    let expanded: Vec<String> = log.lines().flat_map(structured_message).collect();
    let lines: Vec<&str> = expanded
        .iter()
        .map(|l| l.trim_end())
        .filter(|l| !l.trim().is_empty())
        .collect();
    let mut picked: Vec<usize> = structural(&lines);
    picked.reverse();
    picked.truncate(max);
    for (i, l) in lines.iter().enumerate().rev() {
        if picked.len() >= max {
            break;
        }
        // A chain's outer causes only repeat its deepest one, already picked.
        let outer_cause = l.trim_start().starts_with("Caused by: ");
        if !picked.contains(&i) && !is_frame(l) && !outer_cause && has_error_word(l) {
            picked.push(i);
        }
    }
    if picked.is_empty() {
        picked = (lines.len().saturating_sub(3.min(max))..lines.len()).collect();
    }
    picked.sort_unstable();
    picked.dedup();
    picked
        .into_iter()
        .map(|i| clip(lines[i].trim(), 300))
        .collect()
}

/// A JSON log line (ECS, logrus, zap, bunyan) as the lines of its message, so the error inside
/// `"message": "...\\n..."` reads like any other; other lines as they are.
fn structured_message(line: &str) -> Vec<String> {
    let trimmed = line.trim();
    if !trimmed.starts_with('{') {
        return vec![line.to_string()];
    }
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str::<serde_json::Value>(trimmed)
    else {
        return vec![line.to_string()];
    };
    let text = ["message", "msg", "error.message", "err", "error"]
        .iter()
        .filter_map(|k| fields.get(*k)?.as_str())
        .collect::<Vec<_>>()
        .join(": ");
    if text.is_empty() {
        return vec![line.to_string()];
    }
    text.lines().map(str::to_string).collect()
}

fn has_error_word(line: &str) -> bool {
    let lower = line.to_lowercase();
    ERROR_WORDS.iter().any(|w| lower.contains(w))
}

/// A stack frame or source excerpt: the bulk of a trace, never its key line.
fn is_frame(line: &str) -> bool {
    let t = line.trim_start();
    let indented = line.len() != t.len();
    t.starts_with("at ") && indented
        || t.starts_with("File \"")
        || t.starts_with("... ") && t.ends_with("more")
        || t.starts_with("goroutine ")
        || t.starts_with('^')
        || t.starts_with("~~")
        || (indented && t.starts_with('/') && t.contains(".go:"))
        || t.starts_with("from /")
        || t.starts_with("For further information visit")
        || line.starts_with("    ")
}

/// Indexes of the key lines of every multi-line error, in log order.
fn structural(lines: &[&str]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.starts_with("Traceback (most recent call last)") {
            // The exception is the first unindented line after the frames.
            if let Some(end) =
                (i + 1..lines.len()).find(|&j| !lines[j].starts_with(' ') && !is_frame(lines[j]))
            {
                out.push(end);
                out.extend(pydantic_fields(lines, end));
                i = end;
            }
        } else if line.contains("validation error") && line.contains(" for ") {
            out.push(i);
            out.extend(pydantic_fields(lines, i));
        } else if line.starts_with("panic: ") || line.starts_with("fatal error: ") {
            out.push(i);
            // The first frame of the panicking goroutine: the function, then its file:line.
            if let Some(g) = (i + 1..lines.len()).find(|&j| lines[j].starts_with("goroutine ")) {
                let frame = (g + 1..lines.len())
                    .find(|&j| {
                        !lines[j].trim_start().starts_with("panic(")
                            && !lines[j].contains("runtime/panic.go")
                            && !lines[j].starts_with('\t')
                    })
                    .filter(|&j| !lines[j].starts_with("goroutine "));
                if let Some(f) = frame {
                    out.push(f);
                    if lines.get(f + 1).is_some_and(|l| l.starts_with('\t')) {
                        out.push(f + 1);
                    }
                }
            }
        } else if line.starts_with("Caused by: ") {
            // Only the deepest cause of a chain.
            let last = (i..lines.len())
                .take_while(|&j| lines[j].trim().starts_with("Caused by: ") || is_frame(lines[j]))
                .filter(|&j| lines[j].trim().starts_with("Caused by: "))
                .last()
                .unwrap_or(i);
            out.push(last);
            i = last;
        } else if is_js_error(line)
            && lines
                .get(i + 1)
                .is_some_and(|n| n.trim_start().starts_with("at "))
            // A Ruby boot error: `file.rb:658:in `method': message (ArgumentError)`.
            || line.ends_with("Error)") && line.contains(":in `")
        {
            out.push(i);
        }
        i += 1;
    }
    out
}

/// `Error: connect ECONNREFUSED`, `TypeError: x is undefined`: a JavaScript error line.
fn is_js_error(line: &str) -> bool {
    let head = line.split(':').next().unwrap_or_default();
    !head.is_empty()
        && !head.contains(' ')
        && (head.ends_with("Error") || head.ends_with("Exception"))
}

/// pydantic's field lines after "N validation error(s) for Model": the field name on its own line,
/// then an indented "Field required [type=missing, ...]". Each field becomes one line index (the
/// name; the reason line follows it).
fn pydantic_fields(lines: &[&str], header: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let Some(at) =
        (header..lines.len().min(header + 2)).find(|&j| lines[j].contains("validation error"))
    else {
        return out;
    };
    let mut j = at + 1;
    while j < lines.len() && out.len() < 8 {
        let l = lines[j];
        let reason = lines
            .get(j + 1)
            .is_some_and(|n| n.starts_with("  ") && n.contains("[type="));
        if !l.starts_with(' ') && reason {
            out.push(j);
            out.push(j + 1);
            j += 2;
            // Older pydantic prints a "For further information" line after each reason.
            while lines
                .get(j)
                .is_some_and(|n| n.trim_start().starts_with("For further information"))
            {
                j += 1;
            }
        } else {
            break;
        }
    }
    out
}

/// A message's first line, trimmed and clipped: what an evidence line quotes of it.
pub(crate) fn first_line(s: &str) -> String {
    clip(s.lines().next().unwrap_or_default().trim(), 300)
}

pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_errors_in_order_and_last_lines_otherwise() {
        let log =
            "starting\nconnecting to db\nERROR: connection refused\nretrying\nFATAL: giving up\n";
        assert_eq!(
            key_lines(log, 5),
            ["ERROR: connection refused", "FATAL: giving up"]
        );
        assert_eq!(key_lines("a\nb\nc\nd\n", 5), ["b", "c", "d"]);
    }

    #[test]
    fn pydantic_field_lines_are_kept() {
        let log = r#"Traceback (most recent call last):
  File "/app/main.py", line 4, in <module>
    settings = Settings()
  File "/usr/local/lib/python3.12/site-packages/pydantic_settings/main.py", line 167, in __init__
    super().__init__(
  File "/usr/local/lib/python3.12/site-packages/pydantic/main.py", line 212, in __init__
    validated_self = self.__pydantic_validator__.validate_python(data, self_instance=self)
pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings
DATABASE_URL
  Field required [type=missing, input_value={}, input_type=dict]
    For further information visit https://errors.pydantic.dev/2.9/v/missing
"#;
        let lines = key_lines(log, 5);
        assert!(lines.contains(&"DATABASE_URL".to_string()), "{lines:?}");
        assert!(lines.iter().any(|l| l.starts_with(
            "pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings"
        )));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("Field required [type=missing"))
        );
        assert!(!lines.iter().any(|l| l.starts_with("File ")));
    }

    #[test]
    fn java_keeps_the_deepest_cause() {
        let log = "Exception in thread \"main\" org.springframework.beans.factory.BeanCreationException: Error creating bean with name 'dataSource'\n\tat org.springframework.Foo.bar(Foo.java:10)\nCaused by: org.hibernate.HibernateException: Access to DialectResolutionInfo cannot be null\n\tat org.hibernate.X.y(X.java:1)\nCaused by: java.net.ConnectException: Connection refused\n\tat java.base/sun.nio.ch.Net.connect0(Native Method)\n\t... 42 more\n";
        let lines = key_lines(log, 2);
        assert_eq!(lines.len(), 2);
        assert!(
            lines[1].starts_with("Caused by: java.net.ConnectException: Connection refused"),
            "{lines:?}"
        );
        assert!(!lines.iter().any(|l| l.contains("HibernateException")));
    }

    #[test]
    fn go_panic_and_its_first_frame() {
        let log = "starting server\npanic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x6b4f2a]\n\ngoroutine 1 [running]:\nmain.loadConfig(0x0)\n\t/src/cmd/api/config.go:42 +0x2a\nmain.main()\n\t/src/cmd/api/main.go:17 +0x85\n";
        let lines = key_lines(log, 3);
        assert_eq!(
            lines,
            [
                "panic: runtime error: invalid memory address or nil pointer dereference",
                "main.loadConfig(0x0)",
                "/src/cmd/api/config.go:42 +0x2a"
            ]
        );
    }

    #[test]
    fn a_usage_text_yields_the_line_before_it() {
        let log = "flag provided but not defined: -listen-addr\nUsage of /usr/local/bin/ratelimiter:\n  -addr string\n    \taddress to listen on (default \":8080\")\n";
        assert_eq!(
            key_lines(log, 3),
            ["flag provided but not defined: -listen-addr"]
        );
    }

    #[test]
    fn json_lines_read_as_their_message() {
        let log = r#"{"@timestamp":"2026-11-20T09:58:00.000Z", "log.level":"ERROR", "message":"node validation exception\n[1] bootstrap checks failed. You must address the points described in the following [1] lines before starting Elasticsearch.\nbootstrap check failure [1] of [1]: max virtual memory areas vm.max_map_count [65530] is too low, increase to at least [262144]", "ecs.version": "1.2.0"}"#;
        let lines = key_lines(log, 5);
        assert!(
            lines.iter().any(|l| l.starts_with("bootstrap check failure [1] of [1]: max virtual memory areas vm.max_map_count [65530] is too low")),
            "{lines:?}"
        );
    }

    #[test]
    fn node_and_rails_error_lines() {
        let node = "Server starting\nError: connect ECONNREFUSED 10.96.12.4:5432\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1595:16)\n";
        assert_eq!(
            key_lines(node, 1),
            ["Error: connect ECONNREFUSED 10.96.12.4:5432"]
        );
        let rails = "/usr/local/bundle/gems/railties-7.1.3/lib/rails/application.rb:658:in `validate_secret_key_base': Missing `secret_key_base` for 'production' environment, set this string with `bin/rails credentials:edit` (ArgumentError)\n\tfrom /usr/local/bundle/gems/railties-7.1.3/lib/rails/application.rb:600:in `secret_key_base'\n";
        assert!(key_lines(rails, 1)[0].contains("Missing `secret_key_base`"));
    }
}
