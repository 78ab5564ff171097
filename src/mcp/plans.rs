//! The plans this server proposed, by id, until they are applied or the server stops. Only a
//! plan proposed here can be applied, and only on the cluster it was validated against.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::plan::staged::Proposed;

/// At most this many proposals are kept; the oldest goes first.
const KEEP: usize = 32;

pub(super) struct Entry {
    /// The cluster it was validated against ("context fake (http://...)").
    pub cluster: String,
    pub proposed: Proposed,
}

#[derive(Default)]
pub(super) struct Plans {
    inner: Mutex<Store>,
}

#[derive(Default)]
struct Store {
    next: u64,
    entries: HashMap<String, (u64, Entry)>,
}

impl Plans {
    /// Keeps a proposal and returns its id: unguessable, so no other client of an HTTP server
    /// can apply it by counting.
    pub(super) fn add(&self, entry: Entry) -> String {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap_or_default();
        let mut store = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        store.next += 1;
        let n = store.next;
        let id = format!("plan-{n}-{}", hex(&bytes));
        store.entries.insert(id.clone(), (n, entry));
        if store.entries.len() > KEEP
            && let Some(oldest) = store
                .entries
                .iter()
                .min_by_key(|(_, (n, _))| *n)
                .map(|(k, _)| k.clone())
        {
            store.entries.remove(&oldest);
        }
        id
    }

    /// Takes a proposal out: a plan is applied (or refused as stale) once.
    pub(super) fn take(&self, id: &str) -> Option<Entry> {
        let mut store = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        store.entries.remove(id).map(|(_, e)| e)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
