//! The command line, kubectl-style: the same global flags kubectl users already type, each also
//! readable from a `KUBECTL_AI_*` environment variable so CI jobs can set them once.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::quantity::parse_duration;

pub(crate) use crate::recommend::{FailOn, Validate};
pub(crate) use crate::render::Output;

const EXIT_CODES: &str = "\
Exit codes:
  0    success (with --exit-code: no problems found)
  1    error (cluster unreachable, bad kubeconfig, unreadable snapshot, unknown target)
  2    invalid command line
  3    problems found (only with --exit-code: a warning- or error-level finding)
  4    the LLM failed (unreachable, timeout, key rejected, unknown model, rate-limited, bad reply)
  5    a plan was not applied (refused by policy or RBAC, rejected by the dry run, declined, no
       terminal to ask on without --yes, or a deletion the LLM proposed without --allow-delete)
  130  interrupted (Ctrl-C)";

const EXAMPLES: &str = r#"Examples:
  # What is broken in the current namespace?
  kubectl ai diagnose

  # One workload, across the pods it owns
  kubectl ai diagnose deployment/todo-backend -n todo-app

  # From a dump taken with `kubectl cluster-info dump --output-directory=./dump`
  kubectl ai diagnose --snapshot ./dump

  # Try it with no cluster: the built-in snapshot of a broken todo app
  kubectl ai diagnose --demo

  # In CI: fail the job when problems are found
  kubectl ai diagnose -A -o json --exit-code

  # Best practices for manifests, no cluster needed (SARIF for code scanning)
  kubectl ai recommend -f k8s/ -o sarif

  # Ask in plain words (OPENAI_API_KEY, or OPENAI_BASE_URL for Ollama/vLLM/LM Studio)
  kubectl ai "why is backend crashlooping" -n todo-app
  kubectl logs deploy/todo-backend | kubectl ai "explain this"

  # Create or change resources in words: validated, dry-run, shown as a diff, applied on consent
  kubectl ai "create a redis deployment with 3 replicas and a service"
  kubectl ai "create a redis deployment" -o yaml > redis.yaml
  kubectl ai -f deploy.yaml "add a readiness probe" --write"#;

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-ai",
    bin_name = "kubectl ai",
    version,
    about = "Find what is broken in a Kubernetes cluster, grounded in the cluster's own facts",
    long_about = "Find what is broken in a Kubernetes cluster, grounded in the cluster's own facts.\n\n\
        kubectl-ai reads pods, events, logs, owners, services, storage, nodes and autoscalers from a \
        live cluster (your kubeconfig) or from a `kubectl cluster-info dump` directory, and reports \
        each problem once per workload with the evidence that shows it and a suggested fix. \
        It never changes the cluster.",
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}"),
    subcommand_value_name = "COMMAND",
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(flatten)]
    pub llm: LlmArgs,

    #[command(flatten)]
    pub plan: PlanArgs,

    /// A question in plain words, e.g. "why is backend crashlooping" (text piped on stdin is added),
    /// or a request to create or change resources: "create a redis deployment with a service"
    #[arg(value_name = "QUESTION")]
    pub question: Vec<String>,

    /// With a request: manifest files to edit (`-` for stdin); the edited manifests are printed,
    /// or written back with --write
    #[arg(short = 'f', long = "filename", value_name = "FILE|-")]
    pub files: Vec<PathBuf>,

    /// With -f and a request: write the edited manifests back to the files
    #[arg(long, requires = "files")]
    pub write: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find problems and explain them with evidence (no LLM needed)
    #[command(after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}"))]
    Diagnose(DiagnoseArgs),
    /// Ask a question in plain words; the same as `kubectl ai "QUESTION"`
    Ask {
        /// The question; text piped on stdin is appended to it
        #[arg(value_name = "QUESTION", required = true)]
        question: Vec<String>,
    },
    /// Check workloads against best practices (reliability, resources, scaling, security,
    /// networking), from manifests (-f) or the cluster; exit codes a CI pipeline can gate on
    #[command(after_help = RECOMMEND_HELP)]
    Recommend(RecommendArgs),
    /// Deploy the bundled todo app (or a directory or file of manifests), adapted to the cluster,
    /// through the plan pipeline, then verify it is healthy
    #[command(after_help = DEPLOY_HELP)]
    Deploy(DeployArgs),
    /// Remove the todo app through the plan pipeline, keeping its data unless --delete-data
    Undeploy(UndeployArgs),
    /// List the changes kubectl-ai has applied, newest last
    History,
    /// Put back what a recorded change altered (the newest, or ID), through the same plan pipeline
    Undo {
        /// A record id from `kubectl ai history`
        #[arg(value_name = "ID")]
        id: Option<String>,
    },
    /// Show the effective LLM settings (key masked) and check that the endpoint answers
    #[command(visible_alias = "doctor")]
    Config {
        /// Only show the settings; do not contact the endpoint
        #[arg(long)]
        no_check: bool,
    },
    /// Serve the diagnosis, recommendations and plan gate as MCP tools for AI assistants (stdio,
    /// or streamable HTTP); read-only unless --allow-writes
    #[command(after_help = crate::mcp::HELP)]
    Mcp(crate::mcp::Args),
    /// Print the version
    Version,
    /// Print a shell completion script
    #[command(after_help = "Load it with, for bash: source <(kubectl-ai completion bash)")]
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// What to diagnose: KIND/NAME (deployment/web, pod/web-1, svc/web, pvc/data) or a bare NAME;
    /// the whole namespace when omitted
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,

    /// Exit with code 3 when a warning- or error-level problem is found
    #[arg(long, env = "KUBECTL_AI_EXIT_CODE")]
    pub exit_code: bool,

    /// Propose fixes for the findings that have a certain one, and apply them after you confirm
    #[arg(long)]
    pub fix: bool,
}

