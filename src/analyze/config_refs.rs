//! A ConfigMap or Secret that pods need and cannot get: missing altogether, or missing the key a
//! container reads. The kubelet reports it on every pod that needs it (CreateContainerConfigError,
//! or a FailedMount event for a volume), but the cause is one object: it is the finding, and the
//! blocked workloads are its consequences (see [`super::links`]).
//!
//! Only names and key names are ever said, never a value.

use crate::cluster::kinds;
use std::collections::{BTreeMap, BTreeSet};

use crate::context::{Container, Pod, PodSpec};
use k8s_openapi::api::core::v1::ContainerStateWaiting;

use super::{Finding, Rule, Severity, namespace, pod_name, pods};
use crate::context::{Context, ObjectRef};

/// The object (and key) the kubelet could not find.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Missing {
    kind: &'static str,
    namespace: String,
    name: String,
    key: Option<String>,
}

/// What the kubelet said, and on which pods.
#[derive(Default)]
struct Blocked<'a> {
    messages: BTreeSet<String>,
    pods: Vec<&'a Pod>,
}

pub(crate) fn analyze(ctx: &Context) -> Vec<Finding> {
    let mut missing: BTreeMap<Missing, Blocked> = BTreeMap::new();
    for pod in &ctx.pods {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, Some("Succeeded" | "Failed")) {
            continue;
        }
        for message in kubelet_messages(ctx, pod) {
            let Some(m) = parse(namespace(pod), &message).filter(|m| !exists_now(ctx, m)) else {
                continue;
            };
            let blocked = missing.entry(m).or_default();
            if !blocked.pods.iter().any(|p| pod_name(p) == pod_name(pod)) {
                blocked.pods.push(pod);
            }
            blocked.messages.insert(message);
        }
    }
    missing
        .into_iter()
        .map(|(m, blocked)| finding(ctx, &m, &blocked))
        .collect()
}

/// The kubelet's words about a missing object: waiting messages of containers it cannot create,
/// and FailedMount events of pods it cannot start.
fn kubelet_messages(ctx: &Context, pod: &Pod) -> Vec<String> {
    let status = pod.status.as_ref();
    let waiting: Vec<&ContainerStateWaiting> = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default()
        .iter()
        .chain(
            status
                .and_then(|s| s.container_statuses.as_deref())
                .unwrap_or_default(),
        )
        .filter_map(|cs| cs.state.as_ref()?.waiting.as_ref())
        .collect();
    let reason = |w: &&ContainerStateWaiting, r: &[&str]| {
        w.reason.as_deref().is_some_and(|x| r.contains(&x))
    };
    let mut out: Vec<String> = waiting
        .iter()
        .filter(|w| reason(w, &["CreateContainerConfigError"]))
        .filter_map(|w| w.message.clone())
        .collect();
    // A FailedMount event outlives the problem (kube-root-ca.crt is briefly missing in every new
    // namespace): it counts only while the pod still waits to be created.
    if waiting
        .iter()
        .any(|w| reason(w, &["ContainerCreating", "PodInitializing"]))
    {
        out.extend(
            ctx.events_for("Pod", pod.metadata.namespace.as_deref(), pod_name(pod))
                .filter(|e| e.reason.as_deref() == Some("FailedMount"))
                .filter_map(|e| e.message.clone()),
        );
    }
    out
}

/// The object (with the key) is there now, as far as a readable list shows: the kubelet's word is
/// older than the fix.
fn exists_now(ctx: &Context, m: &Missing) -> bool {
    let found = match m.kind {
        "Secret" if ctx.has(&kinds::SECRETS) => ctx.secret(&m.namespace, &m.name),
        "ConfigMap" if ctx.has(&kinds::CONFIG_MAPS) => ctx.config_map(&m.namespace, &m.name),
        _ => None,
    };
    found.is_some_and(|o| m.key.as_ref().is_none_or(|k| o.keys.contains(k)))
}

fn parse(ns: &str, message: &str) -> Option<Missing> {
    if let Some((kind, name)) = pods::missing_object(message) {
        return Some(Missing {
            kind,
            namespace: ns.to_string(),
            name,
            key: None,
        });
    }
    let (key, kind, name) = pods::missing_key(message)?;
    let kind = match kind.as_str() {
        "Secret" => "Secret",
        "ConfigMap" => "ConfigMap",
        _ => return None,
    };
    Some(Missing {
        kind,
        namespace: ns.to_string(),
        name,
        key: Some(key),
    })
}

