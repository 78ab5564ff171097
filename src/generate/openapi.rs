//! The cluster's own schema for what the LLM writes: fetched from `/openapi/v3` (per group-version,
//! or `/openapi/v2` from older servers), cached per cluster version in the XDG cache directory, and
//! used to catch unknown fields and wrong types before anyone sees a diff.
//!
//! Kubernetes' OpenAPI leaves `additionalProperties` unset, so a JSON Schema validator would accept
//! `spec.replica: 3` without a word; like kubectl's own field validation, this one treats every
//! field a schema does not declare as unknown, except where the schema says
//! `x-kubernetes-preserve-unknown-fields` (CRDs with free-form parts).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use crate::cluster::live::Cluster;
use crate::error::Error;

/// Every schema the objects at hand need, by name, as the server published them.
#[derive(Debug, Default)]
pub(crate) struct Schemas {
    schemas: BTreeMap<String, Value>,
    /// "group/version/kind" -> the name of its root schema.
    roots: HashMap<String, String>,
}

/// What validation reads of a value: its JSON type and, for a list, its items.
pub(crate) enum Shape<'a, T> {
    Null,
    Bool(bool),
    Number(&'a serde_json::Number),
    String(&'a str),
    Array(&'a [T]),
    Object,
}

/// Data validation can check: a [`Value`], or the leaner tree `recommend` keeps its objects in
/// (checked as they are, not copied into a `Value` first).
pub(crate) trait Data: Sized {
    fn shape(&self) -> Shape<'_, Self>;
    /// Whether an object has this field.
    fn has(&self, key: &str) -> bool;
    /// Each field of an object, in order.
    fn each_field(&self, f: impl FnMut(&str, &Self));
}

impl Data for Value {
    fn shape(&self) -> Shape<'_, Value> {
        match self {
            Value::Null => Shape::Null,
            Value::Bool(b) => Shape::Bool(*b),
            Value::Number(n) => Shape::Number(n),
            Value::String(s) => Shape::String(s),
            Value::Array(items) => Shape::Array(items),
            Value::Object(_) => Shape::Object,
        }
    }
    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    fn each_field(&self, mut f: impl FnMut(&str, &Value)) {
        for (k, v) in self.as_object().into_iter().flatten() {
            f(k, v);
        }
    }
}

/// One step of a path into an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// One way an object breaks its schema: where, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// From the object's root to the offending field (for a missing field, its parent).
    pub path: Vec<Step>,
    pub message: String,
}

impl Problem {
    fn at(path: &[Step], message: String) -> Problem {
        Problem {
            path: path.to_vec(),
            message,
        }
    }
}

/// `spec.template.spec.containers[0].image`, or `(object)` for the root.
pub(crate) fn dotted(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        out.push_str("(object)");
    }
    out
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)
    }
}

fn file_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

async fn get_json(cluster: &Cluster, path: &str) -> Result<Option<Value>, Error> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| Error::Usage(e.to_string()))?;
    match cluster.client.request_text(request).await {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Api {
                resource: path.to_string(),
                code: 200,
                message: format!("not JSON: {e}"),
            }),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(Error::Read {
            target: path.to_string(),
            detail: crate::error::kube_detail(&e),
        }),
    }
}

/// `apps/v1` -> `apis/apps/v1`; `v1` -> `api/v1`: how `/openapi/v3` names group-versions.
fn v3_path(api_version: &str) -> String {
    if api_version.contains('/') {
        format!("apis/{api_version}")
    } else {
        format!("api/{api_version}")
    }
}

impl Schemas {
    /// The schemas for these apiVersions, from the cache when this cluster version was seen before.
    /// `cache` is the directory the Session chose (`None`: nothing is cached).
    pub(crate) async fn fetch(
        cluster: &Cluster,
        api_versions: &[String],
        cache: Option<&Path>,
    ) -> Result<Schemas, Error> {
        let version = get_json(cluster, "/version")
            .await?
            .and_then(|v| v["gitVersion"].as_str().map(str::to_string))
            .unwrap_or_else(|| "unknown".into());
        let dir = cache.map(|d| {
            d.join(file_name(cluster.server_host()))
                .join(file_name(&version))
        });
        let read_cache = |name: &str| -> Option<Value> {
            let p = dir.as_ref()?.join(name);
            serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
        };
        let write_cache = |name: &str, v: &Value| {
            if let Some(d) = &dir
                && std::fs::create_dir_all(d).is_ok()
            {
                let _ = std::fs::write(d.join(name), v.to_string());
            }
        };
        let mut out = Schemas::default();
        let mut index: Option<Value> = None;
        for gv in api_versions {
            let name = format!("{}.json", file_name(&v3_path(gv)));
            let doc = match read_cache(&name) {
                Some(doc) => doc,
                None => {
                    if index.is_none() {
                        index = Some(match get_json(cluster, "/openapi/v3").await? {
                            Some(i) => i,
                            None => {
                                return Self::fetch_v2(
                                    cluster,
                                    &version,
                                    read_cache("v2.json"),
                                    write_cache,
                                )
                                .await;
                            }
                        });
                    }
                    let url = index.as_ref().and_then(|i| {
                        i["paths"][v3_path(gv)]["serverRelativeURL"]
                            .as_str()
                            .map(str::to_string)
                    });
                    let Some(url) = url else { continue };
                    let Some(doc) = get_json(cluster, &url).await? else {
                        continue;
                    };
                    write_cache(&name, &doc);
                    doc
                }
            };
            if let Some(Value::Object(schemas)) = doc.pointer("/components/schemas") {
                for (name, schema) in schemas {
                    out.insert(name.clone(), schema.clone());
                }
            }
        }
        Ok(out)
    }

