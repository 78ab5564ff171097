//! The Kubernetes API's own JSON schemas, bundled so that `recommend -f` can tell a manifest the
//! API server would reject without any cluster; plus the schemas of custom resources, from their
//! CustomResourceDefinitions.
//!
//! The bundle is the `_definitions.json` of every version the `kubernetes-validate` package ships
//! (the schemas kubernetes-json-schema generates from each release's OpenAPI), kept to what
//! validation reads (descriptions and patch hints dropped) and gzip-compressed: about 20 KB per
//! version. A test rebuilds it from the installed package and fails when it drifts.

use std::io::Read;

use serde_json::{Value, json};

use crate::error::Error;
use crate::generate::openapi::Schemas;

/// The version `--kubernetes-version` defaults to.
pub(crate) const DEFAULT_VERSION: &str = "1.33";

/// The kinds ObjectMeta is found under in every bundled version.
const OBJECT_META: &str = "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

macro_rules! bundle {
    ($($minor:literal),*) => {
        &[$(($minor, include_bytes!(concat!("schemas/v1.", stringify!($minor), ".json.gz")))),*]
    };
}

/// (minor version of Kubernetes 1.x, the gzip of its stripped definitions)
pub(crate) const BUNDLED: &[(u32, &[u8])] =
    bundle!(25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37);

/// The minor version in `1.33`, `v1.33` or `1.33.4`.
pub(crate) fn minor(version: &str) -> Result<u32, Error> {
    let bad = || {
        Error::Usage(format!(
            "--kubernetes-version {version:?}: write a version such as {DEFAULT_VERSION} or v{DEFAULT_VERSION}.2"
        ))
    };
    let v = version.strip_prefix('v').unwrap_or(version);
    let mut parts = v.split('.');
    if parts.next() != Some("1") {
        return Err(bad());
    }
    let minor = parts.next().and_then(|m| m.parse().ok()).ok_or_else(bad)?;
    if parts.any(|p| p.parse::<u32>().is_err()) {
        return Err(bad());
    }
    Ok(minor)
}

/// The bundled schemas of Kubernetes 1.`minor`.
pub(crate) fn bundled(minor: u32) -> Result<Schemas, Error> {
    let Some((_, gz)) = BUNDLED.iter().find(|(m, _)| *m == minor) else {
        let (first, last) = (BUNDLED[0].0, BUNDLED[BUNDLED.len() - 1].0);
        return Err(Error::Usage(format!(
            "no bundled schemas for Kubernetes 1.{minor}: choose a --kubernetes-version from 1.{first} to 1.{last}"
        )));
    };
    let mut text = String::new();
    flate2::read::GzDecoder::new(*gz)
        .read_to_string(&mut text)
        .map_err(|e| Error::Usage(format!("the bundled schemas of 1.{minor} are corrupt: {e}")))?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("the bundled schemas of 1.{minor} are corrupt: {e}")))?;
    let defs = doc["$defs"].as_object().cloned().unwrap_or_default();
    Ok(Schemas::from_map(defs.into_iter().collect()))
}

