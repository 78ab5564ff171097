//! The snapshot source: a directory written by `kubectl cluster-info dump --output-directory=DIR`,
//! optionally extended with the files that dump leaves out (docs/snapshot-format.md).
//!
//! A missing file is absent data, never an error; a malformed file is an error that names the
//! file, because a silently half-read snapshot would produce a confidently wrong diagnosis.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::context::Event;
use include_dir::{Dir, include_dir};
use k8s_openapi::jiff::Timestamp;
use serde::de::{DeserializeOwned, DeserializeSeed};

use super::item::{ListItem, ListSeed};
use super::kinds::{self, Kind};
use super::list_file::{self, Unread};
use super::logs::{self, Tail};
use crate::context::{ContainerKey, ContainerLogs, Context, Scope, Unavailable};
use crate::error::Error;
use crate::metrics::{NodeMetrics, PodMetrics};

/// The broken todo app that `--demo` diagnoses: a real-shaped dump, embedded so the tool can be
/// tried with no cluster at all.
static DEMO: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/examples/snapshots/todo-app-broken");

/// Where a snapshot's files come from.
#[derive(Debug, Clone)]
pub enum Root {
    Dir(PathBuf),
    /// The snapshot compiled into the binary.
    Demo,
}

impl Root {
    pub fn describe(&self) -> String {
        match self {
            Root::Dir(p) => format!("snapshot {}", p.display()),
            Root::Demo => "built-in demo snapshot (todo-app-broken)".to_string(),
        }
    }

