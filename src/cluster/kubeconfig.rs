//! Finding the kubeconfig as kubectl does: `--kubeconfig`, else the files `KUBECONFIG` lists
//! (merged, first wins, missing ones skipped), else `~/.kube/config`.

use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;

use super::live::one_line;
use crate::error::Error;

/// The kubeconfig to use; `None` when there is none (the caller may then try in-cluster).
pub(crate) fn load(explicit: Option<&Path>) -> Result<Option<Kubeconfig>, Error> {
    if let Some(path) = explicit {
        return read(path).map(Some);
    }
    if let Some(value) = std::env::var_os("KUBECONFIG") {
        let listed: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !listed.is_empty() {
            return merged(&listed).map(Some);
        }
    }
    home().map(|path| read(&path)).transpose()
}

fn read(path: &Path) -> Result<Kubeconfig, Error> {
    Kubeconfig::read_from(path).map_err(|e| Error::Kubeconfig(one_line(&e)))
}

/// The files of a `KUBECONFIG` list merged in order. kubectl skips the ones that do not exist
/// (a list shared between machines often names one that is absent here), so do we; a list of
/// nothing but missing files is an error rather than a silent fall back to another config.
fn merged(listed: &[PathBuf]) -> Result<Kubeconfig, Error> {
    let present: Vec<&PathBuf> = listed.iter().filter(|p| p.exists()).collect();
    for missing in listed.iter().filter(|p| !p.exists()) {
        tracing::debug!(path = %missing.display(), "KUBECONFIG entry does not exist; skipped");
    }
    if present.is_empty() {
        let names: Vec<String> = listed.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Kubeconfig(format!(
            "none of the files KUBECONFIG lists exists ({})",
            names.join(", ")
        )));
    }
    present
        .into_iter()
        .try_fold(Kubeconfig::default(), |acc, path| {
            acc.merge(read(path)?)
                .map_err(|e| Error::Kubeconfig(format!("{}: {}", path.display(), one_line(&e))))
        })
}

fn home() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let path = PathBuf::from(home).join(".kube").join("config");
    path.is_file().then_some(path)
}
