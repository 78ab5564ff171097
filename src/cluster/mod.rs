//! The two sources of a [`Context`]: a live API server and a snapshot directory.

mod item;
pub mod kinds;
pub(crate) mod kubeconfig;
mod list_file;
pub(crate) mod live;
pub(crate) mod logs;
mod parts;
pub(crate) mod rbac;
pub(crate) mod retry;
pub mod snapshot;

use crate::context::{Context, Scope};
use crate::error::Error;

/// Where to read the cluster from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Live(live::ConnectOptions),
    Snapshot(snapshot::Root),
}

/// Which namespaces to read, as the user asked with `-n` / `-A`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ScopeRequest {
    pub namespace: Option<String>,
    pub all_namespaces: bool,
}

/// Collection settings shared by both sources.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub tail: logs::Tail,
    pub chunk_size: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            tail: logs::Tail::default(),
            chunk_size: 500,
        }
    }
}

/// Reads one context from either source.
pub(crate) async fn collect(
    source: &Source,
    scope: &ScopeRequest,
    limits: Limits,
) -> Result<Context, Error> {
    match source {
        Source::Snapshot(root) => {
            let namespace = if scope.all_namespaces {
                None
            } else {
                scope.namespace.as_deref()
            };
            snapshot::load(root, namespace, limits.tail)
        }
        Source::Live(opts) => {
            let cluster = live::Cluster::connect(opts).await?;
            let scope = if scope.all_namespaces {
                Scope::AllNamespaces
            } else {
                Scope::Namespace(
                    scope
                        .namespace
                        .clone()
                        .unwrap_or_else(|| cluster.default_namespace.clone()),
                )
            };
            cluster.collect(scope, limits.tail, limits.chunk_size).await
        }
    }
}
