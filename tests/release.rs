//! What ships around the binary: the krew manifest for our custom index (rendered for a release
//! from real archives, installed the way krew lays files out, found by the real kubectl) and the
//! example GitHub Actions workflow (its recommend steps run as written).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{Outcome, Sandbox, root, tool};

/// `script` run by bash in `dir` with `path_prefix` first on PATH, in the sandbox's clean
/// environment (as a CI runner would run a workflow step).
fn sh(sb: &Sandbox, dir: &Path, script: &str, path_prefix: &str) -> Outcome {
    sb.program("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env(
            "PATH",
            format!(
                "{path_prefix}:{}",
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .run()
}

#[test]
fn krew_manifest_is_rendered_from_the_release_archives() {
    let sb = Sandbox::new();
    let dist = release_archives(&sb);
    let out = release(&dist);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("${"), "a placeholder survived:\n{text}");
    let manifest: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(
        manifest["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(manifest["kind"], "Plugin");
    assert_eq!(
        manifest["metadata"]["name"], "ai",
        "`kubectl ai` needs the plugin named ai"
    );
    assert_eq!(manifest["spec"]["version"], "v9.9.9");
    assert_every_platform_names_its_archive(&manifest, &dist);
    assert_kubectl_finds_the_plugin_installed_as_krew_does(&sb, &dist);

    // A missing archive is refused rather than published with a wrong checksum.
    std::fs::remove_file(dist.join("kubectl-ai-v9.9.9-darwin-arm64.tar.gz")).unwrap();
    let out = release(&dist);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}

/// The archives of release v9.9.9 in the sandbox's `dist`, as CI uploads them: a tarball for
/// each Unix platform and a zip for Windows.
fn release_archives(sb: &Sandbox) -> std::path::PathBuf {
    let bin = assert_cmd::cargo::cargo_bin("kubectl-ai");
    let stage = sb.path().join("stage");
    let dist = sb.path().join("dist");
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::copy(&bin, stage.join("kubectl-ai")).unwrap();
    std::fs::copy(root().join("LICENSE"), stage.join("LICENSE")).unwrap();
    // Each platform gets a real archive; only linux-amd64 holds a binary this machine can run
    // (the others hold a small stand-in, which is all a checksum needs).
    let other = sb.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("kubectl-ai"), b"another platform's binary").unwrap();
    std::fs::copy(root().join("LICENSE"), other.join("LICENSE")).unwrap();
    for platform in ["linux-amd64", "linux-arm64", "darwin-amd64", "darwin-arm64"] {
        let archive = dist.join(format!("kubectl-ai-v9.9.9-{platform}.tar.gz"));
        let from = if platform == "linux-amd64" {
            &stage
        } else {
            &other
        };
        let out = Command::new("tar")
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(from)
            .args(["kubectl-ai", "LICENSE"])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    std::fs::write(
        dist.join("kubectl-ai-v9.9.9-windows-amd64.zip"),
        b"PK stand-in",
    )
    .unwrap();
    dist
}

/// plugin/release.sh rendering the krew manifest of v9.9.9 from the archives in `dist`.
fn release(dist: &Path) -> std::process::Output {
    Command::new("bash")
        .arg(root().join("plugin/release.sh"))
        .arg("v9.9.9")
        .arg(dist)
        .output()
        .unwrap()
}

/// Each of the five platforms points at its own archive of the release, with that archive's
/// checksum, and its bin is among the files it unpacks.
fn assert_every_platform_names_its_archive(manifest: &Value, dist: &Path) {
    let platforms = manifest["spec"]["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 5);
    for p in platforms {
        let labels = &p["selector"]["matchLabels"];
        let name = format!(
            "{}-{}",
            labels["os"].as_str().unwrap(),
            labels["arch"].as_str().unwrap()
        );
        let uri = p["uri"].as_str().unwrap();
        let file = uri.rsplit('/').next().unwrap();
        assert!(
            uri.contains("/download/v9.9.9/") && file.contains(&name),
            "{uri}"
        );
        let sum = Command::new("sha256sum")
            .arg(dist.join(file))
            .output()
            .unwrap();
        let sum = String::from_utf8_lossy(&sum.stdout);
        assert_eq!(
            p["sha256"].as_str().unwrap(),
            sum.split_whitespace().next().unwrap(),
            "{name}"
        );
        let bin = p["bin"].as_str().unwrap();
        assert!(
            p["files"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["from"] == bin),
            "{name}: bin is not among the files"
        );
    }
}

/// Installed the way krew does it (files unpacked, bin on PATH), the real kubectl finds it.
fn assert_kubectl_finds_the_plugin_installed_as_krew_does(sb: &Sandbox, dist: &Path) {
    let install = sb.path().join("krew-bin");
    std::fs::create_dir_all(&install).unwrap();
    let out = Command::new("tar")
        .arg("-xzf")
        .arg(dist.join("kubectl-ai-v9.9.9-linux-amd64.tar.gz"))
        .arg("-C")
        .arg(&install)
        .output()
        .unwrap();
    assert!(out.status.success());
    let kubectl = tool("kubectl");
    let out = sb
        .program(&kubectl)
        .args(["ai", "version"])
        .env("PATH", &install)
        .code(0)
        .run();
    assert_eq!(
        out.stdout.trim(),
        format!("kubectl-ai {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn example_workflow_runs_recommend_as_written() {
    let sb = Sandbox::new();
    let path = root().join("examples/github-actions/recommend.yml");
    let workflow: Value = serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let steps = workflow["jobs"]["recommend"]["steps"].as_array().unwrap();
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif"))
        })
        .expect("a SARIF upload step");
    let sarif_file = upload["with"]["sarif_file"].as_str().unwrap();

    // Every step that runs kubectl-ai, run here as written, in a copy of the repository's inputs.
    let work = sb.path().join("repo");
    let env = &workflow["env"];
    let mut exports = String::new();
    for (k, v) in env.as_object().unwrap() {
        exports.push_str(&format!("export {k}={}\n", v.as_str().unwrap()));
    }
    std::fs::create_dir_all(&work).unwrap();
    let copy = Command::new("cp")
        .arg("-r")
        .arg(root().join("manifests"))
        .arg(&work)
        .output()
        .unwrap();
    assert!(copy.status.success());
    let bin_dir = assert_cmd::cargo::cargo_bin("kubectl-ai")
        .parent()
        .unwrap()
        .display()
        .to_string();
    let helm_dir = tool("helm").parent().unwrap().display().to_string();
    let mut ran = 0;
    for step in steps {
        let Some(script) = step["run"].as_str() else {
            continue;
        };
        if !script.contains("kubectl-ai recommend") {
            continue;
        }
        let out = sh(
            &sb,
            &work,
            &format!("{exports}{script}"),
            &format!("{bin_dir}:{helm_dir}"),
        );
        assert_eq!(
            out.code, 0,
            "step {:?} failed ({:?}): {}{}",
            step["name"], out.code, out.stdout, out.stderr
        );
        ran += 1;
    }
    assert!(ran >= 2, "the example runs recommend");
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(work.join(sarif_file)).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
}
