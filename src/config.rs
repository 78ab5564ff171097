//! LLM settings, from lowest to highest precedence: defaults, the config file, the environment,
//! flags. Cluster access is kubectl's business (kubeconfig) and is not repeated here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::Error;

/// The model used when nothing names one.
pub(crate) const DEFAULT_MODEL: &str = "gpt-4o-mini";
/// Prompt tokens allowed by default: room for the evidence of a badly broken namespace, and far
/// below every current model's context window.
pub const DEFAULT_MAX_CONTEXT_TOKENS: usize = 8000;

/// `~/.config/kubectl-ai/config.yaml`, every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FileConfig {
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_key: Option<String>,
    pub azure: Option<AzureFile>,
    pub max_context_tokens: Option<usize>,
    pub prompt_dir: Option<PathBuf>,
    pub timeout_seconds: Option<u64>,
    pub recommend: Option<RecommendFile>,
    pub prometheus: Option<crate::prometheus::PrometheusFile>,
}

/// The `recommend:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RecommendFile {
    /// Rules to skip: `RULE` everywhere, `RULE@KIND/NAME` on one object.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// Rules to run that are off by default (`cpu-limit-missing`).
    #[serde(default)]
    pub enable: Vec<String>,
    /// Rules not to run at all.
    #[serde(default)]
    pub disable: Vec<String>,
    /// A severity per rule, overriding the table: `image-latest: error`.
    #[serde(default)]
    pub severity: std::collections::BTreeMap<String, String>,
}

