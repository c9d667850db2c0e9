//! Partial views and refusals: an unreachable agent is a row and exit 3; `stop` with no terminal
//! and no `--yes` is refused (exit 5) and leaves the master running.

use std::net::TcpListener;

use bbctl_api::MasterInfo;
use bbctl_e2e::shared_fleet;

use crate::rows::{MasterRow, RowState};
use crate::{bbctl, bbctl_with, describe, stdout, table_row};

#[test]
fn an_unreachable_agent_is_a_row_and_exit_3() {
    let fleet = shared_fleet();
    // A port nobody listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("bbctl.toml");
    let text = std::fs::read_to_string(&fleet.info.inventory).unwrap();
    std::fs::write(
        &inventory,
        format!("{text}\n[[masters]]\nname = \"master-9\"\nurl = \"http://127.0.0.1:{port}/\"\n"),
    )
    .unwrap();

    let out = bbctl_with(fleet, &inventory, &["masters", "list", "-o", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let rows: Vec<MasterRow> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), fleet.info.masters.len() + 1);
    let lost = rows.iter().find(|r| r.name == "master-9").unwrap();
    assert_eq!(lost.state, RowState::Unreachable, "{lost:#?}");
    assert!(
        lost.error.is_some() && lost.master.is_none() && lost.workers.is_none(),
        "{lost:#?}"
    );
    assert!(
        rows.iter()
            .filter(|r| r.name != "master-9")
            .all(|r| r.state == RowState::Running)
    );

    let out = bbctl_with(fleet, &inventory, &["masters", "list"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let text = stdout(&out);
    let line = table_row(&text, "master-9").unwrap_or_else(|| panic!("no row master-9:\n{text}"));
    assert!(line.contains("unreachable"), "{line}");
}

#[test]
fn stop_without_a_terminal_or_yes_is_refused() {
    let fleet = shared_fleet();
    let agent = fleet.agent(0);
    let before: MasterInfo = agent.get("/v1/master").unwrap();

    let out = bbctl(fleet, &["stop", "master-1"]);
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--yes"),
        "{}",
        describe(&out)
    );

    let after: MasterInfo = agent.get("/v1/master").unwrap();
    assert!(
        after.process.running && after.process.pid == before.process.pid,
        "{after:#?}"
    );
    assert_eq!(after.active, Some(true), "{after:#?}");
}
