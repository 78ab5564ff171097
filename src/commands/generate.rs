//! Manifests from words: `kubectl ai "create a redis deployment with 3 replicas and a service"`,
//! or `kubectl ai -f deploy.yaml "add a readiness probe"` to edit files.
//!
//! The LLM proposes objects through one tool call; nothing it writes is trusted. Each proposal is
//! parsed strictly, checked against the cluster's own OpenAPI schema ([`crate::generate::openapi`]) and dry-run by
//! the server; what fails goes back to the model for at most two repair rounds, and what still fails
//! ends as an error, never as an apply. The recommendation rules then run on the objects, and the
//! plan pipeline (diff, consent, apply, history) is the only way they reach the cluster.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use async_openai::types::chat::{ChatCompletionTool, ChatCompletionTools, FunctionObject};
use serde_json::{Value, json};

use crate::analyze::Severity;
use crate::cluster::live::Cluster;
use crate::context::Scope;
use crate::error::{Error, exit};
use crate::generate::openapi;
use crate::llm::Conversation;
use crate::llm::prompt::{self, Item};
use crate::plan::{self, Action, Plan};
use crate::recommend::inventory::{self, Inventory, Object};
use crate::render::Output;
use crate::session::Session;
use crate::ui::Spinner;

pub(crate) const GENERATE_PROMPT: &str = include_str!("../../prompts/generate.md");
const TOOL: &str = "propose_manifests";
/// Proposals after the first that may repair validation errors.
const REPAIRS: usize = 2;

/// Where the result goes.
pub(crate) struct Request<'a> {
    pub words: String,
    pub files: &'a [PathBuf],
    pub write: bool,
}

pub(crate) async fn run(
    session: &Session,
    req: Request<'_>,
    out: &mut dyn Write,
) -> anyhow::Result<u8> {
    let settings = session.llm_settings()?;
    if settings.provider == crate::config::Provider::None {
        return Err(Error::Usage(
            "creating or changing manifests from words needs an LLM (OPENAI_API_KEY, or OPENAI_BASE_URL for a local server)".into(),
        )
        .into());
    }
    // Files to edit, as given; they need no cluster, a new object does.
    let mut inputs: Vec<(String, String)> = Vec::new();
    for f in req.files {
        inputs.extend(inventory::read_inputs(f)?);
    }
    let cluster = match session.live_cluster("creating resources").await {
        Ok(c) => Some(c),
        Err(e) if !inputs.is_empty() => {
            eprintln!(
                "note: no cluster ({e}); the edit is checked without the cluster's schema or a dry run"
            );
            None
        }
        Err(e) => return Err(e.into()),
    };
    let namespace = match cluster.as_ref().map(|(_, s)| s) {
        Some(Scope::Namespace(ns)) => ns.clone(),
        _ => session
            .scope
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
    };
    let context = match &cluster {
        Some((c, _)) => {
            let _s = Spinner::start("Reading the cluster…".into());
            cluster_summary(c, &namespace, session.limits.chunk_size).await?
        }
        None => String::new(),
    };

    let grounds = Grounds {
        settings: &settings,
        namespace: &namespace,
        context: &context,
        inputs: &inputs,
        cluster: cluster.as_ref().map(|(c, _)| c),
    };
    let Some(objects) = settle(session, &grounds, req.words.clone(), out).await? else {
        writeln!(out, "Nothing was changed.")?;
        return Ok(exit::NOT_APPLIED);
    };

    if !inputs.is_empty() {
        let rewritten = edit_files(&inputs, &objects)?;
        if req.write {
            for (path, text) in &rewritten {
                if path == "-" {
                    out.write_all(text.as_bytes())?;
                    continue;
                }
                std::fs::write(path, text).map_err(|e| Error::Manifest {
                    path: path.clone(),
                    detail: format!("writing: {e}"),
                })?;
                eprintln!("wrote {path}");
            }
        } else {
            for (_, text) in &rewritten {
                out.write_all(text.as_bytes())?;
            }
        }
        return Ok(exit::OK);
    }
    if session.output == Output::Yaml {
        out.write_all(yaml(&objects)?.as_bytes())?;
        return Ok(exit::OK);
    }
    let Some((cluster, _)) = cluster else {
        return Err(Error::NeedsLive("applying generated manifests").into());
    };
    let actions: Vec<Action> = objects
        .iter()
        .filter_map(|o| {
            Action::apply_manifest(o.clone(), format!("requested: {}", req.words.trim()))
        })
        .collect();
    plan::execute::run(
        &cluster,
        &Scope::Namespace(namespace),
        Plan { actions },
        &session.plan_options(),
        out,
    )
    .await
}

