//! The cluster's own schema for what the LLM writes: fetched from `/openapi/v3` (per group-version,
//! or `/openapi/v2` from older servers), cached per cluster version in the XDG cache directory, and
//! used to catch unknown fields and wrong types before anyone sees a diff.
//!
//! Kubernetes' OpenAPI leaves `additionalProperties` unset, so a JSON Schema validator would accept
//! `spec.replica: 3` without a word; like kubectl's own field validation, this one treats every
//! field a schema does not declare as unknown, except where the schema says
//! `x-kubernetes-preserve-unknown-fields` (CRDs with free-form parts).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::cluster::live::Cluster;
use crate::error::Error;

/// Every schema the objects at hand need, by name, as the server published them.
#[derive(Debug, Default)]
pub struct Schemas {
    schemas: BTreeMap<String, Value>,
}

fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("kubectl-ai").join("openapi"))
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
    pub async fn fetch(cluster: &Cluster, api_versions: &[String]) -> Result<Schemas, Error> {
        let version = get_json(cluster, "/version")
            .await?
            .and_then(|v| v["gitVersion"].as_str().map(str::to_string))
            .unwrap_or_else(|| "unknown".into());
        let dir = cache_dir().map(|d| {
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
                out.schemas.extend(schemas.clone());
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
        Ok(Schemas {
            schemas: schemas.into_iter().collect(),
        })
    }

    /// Schemas from a document already in hand (tests, or a file).
    pub fn from_map(schemas: BTreeMap<String, Value>) -> Schemas {
        Schemas { schemas }
    }

    /// The problems with one object: unknown fields, wrong types, missing required fields; an
    /// object of a kind the server has no schema for is itself a problem.
    pub fn validate(&self, obj: &Value) -> Vec<String> {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default();
        let kind = obj["kind"].as_str().unwrap_or_default();
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let root = self.schemas.values().find(|s| {
            s["x-kubernetes-group-version-kind"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|g| g["group"] == group && g["version"] == version && g["kind"] == kind)
        });
        let Some(root) = root else {
            return vec![format!("the cluster has no kind {kind} in {api_version}")];
        };
        let mut errors = Vec::new();
        self.check(root, obj, "", &mut errors);
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

    fn check(&self, schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
        let (s, name) = self.resolve(schema);
        let at = if path.is_empty() { "(object)" } else { path };
        // Quantities and int-or-string fields take either a string or a number.
        let either = name.is_some_and(|n| n.ends_with(".IntOrString") || n.ends_with(".Quantity"))
            || s["format"] == "int-or-string"
            || s["x-kubernetes-int-or-string"] == true;
        if either {
            if !(v.is_string() || v.is_number()) {
                errors.push(format!(
                    "{at}: expected a number or a string, got {}",
                    shape(v)
                ));
            }
            return;
        }
        if s["x-kubernetes-preserve-unknown-fields"] == true || v.is_null() {
            return;
        }
        let want = s["type"].as_str();
        let ok = match want {
            Some("object") => v.is_object(),
            Some("array") => v.is_array(),
            Some("string") => v.is_string(),
            Some("integer") => v.is_i64() || v.is_u64(),
            Some("number") => v.is_number(),
            Some("boolean") => v.is_boolean(),
            _ => true,
        };
        if !ok {
            errors.push(format!(
                "{at}: expected {}, got {}",
                want.unwrap_or("?"),
                shape(v)
            ));
            return;
        }
        match v {
            Value::Object(map) => {
                let props = s["properties"].as_object();
                for req in s["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if !map.contains_key(req) {
                        errors.push(format!("{}: required field {req:?} is missing", at));
                    }
                }
                for (k, child) in map {
                    let child_path = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    match (props.and_then(|p| p.get(k)), s.get("additionalProperties")) {
                        (Some(p), _) => self.check(p, child, &child_path, errors),
                        (None, Some(extra)) if extra.is_object() => {
                            self.check(extra, child, &child_path, errors)
                        }
                        (None, _) if props.is_some() => {
                            errors.push(format!("unknown field {child_path:?}"))
                        }
                        _ => {}
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item) = s.get("items") {
                    for (i, x) in items.iter().enumerate() {
                        self.check(item, x, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            _ => {}
        }
    }
}

fn shape(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
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
