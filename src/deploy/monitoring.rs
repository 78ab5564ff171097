//! The todo app's monitoring (the chart's `monitoring` section): the objects
//! `chart/templates/monitoring.yaml` renders, embedded, and how the values change them. The test
//! suite renders the chart with the real helm and requires identical objects.

use kube::Api;
use kube::api::{DynamicObject, ListParams};
use kube::discovery::ApiResource;
use serde_json::{Value, json};

use super::app::{NAMESPACE, Values};
use super::survey::Note;
use crate::cluster::kinds;
use crate::cluster::live::Cluster;

/// `helm template ... --set monitoring.enabled=true --set monitoring.backend.enabled=true
/// --show-only templates/monitoring.yaml`, committed.
pub(crate) const MONITORING: &str = include_str!("../../manifests/todo-app/monitoring.yaml");

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

/// One of the operator's Prometheus servers, as far as the app's monitoring is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prometheus {
    /// `namespace/name`.
    pub name: String,
    pub namespace: String,
    /// Its `serviceMonitorSelector` and `ruleSelector`.
    pub selectors: [Option<Value>; 2],
    /// Its `serviceMonitorNamespaceSelector` and `ruleNamespaceSelector`.
    pub namespace_selectors: [Option<Value>; 2],
}

impl Prometheus {
    pub(crate) fn read(o: &Value) -> Prometheus {
        let meta = |k: &str| o["metadata"][k].as_str().unwrap_or_default().to_string();
        let spec = |k: &str| o["spec"].get(k).filter(|v| !v.is_null()).cloned();
        Prometheus {
            name: format!("{}/{}", meta("namespace"), meta("name")),
            namespace: meta("namespace"),
            selectors: [spec("serviceMonitorSelector"), spec("ruleSelector")],
            namespace_selectors: [
                spec("serviceMonitorNamespaceSelector"),
                spec("ruleNamespaceSelector"),
            ],
        }
    }
}