/// What a proposal is grounded in: the endpoint, where the objects go, the cluster's summary, the
/// files to edit, and the cluster that checks them (none when only files are edited offline).
struct Grounds<'a> {
    settings: &'a crate::config::LlmSettings,
    namespace: &'a str,
    context: &'a str,
    inputs: &'a [(String, String)],
    cluster: Option<&'a Cluster>,
}

/// Proposals until the operator settles on one: the first at once without a terminal (or with
/// --yes, --dry-run, -o, or files to edit), else after the menu (apply, let the LLM fix the
/// recommendations, refine the request, show the YAML, cancel). `None` when they cancel.
async fn settle(
    session: &Session,
    g: &Grounds<'_>,
    mut words: String,
    out: &mut dyn Write,
) -> anyhow::Result<Option<Vec<Value>>> {
    loop {
        let objects = propose(
            g.settings,
            &words,
            g.namespace,
            g.context,
            g.inputs,
            g.cluster,
            session.schema_cache.as_deref(),
        )
        .await?;
        let warnings = warnings(&objects, g.namespace);
        let interactive = session.output == Output::Text
            && g.inputs.is_empty()
            && !session.plan.yes
            && !session.plan.dry_run
            && std::io::stdin().is_terminal()
            && std::io::stderr().is_terminal();
        if session.output == Output::Text && !warnings.is_empty() {
            writeln!(out, "Recommendations for the proposed objects:")?;
            for w in &warnings {
                writeln!(out, "  {w}")?;
            }
            writeln!(out)?;
        }
        if !interactive {
            return Ok(Some(objects));
        }
        writeln!(out, "Proposed: {}", names(&objects).join(", "))?;
        let mut choices = vec![
            "apply (show the plan)",
            "refine the request",
            "show the YAML",
            "cancel",
        ];
        if !warnings.is_empty() {
            choices.insert(1, "let the LLM fix the recommendations");
        }
        let picked = dialoguer::Select::new()
            .with_prompt("What next?")
            .items(&choices)
            .default(0)
            .interact()
            .map_err(|_| Error::NoConsent)?;
        match choices[picked] {
            "apply (show the plan)" => return Ok(Some(objects)),
            "let the LLM fix the recommendations" => {
                words = format!(
                    "{words}\nAlso address these recommendations:\n{}",
                    warnings.join("\n")
                );
            }
            "refine the request" => {
                let more: String = dialoguer::Input::new()
                    .with_prompt("Add to the request")
                    .interact_text()
                    .map_err(|_| Error::NoConsent)?;
                words = format!("{words}\n{more}");
            }
            "show the YAML" => {
                out.write_all(yaml(&objects)?.as_bytes())?;
                let again = dialoguer::Confirm::new()
                    .with_prompt("Apply it (the plan is shown first)?")
                    .interact()
                    .map_err(|_| Error::NoConsent)?;
                return Ok(again.then_some(objects));
            }
            _ => return Ok(None),
        }
    }
}

fn names(objects: &[Value]) -> Vec<String> {
    objects.iter().map(name_of).collect()
}

