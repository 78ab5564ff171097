//! Host names in log lines and settings, and the Services they mean.
//!
//! An app that cannot reach what it depends on says so with a host name: `could not translate
//! host name "postgres"`, `dial tcp: lookup redis on 10.96.0.10:53: no such host`,
//! `connect ECONNREFUSED 10.96.4.7:6379`. These helpers find those names and resolve them the
//! way cluster DNS would (`NAME`, `NAME.NS`, `NAME.NS.svc`, `NAME.NS.svc.cluster.local`, or the
//! Service's ClusterIP), so a failing app can be linked to the Service it fails to reach, and an
//! unresolvable name to the Service the operator most likely meant.

use crate::context::{Container, Pod};
use k8s_openapi::api::core::v1::Service;

use crate::context::Context;

/// Words of a log line that reports a failed connection or name lookup.
const CONNECTION_WORDS: &[&str] = &[
    "connection refused",
    "econnrefused",
    "could not connect",
    "could not translate host name",
    "failed to connect",
    "unable to connect",
    "can't connect",
    "cannot connect",
    "connect: ",
    "no such host",
    "name or service not known",
    "temporary failure in name resolution",
    "enotfound",
    "eai_again",
    "unknownhostexception",
    "unknown host",
    "connection timed out",
    "i/o timeout",
    "timed out",
    "context deadline exceeded",
    "connection reset",
    "failed to resolve",
    "dial tcp",
    "no route to host",
    "503 service unavailable",
    // busybox nslookup, the usual wait-for loop of an init container.
    "server can't find",
    "can't resolve",
];

/// Whether a log line reports that something could not be reached.
pub(crate) fn is_connection_error(line: &str) -> bool {
    let lower = line.to_lowercase();
    CONNECTION_WORDS.iter().any(|w| lower.contains(w))
}

/// The host name a line says cannot be resolved, when it names one.
pub(crate) fn unresolved_host(line: &str) -> Option<String> {
    let lower = line.to_lowercase();
    // (text before the host, whether the host is followed by a DNS failure elsewhere in the line)
    const PATTERNS: &[(&str, Option<&str>)] = &[
        ("could not translate host name \"", None),
        ("unknown mysql server host '", None),
        ("unknownhostexception: ", None),
        ("getaddrinfo enotfound ", None),
        ("getaddrinfo eai_again ", None),
        ("failed to resolve '", None),
        ("failed to resolve host '", None),
        ("server can't find ", None),
        ("nslookup: can't resolve '", None),
        ("lookup ", Some("no such host")),
        ("lookup ", Some("server misbehaving")),
        ("connecting to ", Some("name or service not known")),
        (
            "connecting to ",
            Some("temporary failure in name resolution"),
        ),
        ("connecting to ", Some("nodename nor servname")),
    ];
    for (prefix, needs) in PATTERNS {
        if needs.is_some_and(|w| !lower.contains(w)) {
            continue;
        }
        let Some(at) = lower.find(prefix) else {
            continue;
        };
        let rest = &lower[at + prefix.len()..];
        let host: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            .collect();
        let host = host.trim_end_matches('.');
        if host.len() >= 2 && host.chars().any(|c| c.is_ascii_alphabetic()) {
            return Some(host.to_string());
        }
    }
    None
}

/// Every token of a line that could be a host: `name`, `name.ns.svc`, `10.96.0.5`, with ports
/// and URL parts cut away.
pub(crate) fn tokens(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
        .map(|t| t.trim_matches('.'))
        .filter(|t| t.len() >= 2)
}

/// The Service a host name or address means, seen from namespace `ns`.
pub(crate) fn service_for<'a>(ctx: &'a Context, ns: &str, host: &str) -> Option<&'a Service> {
    let host = host.to_lowercase();
    let host = host.strip_suffix(".cluster.local").unwrap_or(&host);
    let host = host.strip_suffix(".svc").unwrap_or(host);
    let (name, namespace) = match host.split_once('.') {
        Some((name, rest)) if !rest.contains('.') => (name, rest),
        Some(_) => ("", ns),
        None => (host, ns),
    };
    ctx.services.iter().find(|s| {
        let meta = &s.metadata;
        let by_name =
            meta.name.as_deref() == Some(name) && meta.namespace.as_deref() == Some(namespace);
        let by_ip = meta.namespace.as_deref() == Some(ns)
            && s.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some(host)
            && host != "none";
        by_name || by_ip
    })
}

/// A name cluster DNS would answer: a bare name, `NAME.NAMESPACE`, or one under `.svc`.
fn looks_in_cluster(ctx: &Context, host: &str) -> bool {
    let mut labels = host.split('.');
    let _name = labels.next();
    match labels.next() {
        None => true,
        Some(second) => {
            host.ends_with(".svc")
                || host.contains(".svc.cluster.local")
                || ctx
                    .namespaces
                    .iter()
                    .any(|n| n.metadata.name.as_deref() == Some(second))
        }
    }
}

/// The Service names of a namespace, sorted.
pub(crate) fn service_names<'a>(ctx: &'a Context, ns: &str) -> Vec<&'a str> {
    let mut names: Vec<&str> = ctx
        .services
        .iter()
        .filter(|s| s.metadata.namespace.as_deref() == Some(ns))
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    names.sort();
    names
}

