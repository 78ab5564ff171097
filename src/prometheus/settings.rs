//! Where Prometheus is and how to authenticate to it: flags, then the environment, then the config
//! file's `prometheus:` section, then discovery in the cluster.

use std::path::PathBuf;

use clap::Args;
use reqwest::Url;
use serde::Deserialize;

use crate::error::Error;

/// The Prometheus flags every command accepts.
#[derive(Debug, Clone, Default, Args)]
pub struct PrometheusArgs {
    /// Prometheus for usage history: its URL, `auto` (find kube-prometheus-stack, the
    /// prometheus-operator's or the prometheus chart's Service through the API server; the
    /// default), or `off`
    #[arg(
        long,
        global = true,
        env = "KUBECTL_AI_PROMETHEUS",
        value_name = "URL|auto|off"
    )]
    pub prometheus: Option<String>,

    /// File holding a bearer token for a secured Prometheus (or the token itself in
    /// KUBECTL_AI_PROMETHEUS_TOKEN)
    #[arg(
        long,
        global = true,
        env = "KUBECTL_AI_PROMETHEUS_TOKEN_FILE",
        value_name = "PATH"
    )]
    pub prometheus_token_file: Option<PathBuf>,

    /// PEM file of the CA that signs the Prometheus server's certificate
    #[arg(
        long,
        global = true,
        env = "KUBECTL_AI_PROMETHEUS_CA",
        value_name = "PATH"
    )]
    pub prometheus_ca: Option<PathBuf>,
}

/// The config file's `prometheus:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PrometheusFile {
    /// A URL, `auto` or `off`, as `--prometheus`.
    pub url: Option<String>,
    pub token_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
}

/// Where to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    Off,
    Auto,
    Url(Url),
}

/// The resolved settings; the token is read, never printed.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) location: Location,
    pub(crate) token: Option<String>,
    pub(crate) ca_pem: Option<Vec<u8>>,
}

/// Flags (clap already folded in their environment variables) beat the config file.
pub(crate) fn resolve(
    args: &PrometheusArgs,
    file: Option<PrometheusFile>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, Error> {
    let file = file.unwrap_or_default();
    let location = match args.prometheus.clone().or(file.url) {
        None => Location::Auto,
        Some(s) => location(&s)?,
    };
    let token = match args.prometheus_token_file.clone().or(file.token_file) {
        Some(path) => Some(read(&path, "--prometheus-token-file")?.trim().to_string()),
        None => env("KUBECTL_AI_PROMETHEUS_TOKEN").map(|t| t.trim().to_string()),
    }
    .filter(|t| !t.is_empty());
    let ca_pem = match args.prometheus_ca.clone().or(file.ca_file) {
        Some(path) => Some(read(&path, "--prometheus-ca")?.into_bytes()),
        None => None,
    };
    Ok(Settings {
        location,
        token,
        ca_pem,
    })
}

fn location(s: &str) -> Result<Location, Error> {
    match s.trim() {
        "" | "auto" => Ok(Location::Auto),
        "off" | "none" => Ok(Location::Off),
        url => {
            let parsed = Url::parse(url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--prometheus {url:?} is not a URL (try http://prometheus.monitoring:9090), `auto` or `off`"
                    ))
                })?;
            Ok(Location::Url(parsed))
        }
    }
}

fn read(path: &std::path::Path, flag: &str) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("{flag} {}: cannot read it ({e})", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_flag_beats_the_file_and_auto_is_the_default() {
        let file = || PrometheusFile {
            url: Some("http://from-file:9090".into()),
            ..Default::default()
        };
        let s = resolve(&PrometheusArgs::default(), None, &no_env).unwrap();
        assert_eq!(s.location, Location::Auto);
        let s = resolve(&PrometheusArgs::default(), Some(file()), &no_env).unwrap();
        assert_eq!(
            s.location,
            Location::Url(Url::parse("http://from-file:9090").unwrap())
        );
        let args = PrometheusArgs {
            prometheus: Some("off".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(&args, Some(file()), &no_env).unwrap().location,
            Location::Off
        );
    }

    #[test]
    fn a_bad_url_is_a_usage_error_and_the_token_comes_from_the_environment() {
        let args = PrometheusArgs {
            prometheus: Some("prometheus:9090".into()),
            ..Default::default()
        };
        let e = resolve(&args, None, &no_env).unwrap_err();
        assert!(e.to_string().contains("is not a URL"), "{e}");
        let env = |k: &str| (k == "KUBECTL_AI_PROMETHEUS_TOKEN").then(|| " t0ken\n".to_string());
        let s = resolve(&PrometheusArgs::default(), None, &env).unwrap();
        assert_eq!(s.token.as_deref(), Some("t0ken"));
    }
}
