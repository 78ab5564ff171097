//! [`Run`]: the one way a test runs the binary (or kubectl, bash, `script`), in an environment
//! that holds nothing of the caller's, with what it should print and how it should end checked
//! together. See the module documentation in `support/mod.rs`.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::OFFLINE;

/// Longest a run may take before the test fails saying so (a hung binary must not hang the suite).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Longest a pseudo-terminal test waits for the question it answers to appear on the screen.
pub const PROMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

enum Expect {
    Is(String),
    Has(String),
    Lacks(String),
}

/// A program to run, its environment, its input, and what it is expected to do.
pub struct Run {
    cmd: Command,
    stdin: Vec<u8>,
    code: Option<i32>,
    stdout: Vec<Expect>,
    stderr: Vec<Expect>,
    terminal: Option<Terminal>,
}

/// On a pseudo-terminal: what to type, once `prompt` is on the screen.
struct Terminal {
    typing: Option<(String, String)>,
}

impl Run {
    /// `program` with HOME at `home`, NO_COLOR=1, the caller's PATH, HTTP kept on this machine
    /// ([`OFFLINE`]), and no other variable of the caller's.
    pub fn program(program: impl AsRef<OsStr>, home: &Path) -> Run {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("NO_COLOR", "1")
            .envs(OFFLINE);
        Run {
            cmd,
            stdin: Vec::new(),
            code: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
            terminal: None,
        }
    }