/// The config file the environment points at, or an empty one when there is none.
pub(crate) fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<FileConfig, Error> {
    match config_path(env) {
        Some(path) => read_file(&path),
        None => Ok(FileConfig::default()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AzureFile {
    pub endpoint: Option<String>,
    pub deployment: Option<String>,
    pub api_version: Option<String>,
    pub api_key: Option<String>,
}

/// Which endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Provider {
    /// No LLM configured: answers come from the analyzers alone.
    None,
    /// OpenAI or any server speaking its API (Ollama, vLLM, LM Studio, LiteLLM).
    OpenAi {
        base_url: String,
        api_key: Option<String>,
    },
    Azure {
        endpoint: String,
        deployment: String,
        api_version: String,
        api_key: String,
    },
}

impl Provider {
    /// Where requests go, for messages (never the key).
    pub(crate) fn endpoint(&self) -> String {
        match self {
            Provider::None => "none".into(),
            Provider::OpenAi { base_url, .. } => base_url.clone(),
            Provider::Azure {
                endpoint,
                deployment,
                ..
            } => format!("{endpoint} (Azure deployment {deployment})"),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct LlmSettings {
    pub provider: Provider,
    pub model: String,
    pub max_context_tokens: usize,
    pub prompt_dir: Option<PathBuf>,
    pub timeout: Duration,
}

/// What flags said; `None` defers to the environment, the file, then defaults.
#[derive(Debug, Default, Clone)]
pub(crate) struct LlmFlags {
    pub model: Option<String>,
    pub max_context_tokens: Option<usize>,
    pub prompt_dir: Option<PathBuf>,
}

/// `$KUBECTL_AI_CONFIG`, else `$XDG_CONFIG_HOME/kubectl-ai/config.yaml`, else
/// `~/.config/kubectl-ai/config.yaml`.
pub(crate) fn config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(p) = env("KUBECTL_AI_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let base = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("kubectl-ai").join("config.yaml"))
}

pub(crate) fn read_file(path: &Path) -> Result<FileConfig, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_saphyr::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            detail: e.to_string().lines().next().unwrap_or_default().to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileConfig::default()),
        Err(e) => Err(Error::Config {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }),
    }
}

/// Resolves the settings; `env` is injectable so precedence is unit-tested without touching the
/// process environment.
pub(crate) fn resolve(
    flags: &LlmFlags,
    file: FileConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> LlmSettings {
    let nonempty = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let azure = file.azure.unwrap_or_default();
    let azure_endpoint = nonempty("AZURE_OPENAI_ENDPOINT").or(azure.endpoint);
    let provider = if let Some(endpoint) = azure_endpoint {
        Provider::Azure {
            endpoint,
            deployment: nonempty("AZURE_OPENAI_DEPLOYMENT")
                .or(azure.deployment)
                .unwrap_or_default(),
            api_version: nonempty("OPENAI_API_VERSION")
                .or(azure.api_version)
                .unwrap_or_else(|| "2024-10-21".into()),
            api_key: nonempty("AZURE_OPENAI_API_KEY")
                .or(azure.api_key)
                .unwrap_or_default(),
        }
    } else {
        let api_key = nonempty("OPENAI_API_KEY").or(file.api_key);
        let base_url = nonempty("OPENAI_BASE_URL").or(file.base_url);
        match (base_url, api_key) {
            (None, None) => Provider::None,
            (base, key) => Provider::OpenAi {
                base_url: base.unwrap_or_else(|| "https://api.openai.com/v1".into()),
                api_key: key,
            },
        }
    };
    LlmSettings {
        provider,
        model: flags
            .model
            .clone()
            .or_else(|| nonempty("KUBECTL_AI_MODEL"))
            .or(file.model)
            .unwrap_or_else(|| DEFAULT_MODEL.into()),
        max_context_tokens: flags
            .max_context_tokens
            .or(file.max_context_tokens)
            .unwrap_or(DEFAULT_MAX_CONTEXT_TOKENS),
        prompt_dir: flags.prompt_dir.clone().or(file.prompt_dir),
        timeout: Duration::from_secs(
            nonempty("KUBECTL_AI_LLM_TIMEOUT")
                .and_then(|v| v.parse().ok())
                .or(file.timeout_seconds)
                .unwrap_or(120),
        ),
    }
}

/// `sk-proj-abcd...wxyz` -> `sk-p…wxyz`: enough to tell keys apart, not enough to use one.
pub(crate) fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "****".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let file = || FileConfig {
            model: Some("from-file".into()),
            max_context_tokens: Some(3000),
            base_url: Some("http://file:11434/v1".into()),
            ..Default::default()
        };
        let s = resolve(&LlmFlags::default(), FileConfig::default(), &env(&[]));
        assert_eq!(s.provider, Provider::None);
        assert_eq!(s.model, DEFAULT_MODEL);
        assert_eq!(s.max_context_tokens, DEFAULT_MAX_CONTEXT_TOKENS);

        let s = resolve(&LlmFlags::default(), file(), &env(&[]));
        assert_eq!(s.model, "from-file");
        assert_eq!(
            s.provider,
            Provider::OpenAi {
                base_url: "http://file:11434/v1".into(),
                api_key: None
            }
        );

        let e = env(&[
            ("KUBECTL_AI_MODEL", "from-env"),
            ("OPENAI_BASE_URL", "http://env/v1"),
            ("OPENAI_API_KEY", "sk-env"),
        ]);
        let s = resolve(&LlmFlags::default(), file(), &e);
        assert_eq!(s.model, "from-env");
        assert_eq!(
            s.provider,
            Provider::OpenAi {
                base_url: "http://env/v1".into(),
                api_key: Some("sk-env".into())
            }
        );

        let flags = LlmFlags {
            model: Some("from-flag".into()),
            max_context_tokens: Some(500),
            prompt_dir: None,
        };
        let s = resolve(&flags, file(), &e);
        assert_eq!((s.model.as_str(), s.max_context_tokens), ("from-flag", 500));
    }

    #[test]
    fn azure_wins_when_its_endpoint_is_set_and_keys_are_masked() {
        let e = env(&[
            ("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com"),
            ("AZURE_OPENAI_DEPLOYMENT", "gpt4o"),
            ("AZURE_OPENAI_API_KEY", "az-key"),
            ("OPENAI_API_KEY", "sk-ignored"),
        ]);
        let s = resolve(&LlmFlags::default(), FileConfig::default(), &e);
        assert!(
            matches!(s.provider, Provider::Azure { ref deployment, .. } if deployment == "gpt4o")
        );
        assert_eq!(mask("sk-proj-1234567890abcd"), "sk-p…abcd");
        assert_eq!(mask("short"), "****");
    }

    #[test]
    fn config_file_location_follows_xdg() {
        let p = config_path(&env(&[("HOME", "/home/u")])).unwrap();
        assert_eq!(p, PathBuf::from("/home/u/.config/kubectl-ai/config.yaml"));
        let p = config_path(&env(&[("HOME", "/home/u"), ("XDG_CONFIG_HOME", "/xdg")])).unwrap();
        assert_eq!(p, PathBuf::from("/xdg/kubectl-ai/config.yaml"));
    }
}
