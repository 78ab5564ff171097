//! What one invocation works with, resolved once from the flags, the environment and the config
//! file: where the facts come from, which namespaces, how much to read, how to print, how far a
//! plan may go, and how to reach the LLM. Precedence is decided here and nowhere else: flags, then
//! `KUBECTL_AI_*`/`OPENAI_*` variables (clap reads the flags' own variables), then the config
//! file, then defaults. Nothing below this module reads the command line or the process
//! environment: what the engine needs of either arrives as typed settings from here.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{Cli, Global, LlmArgs, PlanArgs};
use crate::cluster::{self, Limits, ScopeRequest, Source, kubeconfig, live};
use crate::config::{self, FileConfig, LlmFlags, LlmSettings};
use crate::context::{Context, Scope};
use crate::error::Error;
use crate::plan::{self, history};
use crate::render::Output;
use crate::target::Target;
use crate::ui::{self, Palette};

/// One invocation's settings.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) source: Source,
    pub(crate) scope: ScopeRequest,
    pub(crate) limits: Limits,
    pub(crate) output: Output,
    /// Colour for stdout (`--no-color`, NO_COLOR, and whether stdout is a terminal).
    pub(crate) palette: Palette,
    /// `--request-timeout` as given (zero: wait forever).
    pub(crate) request_timeout: Duration,
    pub(crate) plan: PlanSettings,
    pub(crate) llm: LlmOptions,
    /// `--prometheus` and its token and CA; resolved against env and file by
    /// [`Session::prometheus_settings`].
    pub(crate) prometheus: crate::prometheus::PrometheusArgs,
    /// Where applied plans are recorded, for `history` and `undo`.
    pub(crate) history: history::Store,
    /// Where the cluster's OpenAPI schemas are cached; `None` without a home directory.
    pub(crate) schema_cache: Option<PathBuf>,
}

/// How far a plan may go on its own (the flags every plan-producing command shares).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanSettings {
    pub(crate) yes: bool,
    pub(crate) dry_run: bool,
    pub(crate) allow_delete: bool,
    /// How long to wait for rollouts after applying; zero skips the wait.
    pub(crate) timeout: Duration,
}

/// How a conversation with the model goes; the endpoint itself is [`Session::llm_settings`].
#[derive(Debug, Clone)]
pub(crate) struct LlmOptions {
    flags: LlmFlags,
    /// Follow-up rounds with read-only tools; 0 offers none.
    pub(crate) max_steps: usize,
    pub(crate) no_stream: bool,
    pub(crate) show_prompt: bool,
    /// `OPENAI_API_KEY` as the environment gives it (not empty): what `deploy` hands the app's
    /// backend, whatever endpoint kubectl-ai itself talks to.
    pub(crate) env_api_key: Option<String>,
}

impl Session {
    pub(crate) fn new(cli: &Cli) -> Session {
        Session {
            source: source(&cli.global),
            scope: ScopeRequest {
                namespace: cli.global.namespace.clone(),
                all_namespaces: cli.global.all_namespaces,
            },
            limits: limits(&cli.global),
            output: cli.global.output,
            palette: Palette::for_stdout(cli.global.no_color || no_color_env()),
            request_timeout: cli.global.request_timeout,
            plan: plan_settings(&cli.plan),
            llm: llm_options(&cli.llm),
            prometheus: cli.global.prometheus.clone(),
            history: history::Store::new(state_dir().join("history")),
            schema_cache: schema_cache(),
        }
    }

    pub(crate) fn is_live(&self) -> bool {
        matches!(self.source, Source::Live(_))
    }

    /// Reads the cluster (or snapshot) the session points at.
    pub(crate) async fn collect(&self) -> Result<Context, Error> {
        self.collect_for(None).await
    }

    /// Reads the cluster for a diagnosis of `target`, whose pods have all their logs read.
    pub(crate) async fn collect_for(&self, target: Option<Target>) -> Result<Context, Error> {
        let mut limits = self.limits.clone();
        limits.tail.reach.target = target;
        // Only a live cluster makes anyone wait; a snapshot reads in milliseconds.
        let _spinner = self
            .is_live()
            .then(|| ui::Spinner::start("Reading the cluster…".into()));
        cluster::collect(&self.source, &self.scope, limits).await
    }

    /// The live cluster and the scope asked for; plans need one, snapshots cannot change.
    /// `what` names the operation in the error a snapshot gets.
    pub(crate) async fn live_cluster(
        &self,
        what: &'static str,
    ) -> Result<(live::Cluster, Scope), Error> {
        let Source::Live(opts) = &self.source else {
            return Err(Error::NeedsLive(what));
        };
        let cluster = live::Cluster::connect(opts).await?;
        let scope = if self.scope.all_namespaces {
            Scope::AllNamespaces
        } else {
            Scope::Namespace(
                self.scope
                    .namespace
                    .clone()
                    .unwrap_or_else(|| cluster.default_namespace.clone()),
            )
        };
        Ok((cluster, scope))
    }