    async fn fetch_v2(
        cluster: &Cluster,
        version: &str,
        cached: Option<Value>,
        write_cache: impl Fn(&str, &Value),
    ) -> Result<Schemas, Error> {
        let doc = match cached {
            Some(d) => d,
            None => {
                let d = get_json(cluster, "/openapi/v2")
                    .await?
                    .ok_or_else(|| Error::Api {
                        resource: "/openapi/v2".into(),
                        code: 404,
                        message: format!("the cluster ({version}) publishes no OpenAPI schema"),
                    })?;
                write_cache("v2.json", &d);
                d
            }
        };
        let schemas = doc["definitions"].as_object().cloned().unwrap_or_default();
        Ok(Schemas::from_map(schemas.into_iter().collect()))
    }

    /// Schemas from a document already in hand (the bundled ones, tests, or a file).
    pub(crate) fn from_map(schemas: BTreeMap<String, Value>) -> Schemas {
        let mut out = Schemas::default();
        for (name, schema) in schemas {
            out.insert(name, schema);
        }
        out
    }

    /// Adds one schema; one that declares group-version-kinds becomes their root.
    pub(crate) fn insert(&mut self, name: String, schema: Value) {
        for gvk in schema["x-kubernetes-group-version-kind"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let part = |k: &str| gvk[k].as_str().unwrap_or_default().to_string();
            self.roots.insert(
                gvk_key(&part("group"), &part("version"), &part("kind")),
                name.clone(),
            );
        }
        self.schemas.insert(name, schema);
    }

