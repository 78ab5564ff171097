//! The bundled todo app: its manifests (the Helm chart rendered with its defaults, embedded), the
//! documented values a user may set, and how each value changes the objects.
//!
//! kubectl-ai does not run Helm; it applies each value to the rendered objects the way the chart's
//! templates would. The test suite renders the chart with the real helm for every value here and
//! requires identical objects, so the two cannot drift apart.

use serde_json::{Value, json};

use crate::error::Error;

/// `helm template todo manifests/todo-app/chart --namespace todo-app`, committed.
pub(crate) const TODO_APP: &str = include_str!("../../manifests/todo-app/todo-app.yaml");
/// The namespace the bundled manifests are rendered for.
pub(crate) const NAMESPACE: &str = "todo-app";
/// The Secret the manifests read credentials from; generated at deploy time, never committed.
pub(crate) const SECRET: &str = "todo-secrets";

/// One documented value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    pub name: &'static str,
    pub kind: ValueKind,
    pub help: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    Text,
    /// A whole number at least 1.
    Count,
    Bool,
    /// ClusterIP, NodePort or LoadBalancer.
    ServiceType,
    /// 30000-32767.
    NodePort,
    /// A Prometheus duration: 30s, 1m30s.
    Duration,
}

impl Key {
    /// Whether `name` is this key; `PREFIX.NAME` keys take any label name without dots (Helm's
    /// `--set` splits keys at dots).
    fn matches(&self, name: &str) -> bool {
        match self.name.strip_suffix("NAME") {
            Some(prefix) => name.strip_prefix(prefix).is_some_and(|n| {
                !n.is_empty()
                    && n.len() <= 63
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            }),
            None => self.name == name,
        }
    }
}

const fn key(name: &'static str, kind: ValueKind, help: &'static str) -> Key {
    Key { name, kind, help }
}

/// Every value `--set` (and a request in words) may change, as in the chart's values.yaml.
pub(crate) const KEYS: &[Key] = &[
    key(
        "imageTag",
        ValueKind::Text,
        "tag of the frontend and backend images (also --image-tag)",
    ),
    key(
        "frontend.image",
        ValueKind::Text,
        "frontend image repository",
    ),
    key("backend.image", ValueKind::Text, "backend image repository"),
    key("frontend.replicas", ValueKind::Count, "frontend replicas"),
    key("backend.replicas", ValueKind::Count, "backend replicas"),
    key(
        "frontend.autoscaling.enabled",
        ValueKind::Bool,
        "an HPA for the frontend",
    ),
    key(
        "backend.autoscaling.enabled",
        ValueKind::Bool,
        "an HPA for the backend",
    ),
    key(
        "frontend.service.type",
        ValueKind::ServiceType,
        "how the frontend is exposed: ClusterIP, NodePort, LoadBalancer",
    ),
    key(
        "frontend.service.nodePort",
        ValueKind::NodePort,
        "the node port when the type is NodePort",
    ),
    key(
        "postgres.storage",
        ValueKind::Text,
        "size of the database volume (e.g. 5Gi)",
    ),
    key(
        "postgres.storageClassName",
        ValueKind::Text,
        "StorageClass of the database and backup volumes (empty: the cluster's default)",
    ),
    key(
        "backup.enabled",
        ValueKind::Bool,
        "the nightly pg_dump CronJob and its volume",
    ),
    key(
        "backup.schedule",
        ValueKind::Text,
        "cron schedule of the backup",
    ),
    key(
        "ingress.enabled",
        ValueKind::Bool,
        "an Ingress for the frontend",
    ),
    key(
        "ingress.className",
        ValueKind::Text,
        "IngressClass of the Ingress",
    ),
    key(
        "ingress.host",
        ValueKind::Text,
        "host name of the Ingress (e.g. todo.local)",
    ),
    key(
        "monitoring.enabled",
        ValueKind::Bool,
        "ServiceMonitors, a PostgreSQL exporter, alerts and a Grafana dashboard (needs the prometheus-operator's CRDs)",
    ),
    key(
        "monitoring.backend.enabled",
        ValueKind::Bool,
        "scrape the backend's /metrics too (only if your build serves them)",
    ),
    key(
        "monitoring.interval",
        ValueKind::Duration,
        "how often Prometheus scrapes the app (e.g. 30s)",
    ),
    key(
        "monitoring.labels.NAME",
        ValueKind::Text,
        "a label for the Prometheus's selectors (e.g. monitoring.labels.release=kube-prometheus-stack)",
    ),
];