/// The name among `names` closest to `host`: one containing it (or contained in it), else the
/// one within a few edits.
pub(crate) fn nearest<'a>(host: &str, names: &[&'a str]) -> Option<&'a str> {
    let short = host.split('.').next().unwrap_or(host);
    let containing = names
        .iter()
        .filter(|n| n.contains(short) || short.contains(**n))
        .min_by_key(|n| n.len().abs_diff(short.len()));
    if let Some(n) = containing {
        return Some(n);
    }
    names
        .iter()
        .map(|n| (edit_distance(short, n), *n))
        .filter(|(d, _)| *d <= 2.max(short.len() / 3))
        .min()
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// Where a container's setting of `host` comes from: the env vars whose literal value names it,
/// else the env vars and envFrom sources that could (keys and names only, never values).
pub(crate) fn host_source(c: &Container, host: &str) -> Option<String> {
    let env = c.env.as_deref().unwrap_or_default();
    let literal: Vec<&str> = env
        .iter()
        .filter(|e| {
            e.value
                .as_deref()
                .is_some_and(|v| tokens(v).any(|t| t.eq_ignore_ascii_case(host)))
        })
        .map(|e| e.name.as_str())
        .collect();
    if !literal.is_empty() {
        return Some(format!(
            "host {host} is set by env {} of container {}",
            literal.join(", "),
            c.name
        ));
    }
    let settingish = |name: &str| {
        let n = name.to_uppercase();
        ["HOST", "URL", "URI", "ADDR", "DSN", "ENDPOINT", "SERVER"]
            .iter()
            .any(|w| n.contains(w))
    };
    let mut candidates: Vec<String> = env
        .iter()
        .filter(|e| settingish(&e.name))
        .filter_map(|e| {
            let from = e.value_from.as_ref()?;
            if let Some(k) = &from.secret_key_ref {
                Some(format!(
                    "env {} (key {} of Secret {})",
                    e.name, k.key, k.name
                ))
            } else {
                from.config_map_key_ref
                    .as_ref()
                    .map(|k| format!("env {} (key {} of ConfigMap {})", e.name, k.key, k.name))
            }
        })
        .collect();
    candidates.extend(c.env_from.iter().flatten().filter_map(|f| {
        f.config_map_ref
            .as_ref()
            .map(|r| format!("envFrom ConfigMap {}", r.name))
            .or_else(|| {
                f.secret_ref
                    .as_ref()
                    .map(|r| format!("envFrom Secret {}", r.name))
            })
    }));
    (!candidates.is_empty()).then(|| {
        format!(
            "host {host} likely comes from {} of container {}",
            candidates.join(", "),
            c.name
        )
    })
}

/// A host a container fails to resolve, set against the Services of its namespace.
pub(crate) struct Unresolved {
    pub host: String,
    /// The Service most likely meant.
    pub nearest: Option<String>,
    pub evidence: Vec<String>,
}

/// The first host that `lines` fail to resolve and that no Service answers to, with the
/// namespace's Services, the nearest name, and the setting that holds the host.
pub(crate) fn unresolved(
    ctx: &Context,
    pod: &Pod,
    container: &str,
    lines: &[&str],
) -> Option<Unresolved> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let host = lines
        .iter()
        .filter_map(|l| unresolved_host(l))
        .find(|h| looks_in_cluster(ctx, h) && service_for(ctx, ns, h).is_none())?;
    let names = service_names(ctx, ns);
    let nearest = nearest(&host, &names).map(str::to_string);
    let mut evidence = vec![format!(
        "no Service {} in namespace {ns}; its Services: {}",
        host.split('.').next().unwrap_or(&host),
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    )];
    if let Some(n) = &nearest {
        evidence.push(format!("nearest Service name: {n}"));
    }
    let c = super::container(pod, container);
    evidence.extend(c.and_then(|c| host_source(c, &host)));
    Some(Unresolved {
        host,
        nearest,
        evidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_unresolved_host_in_common_messages() {
        let cases = [
            (
                "psycopg2.OperationalError: could not translate host name \"postgres\" to address: Name or service not known",
                "postgres",
            ),
            (
                "dial tcp: lookup redis-master on 10.96.0.10:53: no such host",
                "redis-master",
            ),
            (
                "Error: getaddrinfo ENOTFOUND mongo.db.svc.cluster.local",
                "mongo.db.svc.cluster.local",
            ),
            ("java.net.UnknownHostException: mysql", "mysql"),
            (
                "redis.exceptions.ConnectionError: Error -2 connecting to cache:6379. Name or service not known.",
                "cache",
            ),
        ];
        for (line, host) in cases {
            assert_eq!(unresolved_host(line).as_deref(), Some(host), "{line}");
        }
        assert_eq!(
            unresolved_host("dial tcp 10.0.0.1:5432: connect: connection refused"),
            None
        );
    }

    #[test]
    fn nearest_name_prefers_containment_then_edits() {
        let names = ["todo-backend", "todo-postgres", "redis"];
        assert_eq!(nearest("postgres", &names), Some("todo-postgres"));
        assert_eq!(nearest("rediss", &names), Some("redis"));
        assert_eq!(nearest("kafka", &names), None);
    }

    #[test]
    fn tokens_cut_urls_and_ports() {
        let t: Vec<&str> = tokens("postgresql://app@db.prod.svc:5432/todos").collect();
        assert!(t.contains(&"db.prod.svc") && t.contains(&"5432"), "{t:?}");
    }
}
