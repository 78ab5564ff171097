//! Every tool result within a token budget, redacted, and saying what it left out.
//!
//! A result is a head (counts, scope, notes: always kept) and ranked sections of whole items (a
//! finding, an event, a log line). Each item is redacted, then counted as its structured JSON plus
//! its line of text, with the project's tokenizer; items go in best first until the next would not
//! fit, and the rest of that section is counted as omitted. The finished result is counted again
//! as sent, so the budget holds exactly.

use serde_json::{Map, Value, json};

use crate::llm::redact::Redactor;
use crate::llm::tokens::count as count_tokens;

/// What the `omitted` note and the budget fields cost at most, reserved up front.
const NOTE_RESERVE: usize = 80;

/// One ranked list of a result: its key in the structured content, and its items as
/// (structured, text).
pub(super) struct Section {
    pub key: &'static str,
    pub items: Vec<(Value, String)>,
    /// Keep the last items rather than the first (a log's newest lines), still shown in order.
    pub from_end: bool,
}

impl Section {
    pub(super) fn new(key: &'static str) -> Section {
        Section {
            key,
            items: Vec::new(),
            from_end: false,
        }
    }

    pub(super) fn push(&mut self, value: Value, text: impl Into<String>) {
        self.items.push((value, text.into()));
    }
}

/// What went in of one section, and how many of its items did not.
struct Kept {
    key: &'static str,
    items: Vec<(Value, String)>,
    omitted: usize,
}

/// A finished result: the structured content and its short text rendering.
#[derive(Debug)]
pub(super) struct Fitted {
    pub structured: Value,
    pub text: String,
}

/// Fits `head` and `sections` into `max` tokens; everything is redacted first.
pub(super) fn fit(max: usize, head: Value, head_text: &str, sections: Vec<Section>) -> Fitted {
    let mut r = Redactor::new();
    let head = redact_value(&mut r, head);
    let head_text = r.redact(head_text);
    let mut used = tokens(&head) + count_tokens(&head_text) + NOTE_RESERVE;
    let mut kept: Vec<Kept> = Vec::new();
    for mut s in sections {
        let total = s.items.len();
        let mut items = Vec::new();
        if s.from_end {
            s.items.reverse();
        }
        for (value, text) in s.items {
            let value = redact_value(&mut r, value);
            let text = r.redact(&text);
            let cost = tokens(&value) + count_tokens(&text) + 2;
            if used + cost > max {
                break;
            }
            used += cost;
            items.push((value, text));
        }
        let omitted = total - items.len();
        if s.from_end {
            items.reverse();
        }
        kept.push(Kept {
            key: s.key,
            items,
            omitted,
        });
    }
    loop {
        let fitted = assemble(max, &head, &head_text, &kept, r.count());
        let size = tokens(&fitted.structured) + count_tokens(&fitted.text);
        // Counted as sent; the per-item sums are an estimate that is almost always above it.
        match kept.iter_mut().rev().find(|k| !k.items.is_empty()) {
            Some(last) if size > max => {
                last.items.pop();
                last.omitted += 1;
            }
            _ => return fitted,
        }
    }
}

fn assemble(max: usize, head: &Value, head_text: &str, kept: &[Kept], redacted: usize) -> Fitted {
    let mut structured = match head {
        Value::Object(m) => m.clone(),
        other => Map::from_iter([("result".to_string(), other.clone())]),
    };
    let mut text = head_text.trim_end().to_string();
    let mut omitted = Map::new();
    for k in kept {
        structured.insert(
            k.key.to_string(),
            Value::Array(k.items.iter().map(|(v, _)| v.clone()).collect()),
        );
        for (_, line) in k.items.iter().filter(|(_, l)| !l.trim().is_empty()) {
            text.push('\n');
            text.push_str(line.trim_end());
        }
        if k.omitted > 0 {
            omitted.insert(k.key.to_string(), json!(k.omitted));
            text.push_str(&format!(
                "\n({} more {} left out to fit the {max}-token result budget)",
                k.omitted, k.key
            ));
        }
    }
    structured.insert(
        "budget".into(),
        json!({"maxTokens": max, "omitted": omitted, "redacted": redacted}),
    );
    if redacted > 0 {
        text.push_str(&format!(
            "\n({redacted} credential-like value(s) replaced with [REDACTED-n])"
        ));
    }
    Fitted {
        structured: Value::Object(structured),
        text,
    }
}

fn tokens(v: &Value) -> usize {
    count_tokens(&v.to_string())
}

/// Every string in a JSON value through the redactor (keys are names, not values).
fn redact_value(r: &mut Redactor, v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(r.redact(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(|v| redact_value(r, v)).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, redact_value(r, v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_fit_whole_items_best_first_and_say_what_is_left_out() {
        let mut s = Section::new("findings");
        for i in 0..400 {
            s.push(
                json!({"rule": "crash-loop", "n": i, "summary": format!("pod web-{i} restarts")}),
                format!("[error] crash-loop pod/web-{i}: restarts"),
            );
        }
        let f = fit(
            1000,
            json!({"source": "test"}),
            "Diagnosis of test",
            vec![s],
        );
        let size = tokens(&f.structured) + count_tokens(&f.text);
        assert!(size <= 1000, "{size}");
        let kept = f.structured["findings"].as_array().unwrap();
        assert!(kept.len() > 5, "{}", kept.len());
        assert_eq!(kept[0]["n"], 0, "best first");
        let omitted = f.structured["budget"]["omitted"]["findings"]
            .as_u64()
            .unwrap();
        assert_eq!(kept.len() as u64 + omitted, 400);
        assert!(
            f.text
                .contains(&format!("({omitted} more findings left out"))
        );
    }

    #[test]
    fn credentials_are_redacted_in_structure_and_text() {
        let mut s = Section::new("lines");
        s.push(
            json!({"line": "Authorization: Bearer canaryTOKENvalue12345"}),
            "DB_PASSWORD=hunter2canary",
        );
        let f = fit(1000, json!({}), "", vec![s]);
        let all = format!("{} {}", f.structured, f.text);
        assert!(all.contains("[REDACTED-1]"), "{all}");
        assert!(!all.contains("canaryTOKENvalue12345") && !all.contains("hunter2canary"));
        assert_eq!(f.structured["budget"]["redacted"], 2);
    }
}