/// Values set by the user (or adapted to the cluster), by key, in the order given.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Values(pub Vec<(String, Value)>);

impl Values {
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets a value after checking the key and its type.
    pub(crate) fn set(&mut self, key: &str, value: Value) -> Result<(), Error> {
        let k = KEYS.iter().find(|k| k.matches(key)).ok_or_else(|| {
            let names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
            Error::Usage(format!(
                "unknown value {key:?}; the todo app has: {}",
                names.join(", ")
            ))
        })?;
        let typed = check(k, value)?;
        self.0.push((key.to_string(), typed));
        Ok(())
    }

    /// `KEY=VALUE` as typed on a command line.
    pub(crate) fn set_arg(&mut self, arg: &str) -> Result<(), Error> {
        let (key, raw) = arg
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--set {arg:?}: write KEY=VALUE")))?;
        let value = serde_saphyr::from_str::<Value>(raw).unwrap_or_else(|_| json!(raw));
        self.set(key.trim(), value)
    }
}

fn check(k: &Key, v: Value) -> Result<Value, Error> {
    let bad = |want: &str| Error::Usage(format!("{}: expected {want}, got {v}", k.name));
    Ok(match k.kind {
        ValueKind::Text => match &v {
            Value::String(_) => v,
            Value::Number(n) => json!(n.to_string()),
            _ => return Err(bad("text")),
        },
        ValueKind::Count => match v.as_i64() {
            Some(n) if (1..=100).contains(&n) => json!(n),
            _ => return Err(bad("a whole number from 1 to 100")),
        },
        ValueKind::Bool => match &v {
            Value::Bool(_) => v,
            _ => return Err(bad("true or false")),
        },
        ValueKind::ServiceType => match v.as_str() {
            Some("ClusterIP" | "NodePort" | "LoadBalancer") => v,
            _ => return Err(bad("ClusterIP, NodePort or LoadBalancer")),
        },
        ValueKind::NodePort => match v.as_i64() {
            Some(n) if (30000..=32767).contains(&n) => json!(n),
            _ => return Err(bad("a port from 30000 to 32767")),
        },
        ValueKind::Duration => match v.as_str() {
            Some(d) if super::monitoring::is_duration(d) => v,
            _ => return Err(bad("a duration such as 30s or 1m30s")),
        },
    })
}

/// The bundled objects, in file order.
pub(crate) fn objects() -> Vec<Value> {
    serde_saphyr::from_str_multiple::<Value, Vec<Value>>(TODO_APP)
        .expect("the bundled manifests parse (tested)")
        .into_iter()
        .filter(|v| v.is_object())
        .collect()
}

fn is(o: &Value, kind: &str, name: &str) -> bool {
    o["kind"] == kind && o["metadata"]["name"] == name
}

