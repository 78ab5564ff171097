//! The whole fault sweep (tests/support/sweep.rs) against the built binary: API faults at 20%
//! and 50%, dead and silent servers, broken kubeconfigs and snapshots, hostile manifests, LLM
//! faults and consent in every form. Prints the counts; exits 1 if any bad one is not zero.
//!
//!     cargo run --release --example fault-sweep     (or without --release: slower runs, same counts)

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    // `cargo run --example` does not build the binary; build it (a no-op when it is current),
    // in the profile this example was built in, or the sweep would run a stale or missing one.
    let bin = binary();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--quiet", "--bin", "kubectl-ai"])
        .args(profile_flag(&bin))
        .status();
    if !built.is_ok_and(|s| s.success()) {
        eprintln!("error: could not build the kubectl-ai binary");
        return ExitCode::FAILURE;
    }
    let cases = support::sweep::all();
    eprintln!("running {} cases against {}", cases.len(), bin.display());
    let report = support::sweep::run(&cases, &bin);
    print!("{report}");
    if report.bad() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// target/<profile>/kubectl-ai, beside the examples directory this runs from.
fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile = exe
        .parent()
        .and_then(|examples| examples.parent())
        .expect("target/<profile>/examples");
    profile.join(format!("kubectl-ai{}", std::env::consts::EXE_SUFFIX))
}

/// The `cargo build` flag for the profile whose directory holds `bin`: none for `debug` (the dev
/// profile), `--profile NAME` otherwise (`release` included).
fn profile_flag(bin: &std::path::Path) -> Vec<String> {
    match bin
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
    {
        Some("debug") | None => Vec::new(),
        Some(name) => vec!["--profile".into(), name.into()],
    }
}