/// The Prometheus servers in the cluster, or why they could not be listed.
pub(crate) async fn prometheuses(cluster: &Cluster) -> Result<Vec<Prometheus>, String> {
    let k = &kinds::PROMETHEUSES;
    let ar = ApiResource {
        group: k.group.into(),
        version: k.version.into(),
        api_version: k.api_version(),
        kind: k.kind.into(),
        plural: k.plural.into(),
    };
    let list = Api::<DynamicObject>::all_with(cluster.client.clone(), &ar)
        .list(&ListParams::default())
        .await
        .map_err(|e| crate::error::kube_detail(&e))?;
    let mut found: Vec<Prometheus> = list
        .items
        .iter()
        .map(|o| Prometheus::read(&serde_json::to_value(o).unwrap_or_default()))
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// The labels a selector requires of the app's objects: None when the Prometheus selects none
/// (no selector) or selects by expressions.
fn required(selector: Option<&Value>) -> Option<Vec<(String, String)>> {
    let s = selector?;
    if s.get("matchExpressions")
        .and_then(Value::as_array)
        .is_some_and(|e| !e.is_empty())
    {
        return None;
    }
    let labels = s["matchLabels"].as_object().into_iter().flatten();
    Some(
        labels
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect(),
    )
}

/// Whether a namespace selector of `p` takes in `namespace`, labelled as the app's Namespace is.
fn reaches(p: &Prometheus, selector: Option<&Value>, namespace: &str) -> bool {
    let Some(s) = selector else {
        return p.namespace == namespace;
    };
    let has_expressions = s
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_some_and(|e| !e.is_empty());
    let mut labels = super::app::objects()
        .into_iter()
        .find(|o| o["kind"] == "Namespace")
        .and_then(|o| o["metadata"]["labels"].as_object().cloned())
        .unwrap_or_default();
    labels.insert("kubernetes.io/metadata.name".into(), json!(namespace));
    !has_expressions
        && s["matchLabels"]
            .as_object()
            .into_iter()
            .flatten()
            .all(|(k, v)| labels.get(k) == Some(v))
}

/// What the first Prometheus needs of the app's monitoring objects: the labels its selectors ask
/// for (set unless the user chose some) and whether it looks in `namespace` at all.
pub(crate) fn adapt(
    found: &Result<Vec<Prometheus>, String>,
    user: &Values,
    v: &mut Values,
    namespace: &str,
) -> Vec<Note> {
    let p = match found {
        Err(e) => return vec![Note::Info(format!("monitoring: the Prometheus servers could not be read ({e}); check that one selects the app's ServiceMonitors and rules"))],
        Ok(list) => match list.first() {
            Some(p) => p,
            None => return vec![Note::Info("monitoring: no Prometheus server yet; the first one must select the app's ServiceMonitors and rules (see --set monitoring.labels.NAME)".into())],
        },
    };
    let mut notes = Vec::new();
    if !user.0.iter().any(|(k, _)| k.starts_with(LABELS)) {
        notes.extend(select_labels(p, v));
    }
    if !p
        .namespace_selectors
        .iter()
        .all(|s| reaches(p, s.as_ref(), namespace))
    {
        notes.push(Note::Missing {
            what: format!("Prometheus {} does not look for ServiceMonitors and rules in namespace {namespace}", p.name),
            fix: "set its serviceMonitorNamespaceSelector and ruleNamespaceSelector to {} (kube-prometheus-stack: prometheus.prometheusSpec.serviceMonitorNamespaceSelector and ruleNamespaceSelector)".into(),
        });
    }
    notes
}

/// The labels both of `p`'s selectors ask for, set on the app's monitors and rule.
fn select_labels(p: &Prometheus, v: &mut Values) -> Option<Note> {
    let (Some(mut labels), Some(more)) = (
        required(p.selectors[0].as_ref()),
        required(p.selectors[1].as_ref()),
    ) else {
        return Some(unreachable_labels(p));
    };
    for l in more {
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    for (k, val) in &labels {
        // A label name Helm's --set cannot spell (dots) cannot be set as a value either.
        if v.set(&format!("{LABELS}{k}"), json!(val)).is_err() {
            return Some(unreachable_labels(p));
        }
    }
    let shown: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    (!labels.is_empty()).then(|| {
        Note::Adapted(format!(
            "monitoring: labelled {}, which Prometheus {} selects its ServiceMonitors and rules by",
            shown.join(", "),
            p.name
        ))
    })
}

fn unreachable_labels(p: &Prometheus) -> Note {
    Note::Missing {
        what: format!(
            "Prometheus {} selects ServiceMonitors and rules in a way the chart's labels cannot meet (no selector, expressions, or label names with dots)",
            p.name
        ),
        fix: "give it a serviceMonitorSelector and ruleSelector with matchLabels, then --set monitoring.labels.NAME=VALUE".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kube_prometheus_stack(selector: Value, namespaces: Value) -> Prometheus {
        Prometheus::read(&json!({
            "metadata": {"name": "kube-prometheus-stack-prometheus", "namespace": "monitoring"},
            "spec": {"serviceMonitorSelector": selector, "ruleSelector": selector,
                     "serviceMonitorNamespaceSelector": namespaces, "ruleNamespaceSelector": namespaces},
        }))
    }

    #[test]
    fn the_prometheus_selectors_become_labels_unless_the_user_chose() {
        let p = kube_prometheus_stack(
            json!({"matchLabels": {"release": "kube-prometheus-stack"}}),
            json!({}),
        );
        let mut v = Values::default();
        let notes = adapt(&Ok(vec![p.clone()]), &Values::default(), &mut v, "todo-app");
        assert_eq!(
            v.get("monitoring.labels.release"),
            Some(&json!("kube-prometheus-stack"))
        );
        assert!(
            matches!(&notes[..], [Note::Adapted(t)] if t.contains("release=kube-prometheus-stack")),
            "{notes:?}"
        );

        let mut user = Values::default();
        user.set_arg("monitoring.labels.team=web").unwrap();
        let mut v = user.clone();
        assert!(adapt(&Ok(vec![p]), &user, &mut v, "todo-app").is_empty());
        assert_eq!(v.get("monitoring.labels.release"), None);

        // Selecting everything needs no label; selecting nothing cannot be met by labels.
        let all = kube_prometheus_stack(json!({}), json!({}));
        let mut v = Values::default();
        assert!(adapt(&Ok(vec![all]), &Values::default(), &mut v, "todo-app").is_empty());
        let none = Prometheus::read(
            &json!({"metadata": {"name": "k8s", "namespace": "monitoring"}, "spec": {}}),
        );
        let notes = adapt(
            &Ok(vec![none]),
            &Values::default(),
            &mut Values::default(),
            "todo-app",
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes.iter().all(|n| matches!(n, Note::Missing { .. })));
    }

    #[test]
    fn a_prometheus_confined_to_its_namespace_is_reported() {
        let p = kube_prometheus_stack(json!({}), Value::Null);
        let notes = adapt(
            &Ok(vec![p]),
            &Values::default(),
            &mut Values::default(),
            "todo-app",
        );
        assert!(
            matches!(&notes[..], [Note::Missing { what, .. }] if what.contains("namespace todo-app")),
            "{notes:?}"
        );
        let named = kube_prometheus_stack(
            json!({}),
            json!({"matchLabels": {"kubernetes.io/metadata.name": "todo-app"}}),
        );
        assert!(
            adapt(
                &Ok(vec![named]),
                &Values::default(),
                &mut Values::default(),
                "todo-app"
            )
            .is_empty()
        );
    }

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