fn containers_mut(o: &mut Value) -> impl Iterator<Item = &mut Value> {
    o.pointer_mut("/spec/template/spec/containers")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

/// The bundled objects with `values` applied and moved to `namespace`, as the chart would render
/// them with `--set` and `--namespace`.
pub(crate) fn render(values: &Values, namespace: &str) -> Vec<Value> {
    let mut objs = objects();
    objs.extend(super::monitoring::objects(values, namespace));
    for (component, deployment) in [("frontend", "todo-frontend"), ("backend", "todo-backend")] {
        set_component(&mut objs, values, component, deployment);
    }
    set_frontend_service(&mut objs, values);
    set_postgres_storage(&mut objs, values);
    set_backup(&mut objs, values);
    set_ingress(&mut objs, values);
    if namespace != NAMESPACE {
        move_to(&mut objs, namespace);
    }
    objs
}

/// A text value, when set.
fn text(values: &Values, key: &str) -> Option<String> {
    values.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A true/false value, when set.
fn on(values: &Values, key: &str) -> Option<bool> {
    values.get(key).and_then(Value::as_bool)
}

/// `<component>.replicas`, `<component>.image`, `imageTag` and `<component>.autoscaling.enabled`
/// on the component's Deployment and HorizontalPodAutoscaler.
fn set_component(objs: &mut Vec<Value>, values: &Values, component: &str, deployment: &str) {
    if let Some(n) = values.get(&format!("{component}.replicas")) {
        for o in objs.iter_mut().filter(|o| is(o, "Deployment", deployment)) {
            o["spec"]["replicas"] = n.clone();
        }
    }
    let repo = text(values, &format!("{component}.image"));
    let tag = text(values, "imageTag");
    if repo.is_some() || tag.is_some() {
        for o in objs.iter_mut().filter(|o| is(o, "Deployment", deployment)) {
            for c in containers_mut(o) {
                let current = c["image"].as_str().unwrap_or_default().to_string();
                let (r, t) = current.rsplit_once(':').unwrap_or((&current, ""));
                let image = format!(
                    "{}:{}",
                    repo.as_deref().unwrap_or(r),
                    tag.as_deref().unwrap_or(t)
                );
                c["image"] = json!(image);
            }
        }
    }
    if on(values, &format!("{component}.autoscaling.enabled")) == Some(false) {
        objs.retain(|o| !is(o, "HorizontalPodAutoscaler", deployment));
    }
}

/// `frontend.service.type` and `frontend.service.nodePort`; a node port stays only on a NodePort
/// Service, as the chart's template writes it.
fn set_frontend_service(objs: &mut [Value], values: &Values) {
    if let Some(t) = text(values, "frontend.service.type") {
        for o in objs
            .iter_mut()
            .filter(|o| is(o, "Service", "todo-frontend"))
        {
            o["spec"]["type"] = json!(t);
        }
    }
    let node_port = values.get("frontend.service.nodePort").cloned();
    for o in objs
        .iter_mut()
        .filter(|o| is(o, "Service", "todo-frontend"))
    {
        let node_port_type = o["spec"]["type"] == "NodePort";
        if let Some(ports) = o.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for p in ports {
                match (&node_port, node_port_type) {
                    (Some(n), true) => p["nodePort"] = n.clone(),
                    _ => {
                        if let Some(m) = p.as_object_mut() {
                            m.remove("nodePort");
                        }
                    }
                }
            }
        }
    }
}

/// `postgres.storage` and `postgres.storageClassName` on the database's claim template and the
/// backups' claim; an empty class name removes the field (the cluster's default class).
fn set_postgres_storage(objs: &mut [Value], values: &Values) {
    if let Some(size) = text(values, "postgres.storage") {
        for o in objs.iter_mut().filter(|o| is(o, "StatefulSet", "postgres")) {
            if let Some(t) = o.pointer_mut("/spec/volumeClaimTemplates/0/spec/resources/requests") {
                t["storage"] = json!(size);
            }
        }
    }
    if let Some(class) = text(values, "postgres.storageClassName") {
        for o in objs.iter_mut() {
            let spec = if is(o, "StatefulSet", "postgres") {
                o.pointer_mut("/spec/volumeClaimTemplates/0/spec")
            } else if is(o, "PersistentVolumeClaim", "postgres-backups") {
                o.get_mut("spec")
            } else {
                None
            };
            if let Some(Value::Object(spec)) = spec {
                if class.is_empty() {
                    spec.remove("storageClassName");
                } else {
                    spec.insert("storageClassName".into(), json!(class));
                }
            }
        }
    }
}

/// `backup.enabled` (false drops the CronJob and its claim) and `backup.schedule`.
fn set_backup(objs: &mut Vec<Value>, values: &Values) {
    if on(values, "backup.enabled") == Some(false) {
        objs.retain(|o| {
            !is(o, "CronJob", "postgres-backup")
                && !is(o, "PersistentVolumeClaim", "postgres-backups")
        });
    }
    if let Some(s) = text(values, "backup.schedule") {
        for o in objs
            .iter_mut()
            .filter(|o| is(o, "CronJob", "postgres-backup"))
        {
            o["spec"]["schedule"] = json!(s);
        }
    }
}

/// `ingress.enabled` (false drops the Ingress), `ingress.className` and `ingress.host`.
fn set_ingress(objs: &mut Vec<Value>, values: &Values) {
    if on(values, "ingress.enabled") == Some(false) {
        objs.retain(|o| o["kind"] != "Ingress");
    }
    for o in objs.iter_mut().filter(|o| o["kind"] == "Ingress") {
        if let Some(c) = text(values, "ingress.className") {
            o["spec"]["ingressClassName"] = json!(c);
        }
        if let Some(h) = text(values, "ingress.host") {
            for rule in o
                .pointer_mut("/spec/rules")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                rule["host"] = json!(h);
            }
        }
    }
}

