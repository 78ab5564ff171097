//! The todo app's monitoring (the chart's `monitoring` section): the objects
//! `chart/templates/monitoring.yaml` renders, embedded, and how the values change them. The test
//! suite renders the chart with the real helm and requires identical objects.

use serde_json::{Value, json};

use super::app::{NAMESPACE, Values};

/// `helm template ... --set monitoring.enabled=true --set monitoring.backend.enabled=true
/// --show-only templates/monitoring.yaml`, committed.
pub const MONITORING: &str = include_str!("../../manifests/todo-app/monitoring.yaml");

/// The prefix of the `monitoring.labels.NAME` values.
pub(crate) const LABELS: &str = "monitoring.labels.";

/// What `monitoring.enabled` adds to the app, with `values` applied, for `namespace`.
pub(crate) fn objects(values: &Values, namespace: &str) -> Vec<Value> {
    let on = |k: &str| values.get(k).and_then(Value::as_bool);
    if on("monitoring.enabled") != Some(true) {
        return Vec::new();
    }
    let mut objs: Vec<Value> = serde_saphyr::from_str_multiple::<Value, Vec<Value>>(MONITORING)
        .expect("the bundled monitoring manifests parse (tested)")
        .into_iter()
        .filter(Value::is_object)
        .collect();
    if on("monitoring.backend.enabled") != Some(true) {
        objs.retain(|o| {
            !is(o, "ServiceMonitor", "todo-backend") && !is(o, "NetworkPolicy", "backend-metrics")
        });
    }
    let labels = labels(values);
    let interval = values.get("monitoring.interval").cloned();
    for o in &mut objs {
        if matches!(
            o["kind"].as_str(),
            Some("ServiceMonitor" | "PrometheusRule")
        ) {
            for (k, v) in &labels {
                o["metadata"]["labels"][k.as_str()] = json!(v);
            }
        }
        if let Some(i) = &interval {
            for e in endpoints(o) {
                e["interval"] = i.clone();
            }
        }
        if o["kind"] == "PrometheusRule" {
            rules(o, on("backup.enabled") != Some(false), namespace);
        }
    }
    objs
}

fn is(o: &Value, kind: &str, name: &str) -> bool {
    o["kind"] == kind && o["metadata"]["name"] == name
}

/// `monitoring.labels.NAME=VALUE` as (NAME, VALUE), the last of each name.
fn labels(values: &Values) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in &values.0 {
        if let (Some(name), Some(v)) = (k.strip_prefix(LABELS), v.as_str()) {
            out.retain(|(n, _)| n != name);
            out.push((name.to_string(), v.to_string()));
        }
    }
    out
}

fn endpoints(o: &mut Value) -> impl Iterator<Item = &mut Value> {
    o.pointer_mut("/spec/endpoints")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// The alerts without the backup's when there is no backup, their selectors in `namespace`.
fn rules(rule: &mut Value, backup: bool, namespace: &str) {
    let Some(groups) = rule
        .pointer_mut("/spec/groups")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    if !backup {
        groups.retain(|g| g["name"] != "todo-app.backup");
    }
    if namespace == NAMESPACE {
        return;
    }
    let (from, to) = (
        format!("namespace=\"{NAMESPACE}\""),
        format!("namespace=\"{namespace}\""),
    );
    for r in groups
        .iter_mut()
        .filter_map(|g| g["rules"].as_array_mut())
        .flatten()
    {
        if let Some(expr) = r["expr"].as_str() {
            r["expr"] = json!(expr.replace(&from, &to));
        }
    }
}

/// A Prometheus duration as the operator's CRDs accept it: `30s`, `1m30s`, `500ms`.
pub(crate) fn is_duration(s: &str) -> bool {
    if s == "0" {
        return true;
    }
    let units = ["y", "w", "d", "h", "m", "s", "ms"];
    let mut rest = s;
    let mut last = None;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        let unit = if rest.starts_with("ms") {
            "ms"
        } else {
            &rest[..rest.len().min(1)]
        };
        let Some(at) = units.iter().position(|u| *u == unit) else {
            return false;
        };
        if last.is_some_and(|l| at <= l) {
            return false;
        }
        last = Some(at);
        rest = &rest[unit.len()..];
    }
    last.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_as_the_operator_reads_them() {
        for ok in ["30s", "1m30s", "500ms", "2h", "1d", "0"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in ["", "30", "s", "30 s", "1s1m", "5x", "-1s"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }
}
