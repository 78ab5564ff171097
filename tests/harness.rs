//! The harness itself: what a test runs sees nothing of the caller's environment, and a missed
//! expectation or a prompt that never comes fails with what the program did.

use std::collections::BTreeSet;

use crate::support::Sandbox;

#[test]
fn a_run_sees_only_the_variables_the_harness_and_the_test_set() {
    let sb = Sandbox::new();
    let out = sb
        .program("env")
        .env("KUBECTL_AI_NAMESPACE", "set-by-the-test")
        .code(0)
        .run();
    let names: BTreeSet<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "HOME",
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "KUBECTL_AI_NAMESPACE",
            "NO_COLOR",
            "NO_PROXY",
            "PATH"
        ]),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("HOME={}", sb.path().display()))
    );
}

#[test]
fn every_missed_expectation_is_named_with_the_whole_run() {
    let sb = Sandbox::new();
    let failure = std::panic::catch_unwind(|| {
        sb.program("sh")
            .args(["-c", "echo out; echo err >&2; exit 3"])
            .code(0)
            .stdout_has("missing")
            .stderr_lacks("err")
            .stdout_has("out")
            .run();
    })
    .expect_err("the expectations were missed");
    let message = failure.downcast_ref::<String>().expect("a message");
    for needle in [
        "expected exit code 0, got 3",
        "expected stdout to contain \"missing\"",
        "expected stderr not to contain \"err\"",
        "--- exit code 3\n--- stdout\nout\n\n--- stderr\nerr\n",
    ] {
        assert!(message.contains(needle), "{needle:?} not in:\n{message}");
    }
    assert!(
        !message.contains("\"out\""),
        "a met expectation is not listed: {message}"
    );
}

#[test]
fn a_prompt_that_never_comes_fails_with_the_screen() {
    let sb = Sandbox::new();
    let failure = std::panic::catch_unwind(|| {
        sb.program("sh")
            .args(["-c", "echo Continue anyway"])
            .on_a_terminal()
            .type_after("Apply these changes?", "y\r")
            .run();
    })
    .expect_err("the prompt never came");
    let message = failure.downcast_ref::<String>().expect("a message");
    assert!(
        message.contains("ended before \"Apply these changes?\" appeared on the terminal")
            && message.contains("Continue anyway"),
        "{message}"
    );
}