/// `deployment/redis`, as kubectl names an object.
fn name_of(o: &Value) -> String {
    format!(
        "{}/{}",
        o["kind"].as_str().unwrap_or_default().to_lowercase(),
        o["metadata"]["name"].as_str().unwrap_or_default()
    )
}

fn yaml(objects: &[Value]) -> Result<String, Error> {
    let mut s = String::new();
    for o in objects {
        s.push_str("---\n");
        s.push_str(&serde_saphyr::to_string(o).map_err(|e| Error::Usage(e.to_string()))?);
    }
    Ok(s)
}

/// The namespace, what already exists in it, and what the cluster offers, for the prompt.
async fn cluster_summary(cluster: &Cluster, namespace: &str, chunk: u32) -> Result<String, Error> {
    let ctx = cluster
        .collect(
            Scope::Namespace(namespace.to_string()),
            crate::cluster::logs::Tail::NONE,
            chunk,
        )
        .await?;
    let list = |items: Vec<String>| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    };
    let name = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        m.name.clone().unwrap_or_default()
    };
    Ok(format!(
        "Namespace: {namespace}\nDeployments: {}\nStatefulSets: {}\nServices: {}\nIngresses: {}\nConfigMaps: {}\nSecrets (names only): {}\nStorageClasses: {}\nIngressClasses: {}",
        list(ctx.deployments.iter().map(|d| name(&d.metadata)).collect()),
        list(
            ctx.stateful_sets
                .iter()
                .map(|d| name(&d.metadata))
                .collect()
        ),
        list(
            ctx.services
                .iter()
                .map(|d| {
                    let ports: Vec<String> = d
                        .spec
                        .iter()
                        .flat_map(|s| s.ports.iter().flatten())
                        .map(|p| p.port.to_string())
                        .collect();
                    format!("{} (ports {})", name(&d.metadata), ports.join("/"))
                })
                .collect()
        ),
        list(ctx.ingresses.iter().map(|d| name(&d.metadata)).collect()),
        list(ctx.config_maps.iter().map(|c| c.name.clone()).collect()),
        list(ctx.secrets.iter().map(|c| c.name.clone()).collect()),
        list(
            ctx.storage_classes
                .iter()
                .map(|d| name(&d.metadata))
                .collect()
        ),
        list(
            ctx.ingress_classes
                .iter()
                .map(|d| name(&d.metadata))
                .collect()
        ),
    ))
}

