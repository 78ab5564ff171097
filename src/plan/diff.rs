//! Live vs. proposed, as a person would read it: server-managed fields stripped, YAML, unified diff.

use serde_json::Value;
use similar::TextDiff;

use crate::ui::Palette;

/// Removes what the server writes and nobody edits (status, managedFields, uid, resourceVersion...).
pub fn clean(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("status");
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in [
                "managedFields",
                "resourceVersion",
                "uid",
                "generation",
                "creationTimestamp",
                "selfLink",
            ] {
                meta.remove(field);
            }
            if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                ann.remove("kubectl.kubernetes.io/last-applied-configuration");
                ann.remove("deployment.kubernetes.io/revision");
                if ann.is_empty() {
                    meta.remove("annotations");
                }
            }
        }
    }
    v
}

/// What a diff may show: a Secret's values become their length and a short fingerprint, so a
/// changed value is visible as changed without being printed.
pub(crate) fn shown(v: &Value) -> Value {
    let mut v = clean(v);
    if v.get("kind").and_then(Value::as_str) == Some("Secret") {
        for field in ["data", "stringData"] {
            if let Some(map) = v.get_mut(field).and_then(Value::as_object_mut) {
                for value in map.values_mut() {
                    let text = value.as_str().unwrap_or_default();
                    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                    });
                    *value = Value::String(format!(
                        "(hidden: {} bytes, fingerprint {:04x})",
                        text.len(),
                        hash & 0xffff
                    ));
                }
            }
        }
    }
    v
}

fn yaml(v: Option<&Value>) -> String {
    v.map(|v| serde_saphyr::to_string(&shown(v)).unwrap_or_default())
        .unwrap_or_default()
}

/// A unified diff of two states of one object; empty when nothing changes.
pub(crate) fn unified(before: Option<&Value>, after: Option<&Value>, label: &str) -> String {
    let (a, b) = (yaml(before), yaml(after));
    if a == b {
        return String::new();
    }
    TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("live {label}"), &format!("proposed {label}"))
        .to_string()
}

/// Colours a unified diff for a terminal.
pub(crate) fn paint(diff: &str, p: &Palette) -> String {
    diff.lines()
        .map(|l| {
            if l.starts_with("+++") || l.starts_with("---") {
                p.bold(l)
            } else if l.starts_with('+') {
                p.added(l)
            } else if l.starts_with('-') {
                p.removed(l)
            } else if l.starts_with("@@") {
                p.dim(l)
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_shows_only_what_a_human_edits() {
        let live = json!({"metadata": {"name": "web", "resourceVersion": "9", "managedFields": [{"manager": "x"}]},
                          "spec": {"replicas": 1}, "status": {"readyReplicas": 1}});
        let proposed = json!({"metadata": {"name": "web", "resourceVersion": "10"}, "spec": {"replicas": 3}, "status": {}});
        let d = unified(Some(&live), Some(&proposed), "deployment/web");
        assert!(
            d.contains("-  replicas: 1\n") && d.contains("+  replicas: 3\n"),
            "{d}"
        );
        assert!(
            !d.contains("resourceVersion")
                && !d.contains("managedFields")
                && !d.contains("readyReplicas")
        );
        assert_eq!(unified(Some(&live), Some(&live), "x"), "");
    }

    #[test]
    fn secret_values_never_appear_in_a_diff() {
        let live = json!({"kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "c2VjcmV0LW9uZQ=="}});
        let proposed = json!({"kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "c2VjcmV0LXR3bw=="}});
        let d = unified(Some(&live), Some(&proposed), "secret/db");
        assert!(
            !d.contains("c2VjcmV0") && d.contains("(hidden: 16 bytes"),
            "{d}"
        );
        assert!(
            d.contains("-  password:") && d.contains("+  password:"),
            "a changed value still shows as changed: {d}"
        );
    }
}
