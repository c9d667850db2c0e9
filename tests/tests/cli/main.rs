//! Issue 5 acceptance, end to end: the real `bbctl` binary against a real fleet (inventory
//! `<fleet>/bbctl.toml`). Its JSON output is deserialized into typed rows written here from the
//! documented contract (docs/cli.md, "JSON output"), not from the CLI's code, and compared with
//! Buildbot's REST API; the human tables, `jq` pipelines,
//! a partial view (an unreachable agent) and the no-terminal refusal of `stop` are checked too.
//! Every test only reads the shared fleet or forces short builds, so they all share it.

mod drain;
mod partial;
mod registry;
mod rows;
mod views;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use bbctl_e2e::Fleet;
use serde::de::DeserializeOwned;

const BUILD_TIMEOUT: Duration = Duration::from_secs(120);

/// `$BBCTL_BIN_DIR/bbctl` if set, else the binary the fleet was started with (this target
/// directory's, or `$BBCTL_BIN`: see `bbctl_e2e::Fleet`).
pub(crate) fn bbctl_bin(fleet: &Fleet) -> PathBuf {
    match std::env::var_os("BBCTL_BIN_DIR") {
        Some(dir) => PathBuf::from(dir).join("bbctl"),
        None => fleet.info.bbctl_bin.clone(),
    }
}

/// Runs `bbctl ARGS` with the fleet's inventory, no terminal anywhere.
pub(crate) fn bbctl(fleet: &Fleet, args: &[&str]) -> Output {
    bbctl_with(fleet, &fleet.info.inventory, args)
}

pub(crate) fn bbctl_with(fleet: &Fleet, inventory: &Path, args: &[&str]) -> Output {
    Command::new(bbctl_bin(fleet))
        .args(args)
        .env("BBCTL_INVENTORY", inventory)
        .env_remove("BBCTL_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("bbctl runs")
}

pub(crate) fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The command succeeded; its stdout as JSON of type `T`.
pub(crate) fn json_of<T: DeserializeOwned>(out: &Output) -> T {
    assert_eq!(out.status.code(), Some(0), "{}", describe(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The table row (a stdout line) that starts with `first_cell`.
pub(crate) fn table_row<'a>(text: &'a str, first_cell: &str) -> Option<&'a str> {
    text.lines().find(|l| {
        l.trim_start_matches(|c: char| !c.is_alphanumeric())
            .split_whitespace()
            .next()
            == Some(first_cell)
    })
}
