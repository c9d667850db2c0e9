//! Help, usage errors and the offline commands (completion, man page, closed pipe).

use std::process::Stdio;

use clap::CommandFactory;

use crate::support::{bbctl, command};

#[test]
fn verify_cli() {
    bbctl::cli::Cli::command().debug_assert();
}

#[test]
fn help_documents_exit_codes() {
    let run = bbctl(&["--help"]).expect(0);
    for needle in [
        "masters",
        "drain",
        "Exit codes:",
        "3  partial",
        "5  refused",
        "BBCTL_INVENTORY",
    ] {
        assert!(
            run.stdout.contains(needle),
            "{needle} missing from:\n{}",
            run.stdout
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let run = bbctl(&["masters", "frobnicate"]).expect(2);
    assert!(
        run.stderr.contains("unrecognized subcommand"),
        "{}",
        run.stderr
    );
    let run = bbctl(&["drain", "master-1", "--deadline", "soon"]).expect(2);
    assert!(
        run.stderr.contains("invalid duration `soon`"),
        "{}",
        run.stderr
    );
}

#[test]
fn no_inventory_is_a_usage_error() {
    let run = bbctl(&["masters", "list"]).expect(2);
    assert!(
        run.stderr.starts_with("error: no inventory"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn bad_inventory_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bbctl.toml");
    std::fs::write(
        &path,
        "[[masters]]\nname = \"m\"\nurl = \"http://127.0.0.1:1\"\ntokn = \"x\"\n",
    )
    .unwrap();
    let run = bbctl(&["--inventory", path.to_str().unwrap(), "masters", "list"]).expect(2);
    assert!(
        run.stderr.contains("bad inventory") && run.stderr.contains("tokn"),
        "{}",
        run.stderr
    );
}

#[test]
fn completion_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let run = bbctl(&["completion", shell]).expect(0);
        assert!(
            run.stdout.contains("bbctl") && run.stdout.contains("drain"),
            "{shell}"
        );
    }
    let man = bbctl(&["man"]).expect(0);
    assert!(
        man.stdout.starts_with(".ie") && man.stdout.contains(".TH bbctl 1"),
        "{}",
        man.stdout
    );
    assert!(man.stdout.contains("Exit codes"));
}

#[test]
fn closed_stdout_pipe_exits_quietly() {
    let mut child = command(&["completion", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}
