//! `kubectl ai config` (alias `doctor`): the effective LLM settings, where each came from, and
//! whether the endpoint answers. The key is never printed, only a masked form.

use std::io::Write;
use std::time::Duration;

use async_openai::Client;
use serde_json::json;

use crate::config::{self, LlmSettings, Provider};
use crate::error::exit;
use crate::render::Output;
use crate::session::Session;

/// How long the endpoint check waits: it is a ping, not a question.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn run(session: &Session, check: bool, out: &mut dyn Write) -> anyhow::Result<u8> {
    let output = session.output;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let path = config::config_path(&env);
    let file_found = path.as_ref().is_some_and(|p| p.is_file());
    let settings = session.llm_settings()?;
    let (kind, key, key_source) = match &settings.provider {
        Provider::None => ("none", None, None),
        Provider::OpenAi { api_key, .. } => (
            "openai-compatible",
            api_key.as_deref().map(config::mask),
            Some(if env("OPENAI_API_KEY").is_some() {
                "OPENAI_API_KEY"
            } else if api_key.is_some() {
                "config file"
            } else {
                "none (not needed by local servers)"
            }),
        ),
        Provider::Azure { api_key, .. } => (
            "azure",
            Some(config::mask(api_key)),
            Some(if env("AZURE_OPENAI_API_KEY").is_some() {
                "AZURE_OPENAI_API_KEY"
            } else {
                "config file"
            }),
        ),
    };
    let status = if check && settings.provider != Provider::None {
        Some(check_endpoint(&settings).await)
    } else {
        None
    };
    let doc = json!({
        "configFile": path.as_ref().map(|p| p.display().to_string()),
        "configFileFound": file_found,
        "provider": kind,
        "endpoint": settings.provider.endpoint(),
        "apiKey": key,
        "apiKeySource": key_source,
        "model": settings.model,
        "maxContextTokens": settings.max_context_tokens,
        "promptDir": settings.prompt_dir.as_ref().map(|p| p.display().to_string()),
        "timeoutSeconds": settings.timeout.as_secs(),
        "check": status.as_ref().map(|s| json!({"ok": s.is_ok(), "message": match s { Ok(m) | Err(m) => m }})),
    });
    match output {
        // Only `recommend` writes SARIF and annotations; `run` refuses them elsewhere.
        Output::Json | Output::Sarif | Output::Github => {
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?
        }
        Output::Yaml => out.write_all(serde_saphyr::to_string(&doc)?.as_bytes())?,
        Output::Text => {
            let file = match (&path, file_found) {
                (Some(p), true) => p.display().to_string(),
                (Some(p), false) => format!("{} (not found; defaults apply)", p.display()),
                (None, _) => "(no home directory)".into(),
            };
            writeln!(out, "config file:   {file}")?;
            writeln!(out, "provider:      {kind}")?;
            if settings.provider == Provider::None {
                writeln!(
                    out,
                    "               no LLM configured: set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server (Ollama: http://localhost:11434/v1)"
                )?;
            } else {
                writeln!(out, "endpoint:      {}", settings.provider.endpoint())?;
                writeln!(
                    out,
                    "api key:       {} (from {})",
                    key.as_deref().unwrap_or("none"),
                    key_source.unwrap_or("-")
                )?;
            }
            writeln!(out, "model:         {}", settings.model)?;
            writeln!(out, "max context:   {} tokens", settings.max_context_tokens)?;
            writeln!(
                out,
                "prompts:       {}",
                settings
                    .prompt_dir
                    .as_ref()
                    .map_or("built-in".into(), |p| p.display().to_string())
            )?;
            writeln!(out, "timeout:       {}s", settings.timeout.as_secs())?;
            match &status {
                Some(Ok(m)) => writeln!(out, "check:         ok: {m}")?,
                Some(Err(m)) => writeln!(out, "check:         FAILED: {m}")?,
                None => {}
            }
        }
    }
    Ok(match status {
        Some(Err(_)) => exit::LLM_FAILED,
        _ => exit::OK,
    })
}

/// Lists the endpoint's models: proves it is reachable, the key is accepted, and says whether the
/// configured model is among them.
async fn check_endpoint(settings: &LlmSettings) -> Result<String, String> {
    crate::llm::install_crypto();
    let listed = match &settings.provider {
        Provider::OpenAi { .. } => {
            let client = Client::with_config(crate::llm::openai_config(&settings.provider));
            tokio::time::timeout(CHECK_TIMEOUT, client.models().list()).await
        }
        Provider::Azure { .. } => {
            let client = Client::with_config(crate::llm::azure_config(&settings.provider));
            tokio::time::timeout(CHECK_TIMEOUT, client.models().list()).await
        }
        Provider::None => return Err("no LLM configured".into()),
    };
    let models = match listed {
        Err(_) => return Err(format!("no answer within {}s", CHECK_TIMEOUT.as_secs())),
        Ok(Err(e)) => return Err(crate::llm::describe_error(e, settings)),
        Ok(Ok(list)) => list.data,
    };
    if models.iter().any(|m| m.id == settings.model) {
        Ok(format!(
            "the endpoint answered and serves model {} ({} models)",
            settings.model,
            models.len()
        ))
    } else {
        Ok(format!(
            "the endpoint answered, but does not list model {} ({} models; choose one with --model)",
            settings.model,
            models.len()
        ))
    }
}