const RECOMMEND_HELP: &str = r#"Examples:
  # Manifests need no cluster; a directory is read recursively
  kubectl ai recommend -f k8s/
  helm template my-release ./chart | kubectl ai recommend -f -

  # In CI: SARIF for GitHub code scanning, failing the job on warnings too
  kubectl ai recommend -f k8s/ -o sarif --fail-on warning > results.sarif

  # The live namespace, with usage from metrics.k8s.io; apply the fixes after a diff
  kubectl ai recommend -n todo-app --fix

  # Requests and limits from 7 days of Prometheus history (found in the cluster, or --prometheus URL)
  kubectl ai recommend -n todo-app --resources

  # Rewrite the manifest files with the fixes instead
  kubectl ai recommend -f k8s/ --fix --write

  # Manifests are validated against the API schema first (bundled, offline): another version,
  # the team's CRDs, or the live cluster's own OpenAPI
  kubectl ai recommend -f k8s/ --kubernetes-version 1.30 --crd-schemas crds/
  kubectl ai recommend -f k8s/ --validate cluster

Suppress a rule on one object with the annotation `kubectl-ai.io/ignore: rule-a,rule-b`, everywhere
with `--ignore RULE` (or `RULE@KIND/NAME` for one object), or in the config file:
  recommend:
    ignore: [image-latest, single-replica@statefulset/postgres]
Turn rules on or off and change their severity with --enable, --disable and --severity RULE=LEVEL,
or in the config file:
  recommend:
    enable: [cpu-limit-missing]
    disable: [spread-missing]
    severity: {image-latest: error}
`--list-rules` prints every rule with its effective severity and whether it runs.

Exit codes:
  0    nothing at or above the --fail-on severity
  1    could not run (unreadable manifest, unreachable cluster, ...)
  2    invalid command line
  3    recommendations at or above the --fail-on severity
  4    --explain: the LLM failed
  5    --fix: the plan was not applied"#;

#[derive(Debug, Args)]
pub struct RecommendArgs {
    /// Manifest file or directory (recursive: .yaml, .yml, .json); `-` reads stdin. Repeatable.
    /// Without it, the cluster (or --snapshot) is checked.
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR|-")]
    pub files: Vec<PathBuf>,

    /// Lowest severity that makes the exit code 3
    #[arg(
        long,
        value_enum,
        env = "KUBECTL_AI_FAIL_ON",
        value_name = "SEVERITY",
        default_value_t = FailOn::Error
    )]
    pub fail_on: FailOn,

    /// Skip a rule everywhere (RULE) or on one object (RULE@KIND/NAME); repeatable
    #[arg(long = "ignore", value_name = "RULE[@KIND/NAME]")]
    pub ignore: Vec<String>,

    /// Run a rule that is off by default (see --list-rules); repeatable
    #[arg(long, value_name = "RULE")]
    pub enable: Vec<String>,

    /// Do not run a rule at all; repeatable
    #[arg(long, value_name = "RULE")]
    pub disable: Vec<String>,

    /// Change a rule's severity: RULE=error|warning|info; repeatable
    #[arg(long, value_name = "RULE=SEVERITY")]
    pub severity: Vec<String>,

    /// Add a summary written by the LLM, grounded in these recommendations (optional)
    #[arg(long)]
    pub explain: bool,

    /// Apply the fixes: through the plan pipeline for a cluster (diff, confirm, apply); with -f,
    /// rewrite the files (needs --write) or print the fixed manifests for `-f -`
    #[arg(long)]
    pub fix: bool,

    /// With --fix and -f: rewrite the manifest files in place
    #[arg(long, requires = "fix")]
    pub write: bool,

    /// Print every rule with its severity and category, and exit
    #[arg(long)]
    pub list_rules: bool,

    /// Check -f manifests against the API schema: the bundled schemas of --kubernetes-version,
    /// the live cluster's own OpenAPI, or not at all
    #[arg(long, value_enum, value_name = "SCHEMAS", default_value_t = Validate::Bundled)]
    pub validate: Validate,

    /// Kubernetes version whose API the manifests must match (schemas and removed apiVersions)
    #[arg(long, value_name = "VERSION", env = "KUBECTL_AI_KUBERNETES_VERSION", default_value = crate::recommend::schema::DEFAULT_VERSION)]
    pub kubernetes_version: String,

    /// Directory (or file) of CustomResourceDefinitions whose custom resources to check too
    #[arg(long, value_name = "DIR")]
    pub crd_schemas: Vec<PathBuf>,

    /// Accept an input with no Kubernetes objects (an empty file, only `---`) instead of failing
    #[arg(long)]
    pub allow_empty: bool,

    #[command(flatten)]
    pub sizing: crate::recommend::sizing::SizingArgs,
}

