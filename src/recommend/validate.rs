//! Manifests checked against the API schema before any rule reads them: a manifest the API
//! server would reject fails the gate as an error with its field path and line, rather than
//! passing because no rule happened to look at the broken field.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::Validate;
use super::inventory::{Document, Inventory, Object, Origin, split_documents};
use super::lines::line_of;
use super::rules::{Location, Recommendation, RuleId};
use super::schema;
use crate::cluster::live::Cluster;
use crate::error::Error;
use crate::generate::openapi::{Problem, Schemas};

/// What validation found, and the custom resources it could not check.
#[derive(Debug, Default)]
pub(crate) struct Validation {
    pub findings: Vec<Recommendation>,
    /// `Kind (group/version)` of the custom resources no known CRD describes.
    pub skipped: BTreeSet<String>,
}

/// What `recommend -f` validates against (`--validate`, `--kubernetes-version`, `--crd-schemas`).
pub(crate) struct Against<'a> {
    pub validate: Validate,
    pub kubernetes_version: &'a str,
    pub crd_schemas: &'a [std::path::PathBuf],
    /// Where the cluster's schemas are cached (the Session's choice).
    pub schema_cache: Option<&'a std::path::Path>,
}

/// The schemas to check against and what to call them in messages; `None` with `--validate none`.
/// `cluster` is the live cluster, connected by the caller for `--validate cluster` only.
pub(crate) async fn schemas(
    against: &Against<'_>,
    cluster: Option<&Cluster>,
    inv: &Inventory,
) -> anyhow::Result<Option<(Schemas, String)>> {
    let (mut schemas, label) = match (against.validate, cluster) {
        (Validate::None, _) => return Ok(None),
        (Validate::Cluster, None) => {
            return Err(Error::NeedsLive("recommend --validate cluster").into());
        }
        (Validate::Bundled, _) => {
            let minor = schema::minor(against.kubernetes_version)?;
            (schema::bundled(minor)?, format!("Kubernetes 1.{minor}"))
        }
        (Validate::Cluster, Some(cluster)) => {
            let versions: BTreeSet<String> = inv
                .objects
                .iter()
                .filter_map(|o| o.value["apiVersion"].as_str().map(str::to_string))
                .chain(["v1".to_string()])
                .collect();
            let versions: Vec<String> = versions.into_iter().collect();
            let label = format!("the cluster ({})", cluster.description);
            (
                Schemas::fetch(cluster, &versions, against.schema_cache).await?,
                label,
            )
        }
    };
    for crd in crds(inv, against.crd_schemas)? {
        for (name, root) in schema::from_crd(&crd) {
            schemas.insert(name, root);
        }
    }
    Ok(Some((schemas, label)))
}

/// CustomResourceDefinitions among the inputs and in `--crd-schemas`.
fn crds(inv: &Inventory, dirs: &[std::path::PathBuf]) -> Result<Vec<Value>, Error> {
    let mut out: Vec<Value> = inv
        .of_kind("CustomResourceDefinition")
        .map(|o| o.value.to_value())
        .collect();
    if !dirs.is_empty() {
        let extra = super::inventory::from_manifests(dirs, "default")?;
        let found: Vec<Value> = extra
            .of_kind("CustomResourceDefinition")
            .map(|o| o.value.to_value())
            .collect();
        if found.is_empty() {
            return Err(Error::Manifest {
                path: dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                detail: "--crd-schemas: no CustomResourceDefinition in it".into(),
            });
        }
        out.extend(found);
    }
    Ok(out)
}

/// Every manifest object against `schemas`, on every core: objects are independent, and at
/// tens of thousands of them validation is a third of what runs after parsing. Findings keep
/// the objects' order.
pub(crate) fn check(inv: &Inventory, schemas: &Schemas, label: &str) -> Validation {
    /// Fewer objects than this per thread cost more to hand over than to check.
    const MIN_PER_THREAD: usize = 512;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(inv.objects.len() / MIN_PER_THREAD).max(1);
    if threads == 1 {
        return check_some(inv, &inv.objects, schemas, label);
    }
    let chunk = inv.objects.len().div_ceil(threads);
    let parts: Vec<Validation> = std::thread::scope(|s| {
        let handles: Vec<_> = inv
            .objects
            .chunks(chunk)
            .map(|part| s.spawn(move || check_some(inv, part, schemas, label)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut v = Validation::default();
    for part in parts {
        v.findings.extend(part.findings);
        v.skipped.extend(part.skipped);
    }
    v
}

fn check_some(inv: &Inventory, objects: &[Object], schemas: &Schemas, label: &str) -> Validation {
    let mut v = Validation::default();
    let mut docs: HashMap<&str, Vec<Document<'_>>> = HashMap::new();
    for object in objects {
        let Origin::File { path, doc, line } = &object.origin else {
            continue;
        };
        let problems = problems(object, schemas, label, &mut v.skipped);
        for p in problems {
            let doc_text = docs
                .entry(path.as_str())
                .or_insert_with(|| {
                    inv.files
                        .iter()
                        .find(|(name, _)| name == path)
                        .map(|(_, text)| split_documents(text))
                        .unwrap_or_default()
                })
                .get(*doc);
            let at = doc_text
                .and_then(|d| line_of(d.text, &p.path).map(|l| d.first_line + l - 1))
                .unwrap_or(*line);
            v.findings.push(finding(object, path, at, p.message));
        }
    }
    v
}

/// One object's problems; a custom resource no schema describes is noted in `skipped` instead.
fn problems(
    object: &Object,
    schemas: &Schemas,
    label: &str,
    skipped: &mut BTreeSet<String>,
) -> Vec<Problem> {
    let api_version = object.value["apiVersion"].as_str().unwrap_or_default();
    let kind = object.kind();
    if let Some(root) = schemas.root(api_version, kind) {
        return schemas.problems(root, &object.value);
    }
    let group = api_version.split_once('/').map_or("", |(g, _)| g);
    let retired = super::rules::retirement(api_version, kind);
    if !group.is_empty() && !schemas.knows_group(group) && retired.is_none() {
        skipped.insert(format!("{kind} ({api_version})"));
        return Vec::new();
    }
    let why = match retired {
        Some(r) => format!(
            " (removed in Kubernetes 1.{}: use {})",
            r.removed, r.replacement
        ),
        None => String::new(),
    };
    vec![Problem {
        path: Vec::new(),
        message: format!("{label} has no kind {kind} in apiVersion {api_version:?}{why}"),
    }]
}

fn finding(object: &Object, file: &str, line: usize, message: String) -> Recommendation {
    let rule = RuleId::SchemaInvalid.rule();
    Recommendation {
        rule: rule.id,
        severity: rule.severity,
        category: rule.category,
        object: object.oref.clone(),
        container: None,
        message,
        location: Some(Location {
            file: file.to_string(),
            line,
        }),
        fix: None,
    }
}