    fn read(&self, rel: &str) -> Result<Option<String>, Error> {
        match self {
            Root::Dir(dir) => {
                let path = dir.join(rel);
                // Logs are whatever the containers wrote, not always UTF-8: decoded lossily, as
                // the live API's logs are.
                match std::fs::read(&path) {
                    Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::Snapshot {
                        path,
                        detail: e.to_string(),
                    }),
                }
            }
            Root::Demo => Ok(DEMO
                .get_file(rel)
                .and_then(|f| f.contents_utf8())
                .map(str::to_string)),
        }
    }

    /// Whether a file is there, without reading it.
    fn exists(&self, rel: &str) -> bool {
        match self {
            Root::Dir(dir) => dir.join(rel).is_file(),
            Root::Demo => DEMO.get_file(rel).is_some(),
        }
    }

    /// The items of one List file, parsed as the file is read (no copy of the whole file is
    /// held: see `list_file`), slimmed, and only those `keep` wants.
    fn list<T: DeserializeOwned + ListItem>(
        &self,
        rel: &str,
        keep: fn(&T) -> bool,
    ) -> Result<Option<Vec<T>>, Error> {
        let invalid = |e: serde_json::Error| Error::Snapshot {
            path: self.path_of(rel),
            detail: format!("not a valid Kubernetes List: {e}"),
        };
        let seed = ListSeed::new(keep);
        match self {
            Root::Dir(dir) => {
                let path = dir.join(rel);
                let unreadable = |e: std::io::Error| Error::Snapshot {
                    path: path.clone(),
                    detail: e.to_string(),
                };
                let open = || match File::open(&path) {
                    Ok(file) => Ok(Some(file)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(unreadable(e)),
                };
                let Some(file) = open()? else {
                    return Ok(None);
                };
                match list_file::items(file, keep) {
                    Ok(items) => return Ok(Some(items)),
                    Err(Unread::Io(e)) => return Err(unreadable(e)),
                    // serde_json's reader says what is wrong, or reads what that one would not.
                    Err(Unread::Unusual) => {}
                }
                let Some(file) = open()? else {
                    return Ok(None);
                };
                let reader = BufReader::with_capacity(256 * 1024, file);
                let mut de = serde_json::Deserializer::from_reader(reader);
                let items = seed.deserialize(&mut de).map_err(invalid)?;
                de.end().map_err(invalid)?;
                Ok(Some(items))
            }
            Root::Demo => {
                let Some(file) = DEMO.get_file(rel) else {
                    return Ok(None);
                };
                let mut de = serde_json::Deserializer::from_slice(file.contents());
                let items = seed.deserialize(&mut de).map_err(invalid)?;
                de.end().map_err(invalid)?;
                Ok(Some(items))
            }
        }
    }

    /// Names of the subdirectories of `rel` ("" for the top).
    fn subdirs(&self, rel: &str) -> Result<Vec<String>, Error> {
        let mut names: Vec<String> = match self {
            Root::Dir(dir) => {
                let path = dir.join(rel);
                let entries = std::fs::read_dir(&path).map_err(|e| Error::Snapshot {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            }
            Root::Demo => {
                let dir = if rel.is_empty() {
                    Some(&DEMO)
                } else {
                    DEMO.get_dir(rel)
                };
                dir.map(|d| {
                    d.dirs()
                        .filter_map(|d| d.path().file_name()?.to_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
            }
        };
        names.sort();
        Ok(names)
    }

    fn path_of(&self, rel: &str) -> PathBuf {
        match self {
            Root::Dir(dir) => dir.join(rel),
            Root::Demo => Path::new("<demo>").join(rel),
        }
    }
}

/// Reads a snapshot into a context. `namespace` narrows it to one namespace; otherwise every
/// namespace in the snapshot is read.
pub fn load(root: &Root, namespace: Option<&str>, tail: Tail) -> Result<Context, Error> {
    if let Root::Dir(dir) = root
        && !dir.is_dir()
    {
        return Err(Error::Snapshot {
            path: dir.clone(),
            detail: "not a directory (expected the output of `kubectl cluster-info dump --output-directory=DIR`)".into(),
        });
    }
    let present = namespaces_in(root)?;
    let (scope, namespaces) = match namespace {
        Some(ns) if present.iter().any(|p| p == ns) => {
            (Scope::Namespace(ns.into()), vec![ns.into()])
        }
        Some(ns) => {
            return Err(Error::Snapshot {
                path: root.path_of(""),
                detail: format!(
                    "namespace {ns:?} is not in this snapshot (it has: {})",
                    if present.is_empty() {
                        "none".into()
                    } else {
                        present.join(", ")
                    }
                ),
            });
        }
        None => (Scope::AllNamespaces, present),
    };

    let reader = Reader {
        root,
        namespaces: &namespaces,
        unavailable: Mutex::new(BTreeMap::new()),
    };
    let mut ctx = Context::empty(root.describe(), scope, Timestamp::UNIX_EPOCH);
    // Pods and events are most of any snapshot: the pods are parsed on a thread of their own
    // while this one reads the events and everything else.
    let pods = std::thread::scope(|s| {
        let pods = s.spawn(|| reader.namespaced(&kinds::PODS, all));
        read_the_rest(&reader, &mut ctx)?;
        pods.join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;
    ctx.pods = pods;
    ctx.pod_metrics = reader
        .metrics::<PodMetrics>(&kinds::POD_METRICS)?
        .map(|mut m| {
            m.retain(|m| {
                m.metadata
                    .namespace
                    .as_deref()
                    .is_some_and(|ns| namespaces.iter().any(|n| n == ns))
            });
            m
        });
    ctx.node_metrics = reader.metrics::<NodeMetrics>(&kinds::NODE_METRICS)?;
    ctx.unavailable = reader.unavailable.into_inner().expect("poisoned");

    ctx.logs = read_logs(root, &ctx, &tail)?;
    read_rbac(root, &mut ctx)?;
    ctx.observed_at = ctx.latest_timestamp().unwrap_or_else(Timestamp::now);
    Ok(ctx.finish())
}

/// RBAC, when the logs show a ServiceAccount refused (see `rbac`): for the namespaces the
/// refusals involve, from the same files as any kind.
fn read_rbac(root: &Root, ctx: &mut Context) -> Result<(), Error> {
    let namespaces = super::rbac::namespaces_to_read(ctx);
    if namespaces.is_empty() {
        return Ok(());
    }
    let reader = Reader {
        root,
        namespaces: &namespaces,
        unavailable: Mutex::new(BTreeMap::new()),
    };
    ctx.rbac = super::rbac::Rbac {
        role_bindings: reader.namespaced(&kinds::ROLE_BINDINGS, all)?,
        roles: reader.namespaced(&kinds::ROLES, all)?,
        cluster_role_bindings: reader.cluster(&kinds::CLUSTER_ROLE_BINDINGS)?,
        cluster_roles: reader.cluster(&kinds::CLUSTER_ROLES)?,
        namespaces: namespaces.clone(),
    };
    ctx.unavailable
        .extend(reader.unavailable.into_inner().expect("poisoned"));
    Ok(())
}

/// Every kind but pods (and metrics), in the reading thread.
fn read_the_rest(reader: &Reader, ctx: &mut Context) -> Result<(), Error> {
    ctx.namespaces = reader.cluster(&kinds::NAMESPACES)?;
    ctx.nodes = reader.cluster(&kinds::NODES)?;
    ctx.pvs = reader.cluster(&kinds::PVS)?;
    ctx.storage_classes = reader.cluster(&kinds::STORAGE_CLASSES)?;
    ctx.ingress_classes = reader.cluster(&kinds::INGRESS_CLASSES)?;
    // Normal events are never evidence (the live source does not even ask for them): they are
    // dropped as they are parsed rather than held until the context is finished.
    ctx.events = reader.namespaced(&kinds::EVENTS, |e: &Event| {
        e.type_.as_deref() != Some("Normal")
    })?;
    ctx.services = reader.namespaced(&kinds::SERVICES, all)?;
    ctx.endpoints = reader.namespaced(&kinds::ENDPOINTS, all)?;
    ctx.deployments = reader.namespaced(&kinds::DEPLOYMENTS, all)?;
    ctx.replica_sets = reader.namespaced(&kinds::REPLICA_SETS, all)?;
    ctx.stateful_sets = reader.namespaced(&kinds::STATEFUL_SETS, all)?;
    ctx.daemon_sets = reader.namespaced(&kinds::DAEMON_SETS, all)?;
    ctx.replication_controllers = reader.namespaced(&kinds::REPLICATION_CONTROLLERS, all)?;
    ctx.jobs = reader.namespaced(&kinds::JOBS, all)?;
    ctx.cron_jobs = reader.namespaced(&kinds::CRON_JOBS, all)?;
    ctx.pvcs = reader.namespaced(&kinds::PVCS, all)?;
    ctx.ingresses = reader.namespaced(&kinds::INGRESSES, all)?;
    ctx.hpas = reader.namespaced(&kinds::HPAS, all)?;
    ctx.network_policies = reader.namespaced(&kinds::NETWORK_POLICIES, all)?;
    ctx.pdbs = reader.namespaced(&kinds::PDBS, all)?;
    ctx.config_maps = reader.namespaced(&kinds::CONFIG_MAPS, all)?;
    ctx.secrets = reader.namespaced(&kinds::SECRETS, all)?;
    Ok(())
}

/// Keeps every object of a list.
fn all<T>(_: &T) -> bool {
    true
}

/// Namespace directories: those holding at least one file we know.
fn namespaces_in(root: &Root) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for dir in root.subdirs("")? {
        let known = kinds::ALL
            .iter()
            .filter(|k| k.namespaced)
            .any(|k| root.exists(&format!("{dir}/{}", k.file)));
        if known {
            out.push(dir);
        }
    }
    Ok(out)
}

struct Reader<'a> {
    root: &'a Root,
    namespaces: &'a [String],
    unavailable: Mutex<BTreeMap<String, Unavailable>>,
}

impl Reader<'_> {
    fn absent(&self, kind: &Kind) {
        self.unavailable
            .lock()
            .expect("poisoned")
            .insert(kind.resource(), Unavailable::NotInSnapshot);
    }

    fn cluster<T: DeserializeOwned + ListItem>(&self, kind: &Kind) -> Result<Vec<T>, Error> {
        let found = self.root.list(kind.file, all)?;
        if found.is_none() {
            self.absent(kind);
        }
        Ok(found.unwrap_or_default())
    }

    fn namespaced<T: DeserializeOwned + ListItem + Send>(
        &self,
        kind: &Kind,
        keep: fn(&T) -> bool,
    ) -> Result<Vec<T>, Error> {
        let read = |ns: &String| {
            let mut found = self.root.list(&format!("{ns}/{}", kind.file), keep)?;
            if found.is_none() && kind.plural == kinds::REPLICATION_CONTROLLERS.plural {
                let alt = format!("{ns}/{}", kinds::REPLICATION_CONTROLLERS_ALT_FILE);
                found = self.root.list(&alt, keep)?;
            }
            Ok(found)
        };
        let found = side_by_side(self.namespaces, read)
            .into_iter()
            .collect::<Result<Vec<_>, Error>>()?;
        if found.iter().all(Option::is_none) {
            self.absent(kind);
        }
        let mut out = concat(found.into_iter().flatten().collect());
        // A parsed list grows by doubling: up to half of a big kind's allocation is unused (an
        // object of a k8s-openapi type is kilobytes inline, a Pod with its container more).
        out.shrink_to_fit();
        Ok(out)
    }

    /// Metrics may sit at the top (all namespaces) or in each namespace directory.
    fn metrics<T: DeserializeOwned + ListItem>(
        &self,
        kind: &Kind,
    ) -> Result<Option<Vec<T>>, Error> {
        let mut out: Option<Vec<T>> = self.root.list(kind.file, all)?;
        if kind.namespaced {
            for ns in self.namespaces {
                if let Some(items) = self.root.list(&format!("{ns}/{}", kind.file), all)? {
                    out.get_or_insert_with(Vec::new).extend(items);
                }
            }
        }
        if out.is_none() {
            self.absent(kind);
        }
        Ok(out)
    }
}

/// `read` of each input, on as many threads as there are cores (a snapshot of many namespaces
/// has a file of each kind in each), in the inputs' order.
fn side_by_side<I: Sync, R: Send>(inputs: &[I], read: impl Fn(&I) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(inputs.len());
    if threads <= 1 {
        return inputs.iter().map(read).collect();
    }
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(inputs.len()));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(input) = inputs.get(i) else { break };
                    let r = read(input);
                    done.lock().expect("poisoned").push((i, r));
                }
            });
        }
    });
    let mut done = done.into_inner().expect("poisoned");
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// The namespaces' objects as one list, in their order, moved into the largest one's allocation
/// (in a cluster of one big namespace, copying it would hold every object twice at the peak).
fn concat<T>(mut lists: Vec<Vec<T>>) -> Vec<T> {
    let Some(largest) = (0..lists.len()).max_by_key(|&i| lists[i].len()) else {
        return Vec::new();
    };
    let after = lists.split_off(largest + 1);
    let mut out = lists.pop().expect("the largest");
    let before: Vec<T> = lists.into_iter().flatten().collect();
    out.reserve_exact(before.len() + after.iter().map(Vec::len).sum::<usize>());
    // The ones before it go in front: the largest's items move once (an exactly sized splice).
    out.splice(0..0, before);
    out.extend(after.into_iter().flatten());
    out
}