/// Root schemas for the kinds a CustomResourceDefinition declares, one per served version that
/// carries a schema, as (name, schema) ready for [`Schemas::insert`].
pub(crate) fn from_crd(crd: &Value) -> Vec<(String, Value)> {
    let group = crd.pointer("/spec/group").and_then(Value::as_str);
    let kind = crd.pointer("/spec/names/kind").and_then(Value::as_str);
    let (Some(group), Some(kind)) = (group, kind) else {
        return Vec::new();
    };
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array);
    let mut out = Vec::new();
    for v in versions.into_iter().flatten() {
        let (Some(version), Some(schema)) = (
            v.get("name").and_then(Value::as_str),
            v.pointer("/schema/openAPIV3Schema"),
        ) else {
            continue;
        };
        let mut root = schema.clone();
        // The API server adds the object's identity to every custom resource's schema.
        if let Some(props) = root
            .as_object_mut()
            .map(|r| r.entry("properties").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
        {
            props.insert("apiVersion".into(), json!({"type": "string"}));
            props.insert("kind".into(), json!({"type": "string"}));
            props.insert("metadata".into(), json!({"$ref": OBJECT_META}));
        }
        root["x-kubernetes-group-version-kind"] =
            json!([{"group": group, "version": version, "kind": kind}]);
        out.push((format!("crd/{group}/{version}/{kind}"), root));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;

    /// What validation reads of a schema; everything else (descriptions, patch strategies, list
    /// types, the apiVersion/kind enums the root lookup already answers) is dropped.
    fn strip(schema: &Value) -> Value {
        let Value::Object(map) = schema else {
            return schema.clone();
        };
        let mut out = serde_json::Map::new();
        for (k, v) in map {
            let kept = match k.as_str() {
                "properties" => Value::Object(
                    v.as_object()
                        .into_iter()
                        .flatten()
                        .map(|(name, p)| (name.clone(), strip(p)))
                        .collect(),
                ),
                "items" | "additionalProperties" => strip(v),
                "oneOf" | "anyOf" | "allOf" => {
                    Value::Array(v.as_array().into_iter().flatten().map(strip).collect())
                }
                "type"
                | "$ref"
                | "required"
                | "x-kubernetes-group-version-kind"
                | "x-kubernetes-preserve-unknown-fields"
                | "x-kubernetes-int-or-string" => v.clone(),
                _ => continue,
            };
            out.insert(k.clone(), kept);
        }
        Value::Object(out)
    }

    fn stripped(definitions: &Value) -> Value {
        let defs: serde_json::Map<String, Value> = definitions["$defs"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), strip(v)))
            .collect();
        json!({ "$defs": defs })
    }

    /// The schema directory of the installed kubernetes-validate package (.ci/install-tools).
    fn source_dir() -> Option<PathBuf> {
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))",
            ])
            .output()
            .ok()?;
        out.status.success().then(|| {
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
                .join("kubernetes-json-schema")
        })
    }

    /// Rebuild with `KUBECTL_AI_BLESS_SCHEMAS=1 cargo test --lib bundle_matches`.
    #[test]
    fn bundle_matches_kubernetes_validate() {
        let Some(dir) = source_dir() else {
            eprintln!(
                "kubernetes-validate is not installed (bash .ci/install-tools): not compared"
            );
            return;
        };
        let bless = std::env::var_os("KUBECTL_AI_BLESS_SCHEMAS").is_some();
        for (minor, gz) in BUNDLED {
            let source = dir.join(format!("v1.{minor}.0-local/_definitions.json"));
            let text = std::fs::read_to_string(&source)
                .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
            let want = stripped(&serde_json::from_str(&text).unwrap()).to_string();
            if bless {
                let path = format!("src/recommend/schemas/v1.{minor}.json.gz");
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                enc.write_all(want.as_bytes()).unwrap();
                std::fs::write(&path, enc.finish().unwrap()).unwrap();
                continue;
            }
            let mut have = String::new();
            flate2::read::GzDecoder::new(*gz)
                .read_to_string(&mut have)
                .unwrap();
            assert!(
                have == want,
                "the bundled schemas of 1.{minor} differ from {}: rebuild with KUBECTL_AI_BLESS_SCHEMAS=1",
                source.display()
            );
        }
    }

    #[test]
    fn versions_are_read_as_kubectl_writes_them() {
        assert_eq!(minor("1.33").unwrap(), 33);
        assert_eq!(minor("v1.30.4").unwrap(), 30);
        assert!(minor("2.0").is_err());
        assert!(minor("1.x").is_err());
        assert!(bundled(10).is_err());
    }

    #[test]
    fn the_default_version_knows_the_workload_kinds() {
        let s = bundled(minor(DEFAULT_VERSION).unwrap()).unwrap();
        for (av, kind) in [
            ("apps/v1", "Deployment"),
            ("batch/v1", "CronJob"),
            ("v1", "Pod"),
            ("policy/v1", "PodDisruptionBudget"),
        ] {
            assert!(s.root(av, kind).is_some(), "{av} {kind}");
        }
        assert!(s.root("policy/v1beta1", "PodDisruptionBudget").is_none());
        let bad = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"},
                         "spec": {"replicas": "many", "selector": {}, "template": {"spec": {"containers": {"name": "a"}}}}});
        let problems = s.validate(&bad);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("spec.replicas: expected integer")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("spec.template.spec.containers: expected array")),
            "{problems:?}"
        );
    }
}