/// Renames the Namespace object (and its `kubernetes.io/metadata.name` label) and moves every
/// namespaced object into it.
fn move_to(objs: &mut [Value], namespace: &str) {
    for o in objs {
        if o["kind"] == "Namespace" {
            o["metadata"]["name"] = json!(namespace);
            if let Some(labels) = o
                .pointer_mut("/metadata/labels")
                .and_then(Value::as_object_mut)
                && labels.contains_key("kubernetes.io/metadata.name")
            {
                labels.insert("kubernetes.io/metadata.name".into(), json!(namespace));
            }
        } else if o.pointer("/metadata/namespace").is_some() {
            o["metadata"]["namespace"] = json!(namespace);
        }
    }
}

/// Random credentials for the app's Secret, from the operating system's CSPRNG. The API key comes
/// from the user's environment when set, so the backend can reach the LLM.
pub(crate) fn secret(namespace: &str, openai_api_key: Option<&str>) -> Result<Value, Error> {
    let token = |bytes: usize| -> Result<String, Error> {
        let mut buf = vec![0u8; bytes];
        getrandom::fill(&mut buf)
            .map_err(|e| Error::Usage(format!("no secure random numbers available: {e}")))?;
        Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
    };
    let password = token(24)?;
    let config = objects()
        .into_iter()
        .find(|o| is(o, "ConfigMap", "todo-config"))
        .unwrap_or_default();
    let cfg = |k: &str, d: &str| config["data"][k].as_str().unwrap_or(d).to_string();
    let (user, db) = (cfg("POSTGRES_USER", "todo"), cfg("POSTGRES_DB", "todo"));
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": SECRET,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "todo-app", "app.kubernetes.io/managed-by": "kubectl-ai"},
        },
        "type": "Opaque",
        "stringData": {
            "DATABASE_PASSWORD": password,
            "DATABASE_URL": format!("postgresql://{user}:{password}@postgres:5432/{db}"),
            "AUTH_SECRET": token(32)?,
            "OPENAI_API_KEY": openai_api_key.unwrap_or_default(),
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_by_type() {
        let mut v = Values::default();
        v.set_arg("backend.replicas=3").unwrap();
        v.set_arg("ingress.enabled=false").unwrap();
        v.set_arg("imageTag=1.5").unwrap();
        assert_eq!(v.get("backend.replicas"), Some(&json!(3)));
        assert_eq!(v.get("imageTag"), Some(&json!("1.5")));
        assert!(v.set_arg("backend.replicas=many").is_err());
        assert!(v.set_arg("frontend.service.type=Ingress").is_err());
        assert!(v.set_arg("nope=1").is_err());
        assert!(v.set_arg("backend.replicas").is_err());
    }

    #[test]
    fn generated_secrets_differ_and_hold_no_placeholder() {
        let a = secret("todo-app", None).unwrap();
        let b = secret("todo-app", Some("sk-x")).unwrap();
        let pw = a["stringData"]["DATABASE_PASSWORD"].as_str().unwrap();
        assert_eq!(pw.len(), 48);
        assert_ne!(pw, b["stringData"]["DATABASE_PASSWORD"].as_str().unwrap());
        assert!(
            a["stringData"]["DATABASE_URL"]
                .as_str()
                .unwrap()
                .contains(pw)
        );
        assert_eq!(b["stringData"]["OPENAI_API_KEY"], "sk-x");
    }
}