/// Logs live in `NAMESPACE/POD/logs.txt` (kubectl's) and `NAMESPACE/POD/previous-logs.txt` (ours,
/// same block format). Only the logs live collection would fetch are kept, with the same tail, so
/// a snapshot and a live cluster in the same state yield the same context.
fn read_logs(
    root: &Root,
    ctx: &Context,
    tail: &Tail,
) -> Result<BTreeMap<ContainerKey, ContainerLogs>, Error> {
    let mut out: BTreeMap<ContainerKey, ContainerLogs> = BTreeMap::new();
    let mut files: BTreeMap<(String, String, bool), BTreeMap<String, String>> = BTreeMap::new();
    for target in logs::targets(ctx, tail) {
        let file = (
            target.namespace.clone(),
            target.pod.clone(),
            target.previous,
        );
        if !files.contains_key(&file) {
            let name = if target.previous {
                "previous-logs.txt"
            } else {
                "logs.txt"
            };
            let rel = format!("{}/{}/{name}", target.namespace, target.pod);
            let parsed = root
                .read(&rel)?
                .map(|t| logs::parse_dump(&t))
                .unwrap_or_default();
            files.insert(file.clone(), parsed);
        }
        let Some(text) = files[&file].get(&target.container) else {
            continue;
        };
        let entry = out
            .entry(ContainerKey {
                namespace: target.namespace,
                pod: target.pod,
                container: target.container,
            })
            .or_default();
        let text = Some(tail.apply(text));
        if target.previous {
            entry.previous = text;
        } else {
            entry.current = text;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_read_side_by_side_come_back_in_their_order() {
        let inputs: Vec<usize> = (0..50).collect();
        let read = |&i: &usize| {
            // The later ones finish first.
            std::thread::sleep(std::time::Duration::from_micros((50 - i as u64) * 20));
            vec![i; i % 3]
        };
        let lists = side_by_side(&inputs, read);
        let expected: Vec<Vec<usize>> = inputs.iter().map(|&i| vec![i; i % 3]).collect();
        assert_eq!(lists, expected);
        let joined = concat(lists);
        let flat: Vec<usize> = expected.into_iter().flatten().collect();
        assert_eq!(joined, flat);
        assert_eq!(
            concat(vec![vec![1], vec![2, 3, 4], vec![5]]),
            [1, 2, 3, 4, 5]
        );
        assert!(concat::<u8>(Vec::new()).is_empty());
    }
}
