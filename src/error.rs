//! Errors a user can cause or meet, each with the one line that tells them what to do, and the
//! exit codes the binary documents.

use std::path::PathBuf;

/// Exit codes, documented in `--help` and README. Scripts may rely on them.
pub mod exit {
    /// Success; with `--exit-code`, also "no problems found".
    pub const OK: u8 = 0;
    /// Any error: unreachable cluster, bad kubeconfig, unreadable snapshot, unknown target.
    pub const ERROR: u8 = 1;
    /// The command line itself was wrong (clap's own code).
    pub const USAGE: u8 = 2;
    /// `--exit-code` was given and at least one warning- or error-level finding was reported.
    pub const PROBLEMS_FOUND: u8 = 3;
    /// The LLM could not answer: unreachable, timed out, key rejected, unknown model,
    /// rate-limited past retries, or a malformed reply.
    pub const LLM_FAILED: u8 = 4;
    /// A plan was not applied: refused by policy or RBAC, rejected by the server's dry run,
    /// declined, no terminal to ask on and no `--yes`, or destruction the model proposed
    /// without `--allow-delete`.
    pub const NOT_APPLIED: u8 = 5;
    /// Interrupted by Ctrl-C.
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No kubeconfig anywhere and not running inside a pod.
    #[error(
        "no cluster configured: no kubeconfig found (KUBECONFIG unset, ~/.kube/config missing) and not running in a pod; pass --kubeconfig, or diagnose a dump with --snapshot DIR (or try --demo)"
    )]
    NoKubeconfig,
    /// The kubeconfig exists but cannot be used.
    #[error("invalid kubeconfig: {0}")]
    Kubeconfig(String),
    /// `--context` names a context the kubeconfig does not have.
    #[error("context {0:?} not found in kubeconfig (list them with `kubectl config get-contexts`)")]
    UnknownContext(String),
    /// The API server could not be reached at all.
    #[error("cannot reach the cluster at {server}: {detail}")]
    Unreachable { server: String, detail: String },
    /// The API server rejected the credentials.
    #[error(
        "the cluster at {server} rejected the credentials (401 Unauthorized); refresh them (e.g. your cloud's get-credentials) and retry"
    )]
    Unauthorized { server: String },
    /// RBAC forbids something diagnosis cannot do without (listing pods).
    #[error(
        "not allowed to list {resource}: {message} (ask for `get`/`list` on {resource}, or use a namespace you can read with -n)"
    )]
    Forbidden { resource: String, message: String },
    /// Any other API error status.
    #[error("listing {resource} failed ({code}): {message}")]
    Api {
        resource: String,
        code: u16,
        message: String,
    },
    /// A single object (or document) could not be read.
    #[error("reading {target} failed: {detail}")]
    Read { target: String, detail: String },
    /// A snapshot directory or one of its files is unusable.
    #[error("snapshot {}: {detail}", path.display())]
    Snapshot { path: PathBuf, detail: String },
    /// The TARGET argument does not parse.
    #[error(
        "invalid target {0:?}: use KIND/NAME (deployment/web, pod/web-1, svc/web) or a bare NAME"
    )]
    InvalidTarget(String),
    /// The TARGET names nothing in scope.
    #[error("{target} not found in {scope}")]
    TargetNotFound { target: String, scope: String },
    /// The config file exists but cannot be used.
    #[error("config file {}: {detail}", path.display())]
    Config { path: PathBuf, detail: String },
    /// The prompt budget cannot hold even the question and instructions.
    #[error(
        "--max-context-tokens {budget} is too small: the instructions and question alone take {needed} tokens"
    )]
    BudgetTooSmall { budget: usize, needed: usize },
    /// A prompt directory lacks a file or cannot be read.
    #[error("prompt {}: {detail}", path.display())]
    Prompt { path: PathBuf, detail: String },
    /// Policy refuses the plan.
    #[error("refused: {0}")]
    PlanRefused(String),
    /// RBAC does not allow an action.
    #[error("not allowed to {verb} {target}: {reason}; nothing was changed")]
    NotPermitted {
        verb: String,
        target: String,
        reason: String,
    },
    /// The server's dry run rejected an object.
    #[error("the API server rejected {target} in a dry run: {detail}; nothing was changed")]
    DryRunRejected { target: String, detail: String },
    /// Consent is needed and cannot be asked for.
    #[error(
        "refusing to change the cluster without consent: there is no terminal to ask on; re-run with --yes to apply, or --dry-run to see the plan"
    )]
    NoConsent,
    /// The model proposed destruction and nothing consented to it but `--yes`.
    #[error(
        "not applied: the model proposed {0}; deleting or scaling to zero on the model's proposal needs its own consent: re-run with --allow-delete, or on a terminal type the object's name when asked (--yes alone does not consent to it); nothing was changed"
    )]
    DestructionNotConsented(String),
    /// Applying stopped part way.
    #[error("applied {applied} of {total} change(s), then stopped: {detail}{undo}")]
    ApplyFailed {
        applied: usize,
        total: usize,
        detail: String,
        undo: String,
    },
    /// A rollout did not finish in time.
    #[error(
        "{target} did not finish rolling out within {seconds}s; see `kubectl rollout status`, or undo with `kubectl ai undo {id}`"
    )]
    RolloutTimeout {
        target: String,
        seconds: u64,
        id: String,
    },
    /// The history directory or a record cannot be used.
    #[error("history {}: {detail}", path.display())]
    History { path: PathBuf, detail: String },
    /// Nothing matches in the history.
    #[error("{0}")]
    NoHistory(String),
    /// The model's proposal did not parse.
    #[error("{0}; nothing was applied")]
    InvalidProposal(String),
    /// The command needs a live cluster.
    #[error("{0} needs a live cluster; a snapshot cannot be changed")]
    NeedsLive(&'static str),
    /// A manifest file (or stdin) cannot be read or is not Kubernetes YAML.
    #[error("{path}: {detail}")]
    Manifest { path: String, detail: String },
    /// Flags that cannot be used together, found after parsing (exit 2, like clap's own).
    #[error("{0}")]
    Usage(String),
    /// A deployed app did not become healthy; the diagnosis has been printed.
    #[error("{app} is not healthy; the diagnosis above says why{undo}")]
    Unhealthy { app: String, undo: String },
    /// The pre-flight check found images the cluster cannot get; the fixes have been printed.
    #[error(
        "the cluster cannot get {images}; nothing was applied (build or load them into the cluster, or point the deploy at images that exist; --skip-image-check deploys anyway)"
    )]
    ImagesMissing { images: String },
    /// A build or load command for `deploy --build` failed.
    #[error("`{command}` failed ({detail}); nothing was applied")]
    BuildFailed { command: String, detail: String },
    /// The LLM endpoint could not be reached.
    #[error("cannot reach the LLM at {endpoint}: {detail}")]
    LlmUnreachable { endpoint: String, detail: String },
    /// No answer within the timeout.
    #[error(
        "no answer from the LLM at {endpoint} within {seconds}s (raise KUBECTL_AI_LLM_TIMEOUT or timeoutSeconds in the config file)"
    )]
    LlmTimeout { endpoint: String, seconds: u64 },
    /// The key was rejected.
    #[error(
        "the LLM at {endpoint} rejected the API key ({code}); check OPENAI_API_KEY (or AZURE_OPENAI_API_KEY)"
    )]
    LlmUnauthorized { endpoint: String, code: u16 },
    /// The model does not exist there.
    #[error(
        "model {model:?} is not available at {endpoint} (404: {detail}); choose another with --model"
    )]
    LlmModel {
        model: String,
        endpoint: String,
        detail: String,
    },
    /// Still 429 after async-openai's retries.
    #[error(
        "the LLM at {endpoint} is rate-limiting (429) and still refused after retries: {detail}"
    )]
    LlmRateLimited { endpoint: String, detail: String },
    /// Even the smaller retry did not fit.
    #[error(
        "the prompt does not fit model {model:?}'s context ({detail}); lower --max-context-tokens"
    )]
    LlmContextLength { model: String, detail: String },
    /// Any other error status.
    #[error("the LLM at {endpoint} failed ({code}): {detail}")]
    LlmApi {
        endpoint: String,
        code: u16,
        detail: String,
    },
    /// A reply that could not be read.
    #[error("the LLM's reply was malformed: {detail}")]
    LlmMalformed { detail: String },
}