    /// The kubectl-ai binary under test.
    pub fn kubectl_ai(home: &Path) -> Run {
        Run::program(assert_cmd::cargo::cargo_bin("kubectl-ai"), home)
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env_remove(key);
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Bytes piped to standard input (which is otherwise an empty pipe, closed at once).
    pub fn stdin(&mut self, input: impl Into<Vec<u8>>) -> &mut Self {
        self.stdin = input.into();
        self
    }

    /// The exit code the run must end with.
    pub fn code(&mut self, code: i32) -> &mut Self {
        self.code = Some(code);
        self
    }

    pub fn stdout_is(&mut self, text: impl Into<String>) -> &mut Self {
        self.stdout.push(Expect::Is(text.into()));
        self
    }

    pub fn stdout_has(&mut self, text: impl Into<String>) -> &mut Self {
        self.stdout.push(Expect::Has(text.into()));
        self
    }

    pub fn stdout_lacks(&mut self, text: impl Into<String>) -> &mut Self {
        self.stdout.push(Expect::Lacks(text.into()));
        self
    }

    pub fn stderr_is(&mut self, text: impl Into<String>) -> &mut Self {
        self.stderr.push(Expect::Is(text.into()));
        self
    }

    pub fn stderr_has(&mut self, text: impl Into<String>) -> &mut Self {
        self.stderr.push(Expect::Has(text.into()));
        self
    }

    pub fn stderr_lacks(&mut self, text: impl Into<String>) -> &mut Self {
        self.stderr.push(Expect::Lacks(text.into()));
        self
    }

    /// Runs on a pseudo-terminal (util-linux `script`), as a person at a shell does: TERM is
    /// xterm-256color and NO_COLOR unset unless the test sets it again; stdout is the screen.
    pub fn on_a_terminal(&mut self) -> &mut Self {
        self.cmd
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR");
        self.terminal = Some(Terminal { typing: None });
        self
    }

    /// On a terminal, types `input` once `prompt` is on the screen (failing after
    /// [`PROMPT_TIMEOUT`] if it never is).
    pub fn type_after(&mut self, prompt: &str, input: &str) -> &mut Self {
        let terminal = self
            .terminal
            .as_mut()
            .expect("type_after needs on_a_terminal()");
        terminal.typing = Some((prompt.to_string(), input.to_string()));
        self
    }

    /// Runs to the end, then checks every expectation at once: a failure names each one missed,
    /// with the command line, the exit code and both streams.
    pub fn run(&mut self) -> Outcome {
        let out = match self.terminal.take() {
            Some(terminal) => self.run_on_a_terminal(terminal),
            None => self.run_piped(),
        };
        self.check(&out);
        out
    }

    /// Runs, expects exit 0 (or the code set with [`Run::code`]) and returns stdout as JSON.
    pub fn json(&mut self) -> Value {
        if self.code.is_none() {
            self.code(0);
        }
        let out = self.run();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: stdout is not JSON ({e})\n{}", self.line(), show(&out)))
    }

    /// Starts the run and hands over the process (stdin closed, stdout and stderr piped), for a
    /// test that signals it; expectations do not apply.
    pub fn spawn(&mut self) -> Child {
        self.cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: cannot start: {e}", self.line()))
    }

    fn run_piped(&mut self) -> Outcome {
        let mut child = self
            .cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: cannot start: {e}", self.line()));
        let mut stdin = child.stdin.take().unwrap();
        let input = std::mem::take(&mut self.stdin);
        // A program may exit without reading its input: a closed pipe is not the test's failure.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let stdout = read_all(child.stdout.take().unwrap());
        let stderr = read_all(child.stderr.take().unwrap());
        let code = self.wait(&mut child, &stdout, &stderr);
        writer.join().unwrap();
        Outcome {
            code,
            stdout: collect(stdout),
            stderr: collect(stderr),
        }
    }

    /// Waits for the end, at most [`RUN_TIMEOUT`].
    fn wait(&self, child: &mut Child, stdout: &Stream, stderr: &Stream) -> i32 {
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            if started.elapsed() > RUN_TIMEOUT {
                let _ = child.kill();
                panic!(
                    "{}: still running after {RUN_TIMEOUT:?}, killed\n--- stdout so far\n{}\n--- stderr so far\n{}",
                    self.line(),
                    stdout.so_far(),
                    stderr.so_far()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn run_on_a_terminal(&mut self, terminal: Terminal) -> Outcome {
        let line = shell_line(&self.cmd);
        let mut script = Command::new("script");
        script
            .args(["-q", "-e", "-c", &line, "/dev/null"])
            .env_clear();
        for (key, value) in self.cmd.get_envs() {
            if let Some(value) = value {
                script.env(key, value);
            }
        }
        if let Some(dir) = self.cmd.get_current_dir() {
            script.current_dir(dir);
        }
        let mut child = script
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("script(1) from util-linux");
        let screen = read_all(child.stdout.take().unwrap());
        let stderr = read_all(child.stderr.take().unwrap());
        let mut stdin = child.stdin.take().unwrap();
        if let Some((prompt, input)) = terminal.typing {
            screen.wait_for(&prompt, &self.line());
            stdin.write_all(input.as_bytes()).unwrap();
        }
        drop(stdin);
        let code = self.wait(&mut child, &screen, &stderr);
        Outcome {
            code,
            stdout: collect(screen),
            stderr: collect(stderr),
        }
    }

    fn check(&self, out: &Outcome) {
        let mut missed = Vec::new();
        if let Some(code) = self.code
            && out.code != code
        {
            missed.push(format!("exit code {code}, got {}", out.code));
        }
        for (name, expects, text) in [
            ("stdout", &self.stdout, &out.stdout),
            ("stderr", &self.stderr, &out.stderr),
        ] {
            for e in expects {
                match e {
                    Expect::Is(want) if text != want => {
                        missed.push(format!("{name} to be exactly {want:?}"))
                    }
                    Expect::Has(want) if !text.contains(want.as_str()) => {
                        missed.push(format!("{name} to contain {want:?}"))
                    }
                    Expect::Lacks(unwanted) if text.contains(unwanted.as_str()) => {
                        missed.push(format!("{name} not to contain {unwanted:?}"))
                    }
                    _ => {}
                }
            }
        }
        if !missed.is_empty() {
            panic!(
                "{} did not do what the test expects:\n  - expected {}\n{}",
                self.line(),
                missed.join("\n  - expected "),
                show(out)
            );
        }
    }

    /// The command line, for messages.
    fn line(&self) -> String {
        format!("`{}`", shell_line(&self.cmd))
    }
}

/// Polls `condition` until it holds, failing with `what` after [`PROMPT_TIMEOUT`]: a test waits
/// for the state it needs (a request received, a file written), never for a fixed time.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < PROMPT_TIMEOUT,
            "gave up after {PROMPT_TIMEOUT:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The exit code and both streams, for a failure message.
pub fn show(out: &Outcome) -> String {
    format!(
        "--- exit code {}\n--- stdout\n{}\n--- stderr\n{}",
        out.code, out.stdout, out.stderr
    )
}

/// `cmd`'s program and arguments as one line a POSIX shell reads back the same.
fn shell_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy().replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A stream read to its end by a thread, readable while it runs.
struct Stream {
    chunks: mpsc::Receiver<Vec<u8>>,
    seen: std::cell::RefCell<Vec<u8>>,
}

impl Stream {
    /// Takes in what has arrived, waiting at most `wait` for the first chunk; false once the
    /// writer has closed the stream and everything is in.
    fn drain(&self, wait: Duration) -> bool {
        let mut seen = self.seen.borrow_mut();
        match self.chunks.recv_timeout(wait) {
            Ok(chunk) => seen.extend(chunk),
            Err(mpsc::RecvTimeoutError::Timeout) => return true,
            Err(mpsc::RecvTimeoutError::Disconnected) => return false,
        }
        loop {
            match self.chunks.try_recv() {
                Ok(chunk) => seen.extend(chunk),
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn so_far(&self) -> String {
        self.drain(Duration::ZERO);
        String::from_utf8_lossy(&self.seen.borrow()).into_owned()
    }

    /// Returns once `text` has been written (ANSI sequences and all, as a terminal receives it).
    fn wait_for(&self, text: &str, line: &str) {
        let started = Instant::now();
        loop {
            let open = self.drain(Duration::from_millis(20));
            let screen = String::from_utf8_lossy(&self.seen.borrow()).into_owned();
            if screen.contains(text) {
                return;
            }
            if !open {
                panic!(
                    "{line}: ended before {text:?} appeared on the terminal\n--- screen\n{screen}"
                );
            }
            if started.elapsed() > PROMPT_TIMEOUT {
                panic!(
                    "{line}: {text:?} did not appear on the terminal within {PROMPT_TIMEOUT:?}\n--- screen so far\n{screen}"
                );
            }
        }
    }
}

fn read_all(mut from: impl Read + Send + 'static) -> Stream {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    Stream {
        chunks: rx,
        seen: std::cell::RefCell::new(Vec::new()),
    }
}

/// Everything the stream held, once the process has ended (its writers closed the pipe).
fn collect(stream: Stream) -> String {
    let mut seen = stream.seen.into_inner();
    for chunk in stream.chunks.iter() {
        seen.extend(chunk);
    }
    String::from_utf8_lossy(&seen).into_owned()
}
