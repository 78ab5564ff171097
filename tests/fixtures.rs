//! The committed scenario snapshots are exactly what the generator writes, so a fixture edited by
//! hand (or a generator change not re-run) cannot drift silently.

use crate::support::root;

#[test]
fn committed_fixtures_match_the_generator() {
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("python3")
        .arg(root().join("tests/fixtures/generate.py"))
        .arg(out.path())
        .status()
        .expect("python3 runs the generator");
    assert!(status.success());
    for sub in ["tests/fixtures/scenarios", "examples/snapshots"] {
        let diff = std::process::Command::new("diff")
            .args(["-r", "-q"])
            .arg(root().join(sub))
            .arg(out.path().join(sub))
            .output()
            .unwrap();
        assert!(
            diff.status.success(),
            "{sub} differs from the generator's output; run python3 tests/fixtures/generate.py\n{}",
            String::from_utf8_lossy(&diff.stdout)
        );
    }
}
