//! `recommend -f ... --fix --write`: fixes merged into the manifest files themselves.
//!
//! The YAML library does not keep comments or formatting through a parse and re-serialize, so the
//! rewrite is as local as it can be: documents no fix touches stay byte-for-byte as they were,
//! a fixed document keeps its leading comments (Helm's `# Source:` lines) and its key order, and
//! new objects (a PodDisruptionBudget) are appended as documents of their own.

use serde_json::Value;

use super::inventory::{At, Inventory, Origin, split_documents};
use super::rules::Recommendation;
use super::tree::Tree;
use crate::error::Error;

/// One manifest file after the fixes.
#[derive(Debug)]
pub(crate) struct Rewritten {
    pub path: String,
    pub text: String,
    pub fixes: usize,
}

pub(crate) fn rewrite(inv: &Inventory, recs: &[Recommendation]) -> Result<Vec<Rewritten>, Error> {
    let mut files = Vec::new();
    for (path, text) in &inv.files {
        let docs = split_documents(text);
        let mut changed: Vec<Option<Value>> = vec![None; docs.len()];
        let mut appended: Vec<Value> = Vec::new();
        let mut fixes = 0;
        for r in recs {
            let Some(fix) = &r.fix else { continue };
            let ns = r.object.namespace.as_deref().unwrap_or_default();
            let Some(object) = inv.find(&r.object.kind, ns, &r.object.name) else {
                continue;
            };
            let Origin::File { path: p, doc, .. } = &object.origin else {
                continue;
            };
            if p != path {
                continue;
            }
            let patch = fix.patch.to_value();
            if fix.creates {
                let (kind, name) = (
                    patch.get("kind").and_then(Value::as_str),
                    patch.pointer("/metadata/name").and_then(Value::as_str),
                );
                let exists = |v: &Value| {
                    v.get("kind").and_then(Value::as_str) == kind
                        && v.pointer("/metadata/name").and_then(Value::as_str) == name
                };
                let written = |o: &super::inventory::Object| {
                    o.value.get("kind").and_then(Tree::as_str) == kind
                        && o.value.at("/metadata/name").and_then(Tree::as_str) == name
                };
                if !appended.iter().any(exists) && !inv.objects.iter().any(written) {
                    appended.push(without_defaulted_namespace(&patch, object));
                    fixes += 1;
                }
                continue;
            }
            let slot = &mut changed[*doc];
            if slot.is_none() {
                let parsed: Value =
                    serde_saphyr::from_str(docs[*doc].text).map_err(|e| Error::Manifest {
                        path: path.clone(),
                        detail: e.to_string(),
                    })?;
                // An object inside a `kind: List` has no document of its own to rewrite.
                if parsed.get("kind").and_then(Value::as_str) == Some("List") {
                    continue;
                }
                *slot = Some(parsed);
            }
            let target = slot.as_mut().expect("filled above");
            merge(target, &without_defaulted_namespace(&patch, object));
            fixes += 1;
        }
        let mut out = String::with_capacity(text.len());
        let mut cursor = 0;
        for (d, value) in docs.iter().zip(&changed) {
            let start = d.text.as_ptr() as usize - text.as_ptr() as usize;
            let end = start + d.text.len();
            out.push_str(&text[cursor..start]);
            match value {
                Some(v) => {
                    let leading = d.line - d.first_line;
                    for line in d.text.split_inclusive('\n').take(leading) {
                        out.push_str(line);
                    }
                    out.push_str(&to_yaml(path, v)?);
                }
                None => out.push_str(d.text),
            }
            cursor = end;
        }
        out.push_str(&text[cursor..]);
        for v in &appended {
            if !out.ends_with('\n') && !out.is_empty() {
                out.push('\n');
            }
            out.push_str("---\n");
            out.push_str(&to_yaml(path, v)?);
        }
        files.push(Rewritten {
            path: path.clone(),
            text: out,
            fixes,
        });
    }
    Ok(files)
}

fn to_yaml(path: &str, v: &Value) -> Result<String, Error> {
    serde_saphyr::to_string(v).map_err(|e| Error::Manifest {
        path: path.to_string(),
        detail: format!("serializing the fixed manifest: {e}"),
    })
}

/// A manifest that left its namespace to `kubectl apply -n` keeps doing so after the fix.
fn without_defaulted_namespace(patch: &Value, object: &super::inventory::Object) -> Value {
    let mut patch = patch.clone();
    if object.value.at("/metadata/namespace").is_none()
        && let Some(meta) = patch.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.remove("namespace");
    }
    patch
}

/// Merges an apply intent into an object the way server-side apply merges it: maps field by field,
/// lists of named items (containers, volumes) item by item, anything else replaced.
pub(crate) fn merge(dst: &mut Value, src: &Value) {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => {
            for (k, v) in s {
                match d.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(d), Value::Array(s))
            if s.iter().chain(d.iter()).all(|i| i.get("name").is_some()) =>
        {
            for item in s {
                match d.iter_mut().find(|x| x.get("name") == item.get("name")) {
                    Some(existing) => merge(existing, item),
                    None => d.push(item.clone()),
                }
            }
        }
        (d, s) => *d = s.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_follows_apply_semantics_for_named_lists() {
        let mut obj = json!({"spec": {"containers": [
            {"name": "a", "image": "x:1", "securityContext": {"runAsNonRoot": true}},
            {"name": "b", "image": "y:1"}
        ], "args": ["1", "2"]}});
        merge(
            &mut obj,
            &json!({"spec": {"containers": [{"name": "a", "securityContext": {"allowPrivilegeEscalation": false}}], "args": ["3"]}}),
        );
        assert_eq!(
            obj,
            json!({"spec": {"containers": [
                {"name": "a", "image": "x:1", "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false}},
                {"name": "b", "image": "y:1"}
            ], "args": ["3"]}})
        );
    }
}