/// One round trip: the model's proposal, strictly parsed and validated; repaired up to twice.
async fn propose(
    settings: &crate::config::LlmSettings,
    words: &str,
    namespace: &str,
    context: &str,
    inputs: &[(String, String)],
    cluster: Option<&Cluster>,
    schema_cache: Option<&std::path::Path>,
) -> Result<Vec<Value>, Error> {
    let mut feedback: Option<(String, Vec<String>)> = None;
    let mut schemas: Option<openapi::Schemas> = None;
    for round in 0..=REPAIRS {
        let mut header = format!("Request from the operator:\n{}\n", words.trim());
        if let Some((_, errors)) = &feedback {
            header.push_str(&format!(
                "\nYour previous proposal was rejected by validation:\n{}\nThe rejected proposal follows as data. Call {TOOL} again with every object, corrected.\n",
                errors.iter().map(|e| format!("- {e}")).collect::<Vec<_>>().join("\n")
            ));
        }
        let mut items = vec![Item {
            rank: 0,
            text: if context.is_empty() {
                format!("Namespace: {namespace}")
            } else {
                context.to_string()
            },
        }];
        for (path, text) in inputs {
            items.push(Item {
                rank: 1,
                text: format!("Manifest file {path}:\n{text}"),
            });
        }
        if let Some((previous, _)) = &feedback {
            items.push(Item {
                rank: 0,
                text: format!("Rejected proposal:\n{previous}"),
            });
        }
        let prompt = prompt::build_once(
            GENERATE_PROMPT,
            &header,
            items,
            vec![tool()],
            settings.max_context_tokens,
        )?;
        let runner = Arc::new(|name: &str, _: &str| {
            if name != TOOL {
                return format!("Only {TOOL} is available.");
            }
            "Received. kubectl-ai validates the objects and shows the operator the plan before anything is applied.".to_string()
        });
        let conversation = Conversation {
            prompt,
            max_steps: 1,
            runner: Some(runner),
        };
        let answering = Spinner::start(format!("Asking {} for manifests…", settings.model));
        let mut sink = std::io::sink();
        let answer = crate::llm::answer(settings, conversation, false, false, &mut sink).await?;
        drop(answering);
        // The last proposal is the model's final word.
        let Some(arguments) = answer.calls_to(TOOL).last().map(|c| c.arguments.clone()) else {
            return Err(Error::InvalidProposal(
                "the LLM proposed no manifests".into(),
            ));
        };
        let (objects, mut errors) = parse(&arguments, namespace);
        if errors.is_empty()
            && let Some(c) = cluster
        {
            if schemas.is_none() {
                let mut versions: Vec<String> = objects
                    .iter()
                    .filter_map(|o| o["apiVersion"].as_str().map(str::to_string))
                    .collect();
                versions.sort();
                versions.dedup();
                schemas = Some(openapi::Schemas::fetch(c, &versions, schema_cache).await?);
            }
            let s = schemas.as_ref().expect("fetched above");
            for o in &objects {
                for e in s.validate(o) {
                    errors.push(format!("{}: {e}", name_of(o)));
                }
            }
            if errors.is_empty() {
                errors.extend(dry_run(c, &objects).await);
            }
        }
        if errors.is_empty() {
            return Ok(objects);
        }
        tracing::info!(round, ?errors, "proposal rejected");
        if round == REPAIRS {
            return Err(Error::InvalidProposal(format!(
                "the generated manifests are still invalid after {REPAIRS} repair rounds: {}",
                errors.join("; ")
            )));
        }
        feedback = Some((arguments, errors));
    }
    unreachable!("the loop returns in its last round")
}

fn tool() -> ChatCompletionTools {
    ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObject {
            name: TOOL.into(),
            description: Some(
                "Propose the Kubernetes objects that fulfil the request, as complete JSON objects."
                    .into(),
            ),
            parameters: Some(json!({
                "type": "object",
                "properties": {"objects": {"type": "array", "items": {"type": "object"}, "minItems": 1}},
                "required": ["objects"],
                "additionalProperties": false,
            })),
            strict: None,
        },
    })
}