    /// The plan pipeline's options for this invocation.
    pub(crate) fn plan_options(&self) -> plan::execute::Options {
        plan::execute::Options {
            yes: self.plan.yes,
            dry_run: self.plan.dry_run,
            output: self.output,
            palette: self.palette.clone(),
            wait: self.plan.timeout,
            delete_data: false,
            allow_delete: self.plan.allow_delete,
            history: self.history.clone(),
        }
    }

    /// The effective LLM settings: flags over environment over config file over defaults. Read
    /// only by the commands that talk to a model, so a broken config file stops only them.
    pub(crate) fn llm_settings(&self) -> Result<LlmSettings, Error> {
        let file = self.config_file()?;
        Ok(config::resolve(&self.llm.flags, file, &env))
    }

    /// Where Prometheus is and how to reach it: flags over environment over config file.
    pub(crate) fn prometheus_settings(
        &self,
    ) -> Result<crate::prometheus::settings::Settings, Error> {
        let file = self.config_file()?;
        crate::prometheus::settings::resolve(&self.prometheus, file.prometheus, &env)
    }

    /// The config file (`$KUBECTL_AI_CONFIG`, else the XDG path); empty when there is none.
    pub(crate) fn config_file(&self) -> Result<FileConfig, Error> {
        config::load(&env)
    }
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// A path-valued variable, set and not empty.
fn env_path(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$KUBECTL_AI_STATE_DIR`, else `$XDG_STATE_HOME/kubectl-ai`, else `~/.local/state/kubectl-ai`,
/// else `.kubectl-ai`.
fn state_dir() -> PathBuf {
    env_path("KUBECTL_AI_STATE_DIR")
        .or_else(|| env_path("XDG_STATE_HOME").map(|p| p.join("kubectl-ai")))
        .or_else(|| env_path("HOME").map(|h| h.join(".local/state/kubectl-ai")))
        .unwrap_or_else(|| PathBuf::from(".kubectl-ai"))
}

/// `$XDG_CACHE_HOME/kubectl-ai/openapi`, else `~/.cache/kubectl-ai/openapi`.
fn schema_cache() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("kubectl-ai").join("openapi"))
}

/// What kubectl reads to find a cluster, as kubectl reads it.
fn cluster_env() -> kubeconfig::Environment {
    let text = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    kubeconfig::Environment {
        kubeconfig: std::env::var_os("KUBECONFIG")
            .map(|v| {
                std::env::split_paths(&v)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        home: std::env::var_os("HOME").map(PathBuf::from),
        in_cluster: std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
        https_proxy: text("HTTPS_PROXY").or_else(|| text("https_proxy")),
        no_proxy: text("NO_PROXY").or_else(|| text("no_proxy")),
    }
}

/// https://no-color.org: set and not empty.
fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

fn source(global: &Global) -> Source {
    if global.demo {
        Source::Snapshot(cluster::snapshot::Root::Demo)
    } else if let Some(dir) = &global.snapshot {
        Source::Snapshot(cluster::snapshot::Root::Dir(dir.clone()))
    } else {
        Source::Live(live::ConnectOptions {
            kubeconfig: global.kubeconfig.clone(),
            context: global.context.clone(),
            request_timeout: (!global.request_timeout.is_zero()).then_some(global.request_timeout),
            env: cluster_env(),
        })
    }
}

fn limits(global: &Global) -> Limits {
    Limits {
        chunk_size: global.chunk_size,
        tail: cluster::logs::Tail {
            reach: cluster::logs::Reach {
                all: global.logs,
                namespace_pods: global.log_pods,
                target: None,
            },
            ..Default::default()
        },
    }
}

fn plan_settings(args: &PlanArgs) -> PlanSettings {
    PlanSettings {
        yes: args.yes,
        dry_run: args.dry_run,
        allow_delete: args.allow_delete,
        timeout: args.timeout,
    }
}

fn llm_options(args: &LlmArgs) -> LlmOptions {
    LlmOptions {
        flags: LlmFlags {
            model: args.model.clone(),
            max_context_tokens: args.max_context_tokens,
            prompt_dir: args.prompt_dir.clone(),
        },
        max_steps: args.max_steps,
        no_stream: args.no_stream,
        show_prompt: args.show_prompt,
        env_api_key: std::env::var("OPENAI_API_KEY")
            .ok()
            .filter(|k| !k.is_empty()),
    }
}
