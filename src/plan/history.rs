//! What kubectl-ai changed, kept locally so it can be undone: one JSON file per applied plan in
//! the XDG state directory.

use std::path::PathBuf;

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Action, Change, Plan, diff};
use crate::context::ObjectRef;
use crate::error::Error;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub id: String,
    pub at: String,
    /// The cluster it was applied to ("context minikube (https://...)").
    pub cluster: String,
    pub changes: Vec<Changed>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Changed {
    pub target: ObjectRef,
    pub summary: String,
    /// `None` when the object did not exist before.
    pub before: Option<Value>,
    /// `None` when the object was deleted.
    pub after: Option<Value>,
}

/// Where the records are kept: a directory the Session resolves (`history/` of the state
/// directory), so nothing here reads the environment.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    dir: PathBuf,
}

fn io_error(path: &std::path::Path, e: impl std::fmt::Display) -> Error {
    Error::History {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

impl Store {
    pub(crate) fn new(dir: PathBuf) -> Store {
        Store { dir }
    }

    /// Writes a record under a new id (`20261123-101500`, suffixed if taken) and returns the id.
    pub(crate) fn save(&self, cluster: &str, changes: Vec<Changed>) -> Result<String, Error> {
        let dir = &self.dir;
        std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let now = Timestamp::now();
        let base = now.strftime("%Y%m%d-%H%M%S").to_string();
        let mut id = base.clone();
        let mut n = 1;
        while dir.join(format!("{id}.json")).exists() {
            n += 1;
            id = format!("{base}-{n}");
        }
        let record = Record {
            id: id.clone(),
            at: now.to_string(),
            cluster: cluster.to_string(),
            changes,
        };
        let path = dir.join(format!("{id}.json"));
        let text = serde_json::to_string_pretty(&record).map_err(|e| io_error(&path, e))?;
        std::fs::write(&path, text).map_err(|e| io_error(&path, e))?;
        Ok(id)
    }

    /// Every record, oldest first.
    pub(crate) fn list(&self) -> Result<Vec<Record>, Error> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(vec![]);
        };
        let mut records = Vec::new();
        for e in entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        {
            let text = std::fs::read_to_string(e.path()).map_err(|err| io_error(&e.path(), err))?;
            records.push(
                serde_json::from_str::<Record>(&text).map_err(|err| io_error(&e.path(), err))?,
            );
        }
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(records)
    }

    /// One record by id, or the newest.
    pub(crate) fn find(&self, id: Option<&str>) -> Result<Record, Error> {
        let records = self.list()?;
        match id {
            Some(id) => records.into_iter().find(|r| r.id == id).ok_or_else(|| {
                Error::NoHistory(format!(
                    "no change recorded with id {id:?} (see `kubectl ai history`)"
                ))
            }),
            None => records.into_iter().next_back().ok_or_else(|| {
                Error::NoHistory("nothing to undo: no change has been recorded".into())
            }),
        }
    }
}

/// The plan that puts every object of a record back: the exact earlier object where there was
/// one, deletion where the change created it.
pub(crate) fn undo_plan(record: &Record) -> Plan {
    let actions = record
        .changes
        .iter()
        .rev()
        .map(|c| match &c.before {
            Some(before) => Action {
                summary: format!("restore the state before {:?}", c.summary),
                why: format!("undo of {}", record.id),
                target: c.target.clone(),
                change: Change::Replace(diff::clean(before)),
                origin: super::Origin::Operator,
            },
            None => Action::delete(
                c.target.clone(),
                format!("undo of {}: it was created then", record.id),
            ),
        })
        .collect();
    Plan { actions }
}