const DEPLOY_HELP: &str = r#"Examples:
  # The todo app, adapted to the cluster (NodePort on minikube, LoadBalancer where there is one,
  # ServiceMonitors, alerts and a Grafana dashboard where the prometheus-operator runs)
  kubectl ai deploy todo-app

  # On minikube or kind: build the app's images into the cluster, then deploy (asks first)
  kubectl ai deploy todo-app --build ~/src/todo-app

  # Values, as in the Helm chart's values.yaml (list them with --list-values)
  kubectl ai deploy todo-app --set backend.replicas=3 --set ingress.enabled=false --image-tag 1.5.0

  # The same in words, turned into values by the LLM (never into YAML)
  kubectl ai deploy todo-app "3 backend replicas, no ingress"

  # The manifests for GitOps instead of applying them
  kubectl ai deploy todo-app --render > todo-app.yaml

  # Any directory of manifests, through the same plan and rollout checks
  kubectl ai deploy ./k8s -n shop

  # Remove it; the database volume and its Secret stay unless --delete-data
  kubectl ai undeploy todo-app

Before anything is applied, every image is checked: on a node already, or served by its registry.
A missing one stops the deploy (exit 5) with the command that builds or loads it.
--skip-image-check deploys anyway."#;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// `todo-app` (bundled), or a directory or file of manifests
    #[arg(value_name = "APP|DIR|FILE")]
    pub what: String,

    /// What you want, in words (needs an LLM): "3 backend replicas, no ingress"
    #[arg(value_name = "REQUEST")]
    pub request: Vec<String>,

    /// Set a documented value, KEY=VALUE (repeatable; see --list-values)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// Tag of the frontend and backend images
    #[arg(long, value_name = "TAG", env = "KUBECTL_AI_IMAGE_TAG")]
    pub image_tag: Option<String>,

    /// Print the final manifests (for GitOps) instead of applying them; needs no cluster
    #[arg(long)]
    pub render: bool,

    /// List the values --set accepts, and exit
    #[arg(long)]
    pub list_values: bool,

    /// Build the todo app's images into a local cluster first (minikube, kind, Docker Desktop),
    /// from DIR/backend and DIR/frontend, with the tags the plan uses; asks first
    #[arg(long, value_name = "DIR", conflicts_with = "render")]
    pub build: Option<PathBuf>,

    /// Deploy without checking that every image is on a node or in its registry
    #[arg(long)]
    pub skip_image_check: bool,
}

#[derive(Debug, Args)]
pub struct UndeployArgs {
    /// The bundled app to remove: todo-app
    #[arg(value_name = "APP")]
    pub what: String,

    /// Also delete the database volumes, the app's Secret and its namespace (explicit consent to
    /// losing the data)
    #[arg(long)]
    pub delete_data: bool,
}