/// Strict parsing: a list of objects, each with apiVersion, kind and metadata.name; objects of
/// namespaced kinds without a namespace get the one in play.
fn parse(arguments: &str, namespace: &str) -> (Vec<Value>, Vec<String>) {
    let mut errors = Vec::new();
    let parsed: Value = match serde_json::from_str(arguments) {
        Ok(v) => v,
        Err(e) => return (vec![], vec![format!("the arguments are not JSON: {e}")]),
    };
    let Some(list) = parsed.get("objects").and_then(Value::as_array) else {
        return (vec![], vec!["expected {\"objects\": [...]}".into()]);
    };
    let mut objects = Vec::new();
    for (i, o) in list.iter().enumerate() {
        let field = |p: &str| {
            o.pointer(p)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let (Some(_), Some(kind), Some(_)) = (
            field("/apiVersion"),
            field("/kind"),
            field("/metadata/name"),
        ) else {
            errors.push(format!(
                "object {i}: apiVersion, kind and metadata.name are required"
            ));
            continue;
        };
        let mut o = o.clone();
        if crate::cluster::kinds::is_namespaced(kind) && o.pointer("/metadata/namespace").is_none()
        {
            o["metadata"]["namespace"] = json!(namespace);
        }
        objects.push(o);
    }
    (objects, errors)
}

/// The server's own verdict on each object, without changing anything.
async fn dry_run(cluster: &Cluster, objects: &[Value]) -> Vec<String> {
    let mut errors = Vec::new();
    for o in objects {
        let Some(action) = Action::apply_manifest(o.clone(), "validation") else {
            continue;
        };
        if action.kind().is_none() {
            continue;
        }
        if let Err(e) = plan::execute::send(cluster, &action, true).await {
            errors.push(format!(
                "{}: the API server rejected it: {}",
                action.target,
                e.to_string().lines().next().unwrap_or_default()
            ));
        }
    }
    errors
}

/// Warning- and error-level recommendations for the proposed objects.
fn warnings(objects: &[Value], namespace: &str) -> Vec<String> {
    let inv = Inventory {
        source: "the proposal".into(),
        objects: objects
            .iter()
            .filter_map(|o| {
                let kind = o["kind"].as_str()?;
                let name = o.pointer("/metadata/name")?.as_str()?;
                let ns = o
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(namespace);
                Some(Object {
                    value: crate::recommend::tree::Tree::from_value(o, &mut Default::default()),
                    oref: crate::context::ObjectRef::new(kind, Some(ns), name),
                    origin: inventory::Origin::Cluster,
                })
            })
            .collect(),
        ..Default::default()
    };
    crate::recommend::rules::check(&inv)
        .into_iter()
        .filter(|r| r.severity >= Severity::Warning)
        .map(|r| format!("{} [{}] {}: {}", r.severity, r.rule, r.object, r.message))
        .collect()
}

/// The input files with the model's edits: documents whose object did not change stay as they
/// were, byte for byte; changed ones keep their leading comments; new objects are appended.
fn edit_files(
    inputs: &[(String, String)],
    objects: &[Value],
) -> Result<Vec<(String, String)>, Error> {
    let key = |v: &Value| (v["kind"].clone(), v["metadata"]["name"].clone());
    let mut used = vec![false; objects.len()];
    let mut files = Vec::new();
    for (path, text) in inputs {
        let mut out = String::new();
        let mut cursor = 0;
        for d in inventory::split_documents(text) {
            let start = d.text.as_ptr() as usize - text.as_ptr() as usize;
            out.push_str(&text[cursor..start]);
            cursor = start + d.text.len();
            let original: Value = serde_saphyr::from_str(d.text).unwrap_or(Value::Null);
            let found = objects.iter().position(|o| key(o) == key(&original));
            match found {
                Some(i) => {
                    used[i] = true;
                    let mut edited = objects[i].clone();
                    // The namespace filled in for validation is not the user's to keep.
                    if original.pointer("/metadata/namespace").is_none()
                        && let Some(m) = edited["metadata"].as_object_mut()
                    {
                        m.remove("namespace");
                    }
                    if edited == original {
                        out.push_str(d.text);
                    } else {
                        for line in d.text.split_inclusive('\n').take(d.line - d.first_line) {
                            out.push_str(line);
                        }
                        out.push_str(
                            &serde_saphyr::to_string(&edited)
                                .map_err(|e| Error::Usage(e.to_string()))?,
                        );
                    }
                }
                None => out.push_str(d.text),
            }
        }
        out.push_str(&text[cursor..]);
        files.push((path.clone(), out));
    }
    if let Some((_, last)) = files.last_mut() {
        for (o, _) in objects.iter().zip(&used).filter(|(_, u)| !**u) {
            if !last.ends_with('\n') {
                last.push('\n');
            }
            last.push_str("---\n");
            last.push_str(&serde_saphyr::to_string(o).map_err(|e| Error::Usage(e.to_string()))?);
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_is_strict_and_fills_the_namespace() {
        let (objs, errs) = parse(
            r#"{"objects": [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "r"}}, {"kind": "Pod"}]}"#,
            "shop",
        );
        assert_eq!(objs[0]["metadata"]["namespace"], "shop");
        assert_eq!(errs.len(), 1);
        assert!(!parse("[]", "x").1.is_empty());
    }
}