/// What a client error says, on one line: the server's own message and code, or the innermost
/// cause ("connection reset by peer"); never the Debug form of a `Status`.
pub(crate) fn kube_detail(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(s) if !s.message.is_empty() => format!("{} ({})", s.message, s.code),
        kube::Error::Api(s) => format!("{} ({})", s.reason, s.code),
        other => {
            let mut cur: &dyn std::error::Error = other;
            while let Some(next) = cur.source() {
                cur = next;
            }
            cur.to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        }
    }
}

/// The status code of a client error; 0 when no answer came.
pub(crate) fn kube_code(err: &kube::Error) -> u16 {
    match err {
        kube::Error::Api(s) => s.code,
        _ => 0,
    }
}

impl Error {
    /// The documented exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::LlmUnreachable { .. }
            | Error::LlmTimeout { .. }
            | Error::LlmUnauthorized { .. }
            | Error::LlmModel { .. }
            | Error::LlmRateLimited { .. }
            | Error::LlmContextLength { .. }
            | Error::LlmApi { .. }
            | Error::LlmMalformed { .. } => exit::LLM_FAILED,
            Error::PlanRefused(_)
            | Error::NotPermitted { .. }
            | Error::DryRunRejected { .. }
            | Error::NoConsent
            | Error::DestructionNotConsented(_)
            | Error::InvalidProposal(_)
            | Error::ImagesMissing { .. } => exit::NOT_APPLIED,
            Error::Usage(_) => exit::USAGE,
            _ => exit::ERROR,
        }
    }
}