fn finding(ctx: &Context, m: &Missing, blocked: &Blocked) -> Finding {
    let object = ObjectRef::new(m.kind, Some(&m.namespace), &m.name);
    let workloads: BTreeSet<String> = blocked
        .pods
        .iter()
        .map(|p| {
            let o = ctx.owner_of(p);
            format!("{} {}", o.kind, o.name)
        })
        .collect();
    let needed_by = workloads.into_iter().collect::<Vec<_>>().join(", ");
    let mut evidence: Vec<String> = blocked
        .messages
        .iter()
        .map(|msg| format!("kubelet: {}", msg.lines().next().unwrap_or_default()))
        .collect();
    let mut uses: BTreeSet<String> = BTreeSet::new();
    let mut keys: BTreeSet<String> = BTreeSet::new();
    for pod in &blocked.pods {
        if let Some(spec) = pod.spec.as_ref() {
            references(spec, m, &mut uses, &mut keys);
        }
    }
    evidence.extend(uses.iter().map(|u| format!("read by {u}")));
    let existing = match m.kind {
        "Secret" => ctx.secret(&m.namespace, &m.name),
        _ => ctx.config_map(&m.namespace, &m.name),
    };
    let (summary, fix) = match &m.key {
        Some(key) => {
            let has = existing.map(|o| o.keys.clone()).unwrap_or_default();
            if existing.is_some() {
                evidence.push(format!("{} {} has keys: {}", m.kind, m.name, list(&has)));
            }
            key_missing(m, key, &has, &needed_by)
        }
        None => {
            let names = same_kind(ctx, m);
            let near = super::hosts::nearest(&m.name, &names);
            if let Some(near) = near {
                evidence.push(format!(
                    "namespace {} has {} {near}, the nearest name",
                    m.namespace, m.kind
                ));
            }
            object_missing(m, &keys, near, &needed_by)
        }
    };
    Finding {
        rule: if m.key.is_some() {
            Rule::ConfigKeyMissing
        } else {
            Rule::ConfigMissing
        },
        severity: Severity::Error,
        object,
        summary,
        evidence,
        fix,
        pods: blocked
            .pods
            .iter()
            .map(|p| pod_name(p).to_string())
            .collect(),
        causes: Vec::new(),
        caused_by: None,
        remedies: Vec::new(),
    }
}

fn key_missing(m: &Missing, key: &str, has: &[String], needed_by: &str) -> (String, String) {
    let (kind, name, ns) = (m.kind, &m.name, &m.namespace);
    // stringData takes the value as text; a Secret's data would need it base64-encoded.
    let field = if kind == "Secret" {
        "stringData"
    } else {
        "data"
    };
    let others = if has.is_empty() {
        String::new()
    } else {
        format!(" ({})", list(has))
    };
    (
        format!("{kind} {name} lacks key {key}, so {needed_by} cannot start"),
        format!(
            "Add key {key} to {kind} {name} in namespace {ns} (`kubectl patch {} {name} -n {ns} --type merge -p '{{\"{field}\":{{\"{key}\":\"...\"}}}}'`), or point the reference at a key it has{others}; the pods start once the key exists.",
            kind.to_lowercase()
        ),
    )
}

fn object_missing(
    m: &Missing,
    keys: &BTreeSet<String>,
    near: Option<&str>,
    needed_by: &str,
) -> (String, String) {
    let (kind, name, ns) = (m.kind, &m.name, &m.namespace);
    let literals: String = if keys.is_empty() {
        " --from-literal=KEY=VALUE".to_string()
    } else {
        keys.iter()
            .map(|k| format!(" --from-literal={k}=..."))
            .collect()
    };
    let create = if kind == "Secret" {
        format!("kubectl create secret generic {name} -n {ns}{literals}")
    } else {
        format!("kubectl create configmap {name} -n {ns}{literals}")
    };
    let instead = near
        .map(|n| format!(", or point the reference at {kind} {n} if that is the one meant"))
        .unwrap_or_default();
    let needs = if keys.is_empty() {
        String::new()
    } else {
        format!(" with the keys its users read ({})", list(keys))
    };
    (
        format!("{kind} {name} does not exist, so {needed_by} cannot start"),
        format!(
            "Create {kind} {name} in namespace {ns}{needs}: `{create}`{instead}. If a controller (an operator, cert-manager, external-secrets) should create it, check that controller."
        ),
    )
}