    /// The schema of objects of `kind` in `api_version`, if there is one.
    pub(crate) fn root(&self, api_version: &str, kind: &str) -> Option<&Value> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let name = self.roots.get(&gvk_key(group, version, kind))?;
        self.schemas.get(name)
    }

    /// Whether any kind of this API group is known (a group nobody declared is a custom
    /// resource's, whose definition is elsewhere).
    pub(crate) fn knows_group(&self, group: &str) -> bool {
        let prefix = format!("{group}/");
        self.roots.keys().any(|k| k.starts_with(&prefix))
    }

    /// The problems with one object: unknown fields, wrong types, missing required fields; an
    /// object of a kind the server has no schema for is itself a problem.
    pub(crate) fn validate(&self, obj: &Value) -> Vec<String> {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        match self.root(api_version, kind) {
            Some(root) => self
                .problems(root, obj)
                .into_iter()
                .map(|p| p.message)
                .collect(),
            None => vec![format!("the cluster has no kind {kind} in {api_version}")],
        }
    }

    /// The problems with an object against its root schema, each with its path.
    pub(crate) fn problems(&self, root: &Value, obj: &impl Data) -> Vec<Problem> {
        let mut errors = Vec::new();
        self.check(root, obj, &mut Vec::new(), &mut errors);
        errors
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> (&'a Value, Option<&'a str>) {
        let mut s = schema;
        let mut name = None;
        for _ in 0..8 {
            let reference = s["$ref"].as_str().or_else(|| {
                s["allOf"]
                    .as_array()
                    .filter(|a| a.len() == 1)
                    .and_then(|a| a[0]["$ref"].as_str())
            });
            let Some(r) = reference else { break };
            let n = r.rsplit('/').next().unwrap_or(r);
            match self.schemas.get(n) {
                Some(next) => {
                    name = Some(n);
                    s = next;
                }
                None => break,
            }
        }
        (s, name)
    }

    fn check<D: Data>(
        &self,
        schema: &Value,
        v: &D,
        path: &mut Vec<Step>,
        errors: &mut Vec<Problem>,
    ) {
        let (s, name) = self.resolve(schema);
        let shape = v.shape();
        // Only a problem needs the path as text.
        let at = || dotted(path);
        // Quantities and int-or-string fields take either a string or a number.
        let either = name.is_some_and(|n| n.ends_with(".IntOrString") || n.ends_with(".Quantity"))
            || s["format"] == "int-or-string"
            || s["x-kubernetes-int-or-string"] == true;
        if either {
            if !matches!(shape, Shape::String(_) | Shape::Number(_) | Shape::Null) {
                errors.push(Problem::at(
                    path,
                    format!(
                        "{}: expected a number or a string, got {}",
                        at(),
                        described(&shape)
                    ),
                ));
            }
            return;
        }
        if s["x-kubernetes-preserve-unknown-fields"] == true || matches!(shape, Shape::Null) {
            return;
        }
        // OpenAPI names one type; the JSON schemas list it with "null".
        let want = match &s["type"] {
            Value::String(t) => Some(t.as_str()),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
            _ => None,
        };
        let ok = match (want, &shape) {
            (Some("object"), Shape::Object)
            | (Some("array"), Shape::Array(_))
            | (Some("string"), Shape::String(_))
            | (Some("number"), Shape::Number(_))
            | (Some("boolean"), Shape::Bool(_)) => true,
            (Some("integer"), Shape::Number(n)) => n.is_i64() || n.is_u64(),
            (Some("object" | "array" | "string" | "integer" | "number" | "boolean"), _) => false,
            _ => true,
        };
        if !ok {
            errors.push(Problem::at(
                path,
                format!(
                    "{}: expected {}, got {}",
                    at(),
                    want.unwrap_or("?"),
                    described(&shape)
                ),
            ));
            return;
        }
        match shape {
            Shape::Object => self.check_fields(s, v, path, errors),
            Shape::Array(items) => {
                if let Some(item) = s.get("items") {
                    for (i, x) in items.iter().enumerate() {
                        path.push(Step::Index(i));
                        self.check(item, x, path, errors);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
    }

    fn check_fields<D: Data>(
        &self,
        s: &Value,
        map: &D,
        path: &mut Vec<Step>,
        errors: &mut Vec<Problem>,
    ) {
        let props = s["properties"].as_object();
        for req in s["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !map.has(req) {
                let at = dotted(path);
                errors.push(Problem::at(
                    path,
                    format!("{at}: required field {req:?} is missing"),
                ));
            }
        }
        map.each_field(|k, child| {
            path.push(Step::Key(k.to_string()));
            match (props.and_then(|p| p.get(k)), s.get("additionalProperties")) {
                (Some(p), _) => self.check(p, child, path, errors),
                (None, Some(extra)) if extra.is_object() => self.check(extra, child, path, errors),
                (None, _) if props.is_some() => {
                    let at = dotted(path);
                    errors.push(Problem::at(path, format!("unknown field {at:?}")));
                }
                _ => {}
            }
            path.pop();
        });
    }
}

fn gvk_key(group: &str, version: &str, kind: &str) -> String {
    format!("{group}/{version}/{kind}")
}

fn described<T>(shape: &Shape<'_, T>) -> String {
    match shape {
        Shape::Null => "null".into(),
        Shape::Bool(b) => format!("boolean {b}"),
        Shape::Number(n) => format!("number {n}"),
        Shape::String(s) => format!("string {s:?}"),
        Shape::Array(_) => "a list".into(),
        Shape::Object => "an object".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas() -> Schemas {
        let mut m = BTreeMap::new();
        m.insert("io.k8s.api.apps.v1.Deployment".into(), json!({
            "type": "object", "x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Deployment"}],
            "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                "metadata": {"type": "object", "properties": {"name": {"type": "string"}, "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "spec": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}]}}
        }));
        m.insert("io.k8s.api.apps.v1.DeploymentSpec".into(), json!({
            "type": "object", "required": ["selector"],
            "properties": {"replicas": {"type": "integer"}, "selector": {"type": "object"},
                           "port": {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}}
        }));
        m.insert(
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString".into(),
            json!({"type": "string", "format": "int-or-string"}),
        );
        Schemas::from_map(m)
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_caught() {
        let s = schemas();
        let good = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a", "labels": {"x": "y"}},
                          "spec": {"replicas": 3, "selector": {}, "port": 8080}});
        assert!(s.validate(&good).is_empty(), "{:?}", s.validate(&good));
        let bad = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a", "labels": {"x": 1}},
                         "spec": {"replica": 3, "replicas": "three", "port": true}});
        let errors = s.validate(&bad);
        assert!(
            errors.contains(&"unknown field \"spec.replica\"".to_string()),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"spec.replicas: expected integer, got string \"three\"".to_string()),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"metadata.labels.x: expected string, got number 1".to_string()),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("\"selector\" is missing")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.starts_with("spec.port")),
            "{errors:?}"
        );
        let unknown_kind =
            json!({"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "a"}});
        assert_eq!(s.validate(&unknown_kind).len(), 1);
    }
}
