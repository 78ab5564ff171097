//! Diagnosis quality on the corpus: is the root cause the first finding, with the facts that show it,
//! and do healthy clusters stay quiet?
//!
//! Run: `cargo bench --bench diagnose_quality`. For every case of tests/fixtures/corpus (the broken
//! scenarios of tests/fixtures/scenarios, the broken cases with their expected.json, the healthy
//! clusters) it runs the real binary (`kubectl ai diagnose -A -o json --snapshot DIR`) and prints a
//! Markdown table: the first warning/error, whether it is on the expected root object and quotes the
//! key evidence ("top right"), whether its rule is the expected one, whether the root cause is
//! reported anywhere ("found"), and the warnings/errors on objects the expected answer does not name
//! ("false alarms"). Then precision (warnings/errors on expected objects, of all) and recall (broken
//! cases whose root cause is reported).

#[path = "../tests/quality/score.rs"]
mod score;

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_kubectl-ai"));
    let home = tempfile::tempdir().expect("a temporary home");
    let cases = match score::corpus(&root) {
        Ok(cases) => cases,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let started = Instant::now();
    let mut scores = Vec::new();
    for case in &cases {
        match score::diagnose(&bin, &case.snapshot, home.path()) {
            Ok(report) => scores.push(score::score(case, &report)),
            Err(e) => {
                eprintln!("error: {}: {e}", case.name);
                std::process::exit(1);
            }
        }
    }
    println!("{}", score::table(&scores));
    println!(
        "{} diagnoses in {} ms",
        cases.len(),
        started.elapsed().as_millis()
    );
}