/// How a plan may proceed. Nothing changes without consent: interactively, or `--yes`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Apply without asking (the only non-interactive consent)
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,

    /// Validate with a server-side dry run and show the diff, but change nothing
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Consent to deleting objects or scaling to zero when the LLM proposes it (--yes alone does
    /// not; on a terminal you may type the object's name instead)
    #[arg(long, global = true)]
    pub allow_delete: bool,

    /// How long to wait for rollouts after applying (0 skips the wait)
    #[arg(long, global = true, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// How questions reach the LLM. The endpoint and key come from the environment or the config file
/// (OPENAI_API_KEY, OPENAI_BASE_URL, AZURE_OPENAI_*; ~/.config/kubectl-ai/config.yaml).
#[derive(Debug, Args)]
pub struct LlmArgs {
    /// Model to ask (default: KUBECTL_AI_MODEL, the config file, then gpt-4o-mini)
    #[arg(long, global = true, value_name = "NAME")]
    pub model: Option<String>,

    /// Most prompt tokens to send; evidence is ranked and trimmed to fit (default 8000)
    #[arg(
        long,
        global = true,
        env = "KUBECTL_AI_MAX_CONTEXT_TOKENS",
        value_name = "N"
    )]
    pub max_context_tokens: Option<usize>,

    /// Directory with system.md and question.md replacing the built-in prompts
    #[arg(long, global = true, env = "KUBECTL_AI_PROMPT_DIR", value_name = "DIR")]
    pub prompt_dir: Option<PathBuf>,

    /// Print the answer when it is complete instead of as it is written
    #[arg(long, global = true, env = "KUBECTL_AI_NO_STREAM")]
    pub no_stream: bool,

    /// Follow-up rounds in which the model may read more of the collected evidence (logs, events,
    /// objects) through read-only tools; 0 offers none
    #[arg(
        long,
        global = true,
        env = "KUBECTL_AI_MAX_STEPS",
        value_name = "N",
        default_value_t = 2
    )]
    pub max_steps: usize,

    /// Print exactly what would be sent to the LLM, and send nothing
    #[arg(long, global = true)]
    pub show_prompt: bool,
}

/// Flags every command accepts, before or after the subcommand, as with kubectl.
#[derive(Debug, Args)]
pub struct Global {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)
    #[arg(
        long,
        global = true,
        env = "KUBECTL_AI_KUBECONFIG",
        value_name = "PATH"
    )]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use
    #[arg(long, global = true, env = "KUBECTL_AI_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,

    /// Namespace to read (default: the context's namespace)
    #[arg(
        short = 'n',
        long,
        global = true,
        env = "KUBECTL_AI_NAMESPACE",
        value_name = "NAME"
    )]
    pub namespace: Option<String>,

    /// Read every namespace
    #[arg(short = 'A', long, global = true, env = "KUBECTL_AI_ALL_NAMESPACES")]
    pub all_namespaces: bool,

    /// Output format
    #[arg(
        short = 'o',
        long,
        global = true,
        env = "KUBECTL_AI_OUTPUT",
        value_enum,
        default_value_t = Output::Text
    )]
    pub output: Output,

    /// Read a `kubectl cluster-info dump --output-directory` directory instead of a live cluster
    #[arg(
        long,
        global = true,
        env = "KUBECTL_AI_SNAPSHOT",
        value_name = "DIR",
        conflicts_with = "demo"
    )]
    pub snapshot: Option<PathBuf>,

    /// Read the built-in snapshot of a broken todo app (no cluster needed)
    #[arg(long, global = true)]
    pub demo: bool,

    /// Give up on a request after this long (e.g. 30s, 2m; 0 waits forever)
    #[arg(
        long,
        global = true,
        env = "KUBECTL_AI_REQUEST_TIMEOUT",
        value_name = "DURATION",
        default_value = "30s",
        value_parser = parse_duration
    )]
    pub request_timeout: Duration,

    /// Page size for list requests, as kubectl's --chunk-size
    #[arg(
        long,
        global = true,
        env = "KUBECTL_AI_CHUNK_SIZE",
        value_name = "N",
        default_value_t = 500,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub chunk_size: u32,

    /// Read the current logs of every running container too (two pods per workload), not only
    /// of unhealthy ones and those another signal points at
    #[arg(long, global = true, env = "KUBECTL_AI_LOGS")]
    pub logs: bool,

    /// A namespace (or cluster, with -A) of at most N pods has the logs of its running containers
    /// read as well
    #[arg(
        long,
        global = true,
        env = "KUBECTL_AI_LOG_PODS",
        value_name = "N",
        default_value_t = 50
    )]
    pub log_pods: usize,

    /// More logs on stderr (-v info, -vv debug, -vvv trace); KUBECTL_AI_VERBOSE=N does the same
    #[arg(short = 'v', long = "verbose", global = true, action = ArgAction::Count)]
    pub verbose: u8,

    /// No colours (also NO_COLOR=1)
    #[arg(long, global = true, env = "KUBECTL_AI_NO_COLOR")]
    pub no_color: bool,

    #[command(flatten)]
    pub prometheus: crate::prometheus::PrometheusArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn question_and_subcommand_are_told_apart() {
        let cli = Cli::try_parse_from(["kubectl-ai", "why is backend crashlooping"]).unwrap();
        assert_eq!(cli.question, ["why is backend crashlooping"]);
        assert!(cli.command.is_none());
        let cli = Cli::try_parse_from(["kubectl-ai", "-n", "a", "diagnose", "deploy/x"]).unwrap();
        assert!(
            matches!(cli.command, Some(Command::Diagnose(ref d)) if d.target.as_deref() == Some("deploy/x"))
        );
        assert_eq!(cli.global.namespace.as_deref(), Some("a"));
    }
}