/// Names of the objects of the same kind in the namespace, when that list was readable.
fn same_kind<'a>(ctx: &'a Context, m: &Missing) -> Vec<&'a str> {
    let (list, resource) = match m.kind {
        "Secret" => (&ctx.secrets, &kinds::SECRETS),
        _ => (&ctx.config_maps, &kinds::CONFIG_MAPS),
    };
    if !ctx.has(resource) {
        return vec![];
    }
    list.iter()
        .filter(|o| o.namespace == m.namespace)
        .map(|o| o.name.as_str())
        .collect()
}

fn list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| s.as_ref().to_string()).collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// Where a pod spec reads the object: env keys, envFrom, volumes; and the keys it reads.
fn references(
    spec: &PodSpec,
    m: &Missing,
    uses: &mut BTreeSet<String>,
    keys: &mut BTreeSet<String>,
) {
    let secret = m.kind == "Secret";
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers);
    for c in containers {
        container_refs(c, m, secret, uses, keys);
    }
    for v in spec.volumes.iter().flatten() {
        let (named, items) = if secret {
            let s = v.secret.as_ref();
            (
                s.and_then(|s| s.secret_name.as_deref()),
                s.and_then(|s| s.items.as_deref()),
            )
        } else {
            let c = v.config_map.as_ref();
            (
                c.map(|c| c.name.as_str()),
                c.and_then(|c| c.items.as_deref()),
            )
        };
        if named == Some(m.name.as_str()) {
            uses.insert(format!("volume {}", v.name));
            keys.extend(items.into_iter().flatten().map(|i| i.key.clone()));
        }
    }
}

fn container_refs(
    c: &Container,
    m: &Missing,
    secret: bool,
    uses: &mut BTreeSet<String>,
    keys: &mut BTreeSet<String>,
) {
    for e in c.env.iter().flatten() {
        let from = e.value_from.as_ref();
        let reference = if secret {
            from.and_then(|f| f.secret_key_ref.as_ref())
                .map(|r| (r.name.as_str(), r.key.as_str()))
        } else {
            from.and_then(|f| f.config_map_key_ref.as_ref())
                .map(|r| (r.name.as_str(), r.key.as_str()))
        };
        if let Some((_, key)) = reference.filter(|(n, _)| *n == m.name)
            && m.key.as_deref().is_none_or(|k| k == key)
        {
            uses.insert(format!(
                "env {} of container {} (key {key})",
                e.name, c.name
            ));
            keys.insert(key.to_string());
        }
    }
    for f in c.env_from.iter().flatten() {
        let name = if secret {
            f.secret_ref.as_ref().map(|r| r.name.as_str())
        } else {
            f.config_map_ref.as_ref().map(|r| r.name.as_str())
        };
        if m.key.is_none() && name == Some(m.name.as_str()) {
            uses.insert(format!("envFrom of container {}", c.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_messages_name_the_object_and_key() {
        assert_eq!(
            parse("pay", "secret \"stripe-api\" not found"),
            Some(Missing {
                kind: "Secret",
                namespace: "pay".into(),
                name: "stripe-api".into(),
                key: None
            })
        );
        let m = parse(
            "shop",
            "MountVolume.SetUp failed for volume \"cfg\" : configmap \"cart\" not found",
        )
        .unwrap();
        assert_eq!((m.kind, m.name.as_str()), ("ConfigMap", "cart"));
        let k = parse(
            "shop",
            "couldn't find key REDIS_URL in ConfigMap shop/cart-config",
        )
        .unwrap();
        assert_eq!(k.key.as_deref(), Some("REDIS_URL"));
        assert_eq!(k.name, "cart-config");
        assert_eq!(
            parse("x", "container has runAsNonRoot and image will run as root"),
            None
        );
    }
}
