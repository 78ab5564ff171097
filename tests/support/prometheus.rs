//! A real Prometheus (Debian's 2.42, from `.ci/install-tools`) for the tests, started once per
//! test binary and filled with synthetic history: OpenMetrics text with the metric and label names
//! cAdvisor and kube-state-metrics really use, turned into TSDB blocks by `promtool tsdb
//! create-blocks-from openmetrics`. It dies with the test binary (PR_SET_PDEATHSIG).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A running Prometheus.
pub struct Prom {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The unix second the history ends at (shortly before the server started).
    pub end: i64,
}

/// Series of OpenMetrics text, grouped by family as the format requires.
#[derive(Default)]
pub struct History {
    /// family -> (type, sample lines in time order per series)
    families: BTreeMap<String, (&'static str, Vec<String>)>,
}

impl History {
    /// A counter: `name` ends in `_total`, the family is the name without it.
    pub fn counter(&mut self, name: &str, labels: &[(&str, &str)], points: &[(i64, f64)]) {
        let family = name.strip_suffix("_total").expect("counters end in _total");
        self.series(family, "counter", name, labels, points);
    }

    pub fn gauge(&mut self, name: &str, labels: &[(&str, &str)], points: &[(i64, f64)]) {
        self.series(name, "gauge", name, labels, points);
    }

    fn series(
        &mut self,
        family: &str,
        kind: &'static str,
        name: &str,
        labels: &[(&str, &str)],
        points: &[(i64, f64)],
    ) {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let entry = self
            .families
            .entry(family.to_string())
            .or_insert((kind, Vec::new()));
        let mut block = String::new();
        for (t, v) in points {
            writeln!(block, "{name}{{{}}} {v} {t}", labels.join(",")).unwrap();
        }
        entry.1.push(block);
    }

    fn text(&self) -> String {
        let mut out = String::new();
        for (family, (kind, series)) in &self.families {
            writeln!(out, "# TYPE {family} {kind}").unwrap();
            for s in series {
                out.push_str(s);
            }
        }
        out.push_str("# EOF\n");
        out
    }
}

/// The unix second now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

static SHARED: OnceLock<Prom> = OnceLock::new();

/// The binary's one Prometheus, holding what `fill(end)` wrote, ending at `end`.
pub fn shared(fill: fn(i64) -> History) -> &'static Prom {
    SHARED.get_or_init(|| {
        // The history ends a minute ago: blocks must lie in the past, and the newest sample stays
        // within the 5-minute lookback of an instant query.
        let end = now() / 60 * 60 - 60;
        start(&fill(end), end)
    })
}

fn start(history: &History, end: i64) -> Prom {
    let dir = work_dir();
    let file = dir.join("history.om");
    std::fs::write(&file, history.text()).expect("write history");
    let data = dir.join("data");
    let out = Command::new(super::tool("promtool"))
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(&data)
        .output()
        .expect("promtool");
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The blocks hold it now; the text is the bulk of the disk this uses.
    let _ = std::fs::remove_file(&file);
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 1m\n").expect("config");
    let port = free_port();
    spawn_for_life(
        Command::new(super::tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--storage.tsdb.retention.time=10y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&url);
    Prom { url, end }
}

/// A directory of this process under the target's temp dir; those of dead processes go.
fn work_dir() -> PathBuf {
    // Cargo sets CARGO_TARGET_TMPDIR for integration tests only (not for examples sharing this).
    let tmp = option_env!("CARGO_TARGET_TMPDIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let base = tmp.join("prometheus");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let pid = e.file_name().to_string_lossy().into_owned();
            if !Path::new("/proc").join(&pid).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = base.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("work dir");
    dir
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Starts the process from a thread that lives as long as the test binary: the kernel kills the
/// child when the thread that spawned it ends, so it never outlives the tests.
fn spawn_for_life(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let mut cmd = std::mem::replace(cmd, Command::new("true"));
    std::thread::spawn(move || {
        let child = cmd.spawn().expect("start prometheus");
        tx.send(()).unwrap();
        let _keep = child;
        loop {
            std::thread::park();
        }
    });
    rx.recv().expect("prometheus spawned");
}

/// Polls `/-/ready` until it answers 200 (loading blocks takes a moment), for at most 60s.
fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if super::server::http_get(url, "/-/ready").is_ok_and(|(code, _)| code == 200) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus at {url} never became ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A secured Prometheus: answers 401 unless the request carries `Bearer TOKEN`, then forwards.
pub struct Gate {
    pub url: String,
    _server: super::server::Server,
}

pub fn gate(upstream: &str, token: &'static str) -> Gate {
    use axum::http::{HeaderMap, StatusCode, Uri};
    let upstream = upstream.to_string();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, uri: Uri| {
        let upstream = upstream.clone();
        async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            if auth != format!("Bearer {token}") {
                return (StatusCode::UNAUTHORIZED, "Unauthorized\n".to_string());
            }
            let path = uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let (code, body) =
                tokio::task::spawn_blocking(move || super::server::http_get(&upstream, &path))
                    .await
                    .unwrap()
                    .unwrap_or((502, String::new()));
            (StatusCode::from_u16(code).unwrap(), body)
        }
    });
    let server = super::server::Server::start(app, 1);
    Gate {
        url: format!("http://{}", server.addr),
        _server: server,
    }
}
