//! The `kubectl-ai` binary: parse, set up logging, run, and turn the outcome into an exit code.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use kubectl_ai::Cli;
use kubectl_ai::exit;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print in full; a usage error is one line, like every error.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::from(exit::OK);
        }
        Err(e) => {
            let _ = writeln!(io::stderr(), "{}", usage_line(&e));
            return ExitCode::from(exit::USAGE);
        }
    };
    init_logging(cli.global.verbose);
    limit_malloc_arenas();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    let outcome = runtime.block_on(async {
        let mut stdout = io::stdout().lock();
        tokio::select! {
            result = kubectl_ai::run(cli, &mut stdout) => result,
            _ = tokio::signal::ctrl_c() => Ok(exit::INTERRUPTED),
        }
    });
    // Outstanding requests are abandoned, not awaited: Ctrl-C means now.
    runtime.shutdown_background();
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(err) if is_broken_pipe(&err) => ExitCode::from(exit::OK),
        Err(err) => {
            let _ = writeln!(io::stderr(), "error: {err:#}");
            let code = err
                .downcast_ref::<kubectl_ai::Error>()
                .map_or(exit::ERROR, |e| e.exit_code());
            ExitCode::from(code)
        }
    }
}

/// glibc gives each thread that finds the others' arenas busy an arena of its own, up to eight
/// per core, and keeps what is freed in each: collection parses pages on several threads, and a
/// 10,000-pod diagnosis peaked 67 MB higher with the default than with one arena per core (the
/// same CPU time; `cargo bench --bench collect -- --case 10k`).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let cores = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets a tunable; it is called before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, cores);
        }
    }
}

/// clap's message without its usage block and tips: "error: unexpected argument '--frobnicate'
/// found (see `kubectl ai --help`)".
fn usage_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text
        .lines()
        .next()
        .unwrap_or("error: invalid command line")
        .trim_end();
    let first = if first.starts_with("error:") {
        first.to_string()
    } else {
        format!("error: {first}")
    };
    format!("{first} (see `kubectl ai --help`)")
}

/// `kubectl ai diagnose | head` must end quietly, as any Unix filter does.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Logs go to stderr. `-v` is info, `-vv` debug, `-vvv` trace; KUBECTL_AI_VERBOSE=N is the same,
/// and RUST_LOG, when set, wins for anyone who needs a finer filter.
fn init_logging(verbose: u8) {
    let from_env = std::env::var("KUBECTL_AI_VERBOSE")
        .ok()
        .and_then(|v| v.parse::<u8>().ok())
        .unwrap_or(0);
    // Other crates stay silent below -vv: every failure they would log reaches the user once,
    // as our own one-line error.
    let directives = match verbose.max(from_env) {
        0 => "off,kubectl_ai=warn",
        1 => "off,kubectl_ai=info",
        2 => "warn,kubectl_ai=debug,kube=debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_target(false)
        .try_init();
}
