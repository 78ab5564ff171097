//! Finding the kubeconfig as kubectl does: `--kubeconfig`, else the files `KUBECONFIG` lists
//! (merged, first wins, missing ones skipped), else `~/.kube/config`.

use std::path::{Path, PathBuf};

use kube::config::Kubeconfig;

use super::live::one_line;
use crate::error::Error;

/// What of the environment finding a cluster depends on, read once by the Session so that
/// nothing here reads the process environment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Environment {
    /// The files `KUBECONFIG` lists, empty entries dropped; empty when it is unset.
    pub(crate) kubeconfig: Vec<PathBuf>,
    /// `$HOME`, where `~/.kube/config` is.
    pub(crate) home: Option<PathBuf>,
    /// `KUBERNETES_SERVICE_HOST` is set: in a pod, where the service account is worth trying.
    pub(crate) in_cluster: bool,
    /// `HTTPS_PROXY`, else `https_proxy` (not empty).
    pub(crate) https_proxy: Option<String>,
    /// `NO_PROXY`, else `no_proxy` (not empty).
    pub(crate) no_proxy: Option<String>,
}

/// The kubeconfig to use; `None` when there is none (the caller may then try in-cluster).
pub(crate) fn load(
    explicit: Option<&Path>,
    env: &Environment,
) -> Result<Option<Kubeconfig>, Error> {
    if let Some(path) = explicit {
        return read(path).map(Some);
    }
    if !env.kubeconfig.is_empty() {
        return merged(&env.kubeconfig).map(Some);
    }
    home(env).map(|path| read(&path)).transpose()
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

fn home(env: &Environment) -> Option<PathBuf> {
    let path = env.home.as_ref()?.join(".kube").join("config");
    path.is_file().then_some(path)
}

/// Whether the proxy kube took from `HTTPS_PROXY` must be skipped for this cluster because
/// `NO_PROXY` names its server. kubectl (Go's net/http) matches `NO_PROXY` against the server's
/// host, kube against the proxy's own address, so without this a `NO_PROXY` that exempts the
/// cluster would still send it through the proxy. A `proxy-url` in the kubeconfig always holds.
pub(crate) fn env_proxy_skipped(config: &kube::Config, env: &Environment) -> bool {
    let Some(proxy) = &config.proxy_url else {
        return false;
    };
    let from_env = env
        .https_proxy
        .as_ref()
        .and_then(|p| p.parse::<http::Uri>().ok())
        .is_some_and(|p| p == *proxy);
    from_env
        && env
            .no_proxy
            .as_ref()
            .is_some_and(|list| exempts(list, &config.cluster_url))
}

/// Go's `NO_PROXY` rules: `*`; an IP address or CIDR block; a host or domain (`example.com`
/// covers its subdomains, as `.example.com` does), each with an optional `:port`.
fn exempts(no_proxy: &str, server: &http::Uri) -> bool {
    let Some(host) = server.host() else {
        return false;
    };
    let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
    let port = server
        .port_u16()
        .unwrap_or(if server.scheme_str() == Some("http") {
            80
        } else {
            443
        });
    let ip = host.parse::<std::net::IpAddr>().ok();
    no_proxy.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        if let (Some(ip), Ok(net)) = (ip, entry.parse::<ipnet::IpNet>()) {
            return net.contains(&ip);
        }
        let (name, wanted) = split_port(entry);
        let name = name.trim_start_matches('.').to_ascii_lowercase();
        !name.is_empty()
            && wanted.is_none_or(|p| p == port)
            && (host == name || host.ends_with(&format!(".{name}")))
    })
}

/// `host:port`, `[v6]:port` or a bare host.
fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        return match rest.split_once("]:") {
            Some((host, port)) => (host, port.parse().ok()),
            None => (rest.trim_end_matches(']'), None),
        };
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().ok()),
        _ => (entry, None),
    }
}

#[cfg(test)]
mod tests {
    use super::exempts;

    #[test]
    fn no_proxy_follows_gos_rules() {
        let server = |s: &str| s.parse::<http::Uri>().unwrap();
        let api = server("https://api.prod.example.com:6443");
        assert!(exempts("example.com", &api));
        assert!(exempts(" .example.com ,other", &api));
        assert!(exempts("api.prod.example.com:6443", &api));
        assert!(exempts("*", &api));
        assert!(!exempts("api.prod.example.com:443", &api));
        assert!(!exempts("ample.com,prod", &api));
        assert!(!exempts("", &api));
        let ip = server("https://10.1.2.3:6443");
        assert!(exempts("192.168.0.0/16,10.0.0.0/8", &ip));
        assert!(exempts("10.1.2.3", &ip));
        assert!(!exempts("10.1.2.4,172.16.0.0/12", &ip));
        assert!(exempts("[::1]:8080", &server("http://[::1]:8080")));
    }
}
