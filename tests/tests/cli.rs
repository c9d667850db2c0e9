//! Issue 5 acceptance, end to end: the real `bbctl` binary against a real fleet (inventory
//! `<fleet>/bbctl.toml`). Its JSON output is deserialized into typed rows written here from the
//! documented contract (docs/cli.md, "JSON output"), not from the CLI's code, and compared with
//! Buildbot's REST API; the human tables, `jq` pipelines,
//! a partial view (an unreachable agent) and the no-terminal refusal of `stop` are checked too.
//! Every test only reads the shared fleet or forces short builds, so they all share it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use bbctl_api::{BuildInfo, DrainPhase, MasterInfo, WorkerInfo};
use bbctl_e2e::agent_client::AgentClient;
use bbctl_e2e::{Fleet, FleetOptions, shared_fleet, wait_until};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

const BUILD_TIMEOUT: Duration = Duration::from_secs(120);

/// `masters list -o json` rows / `masters show -o json` (docs/cli.md: MasterRow).
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // Decoding checks the field exists with the documented type.
struct MasterRow {
    name: String,
    url: String,
    state: RowState,
    standby: bool,
    active: Option<bool>,
    config_label: Option<String>,
    config_sha256: Option<String>,
    buildbot_version: Option<String>,
    workers: Option<usize>,
    builds: Option<usize>,
    uptime_secs: Option<f64>,
    masterid: Option<i64>,
    pid: Option<u32>,
    buildbot_name: Option<String>,
    error: Option<String>,
    master: Option<MasterInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RowState {
    Running,
    Starting,
    Draining,
    Drained,
    Stopping,
    Stopped,
    Unhealthy,
    Standby,
    Unreachable,
    Error,
}

/// `workers list -o json` rows (docs/cli.md: WorkerRow).
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct WorkerRow {
    name: String,
    workerid: i64,
    master: Option<String>,
    masterid: Option<i64>,
    state: String,
    paused: bool,
    pause_reason: Option<String>,
    builds: Vec<i64>,
    worker: WorkerInfo,
}

/// `builds list -o json` rows (docs/cli.md: BuildRow).
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct BuildRow {
    buildid: i64,
    builder: Option<String>,
    number: Option<i64>,
    worker: Option<String>,
    master: Option<String>,
    masterid: Option<i64>,
    started_at: Option<i64>,
    age_secs: Option<i64>,
    state_string: Option<String>,
    build: BuildInfo,
}

/// `$BBCTL_BIN_DIR/bbctl` if set, else the binary the fleet was started with (this target
/// directory's, or `$BBCTL_BIN`: see `bbctl_e2e::Fleet`).
fn bbctl_bin(fleet: &Fleet) -> PathBuf {
    match std::env::var_os("BBCTL_BIN_DIR") {
        Some(dir) => PathBuf::from(dir).join("bbctl"),
        None => fleet.info.bbctl_bin.clone(),
    }
}

/// Runs `bbctl ARGS` with the fleet's inventory, no terminal anywhere.
fn bbctl(fleet: &Fleet, args: &[&str]) -> Output {
    bbctl_with(fleet, &fleet.info.inventory, args)
}

fn bbctl_with(fleet: &Fleet, inventory: &std::path::Path, args: &[&str]) -> Output {
    Command::new(bbctl_bin(fleet))
        .args(args)
        .env("BBCTL_INVENTORY", inventory)
        .env_remove("BBCTL_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("bbctl runs")
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The command succeeded; its stdout as JSON of type `T`.
fn json_of<T: DeserializeOwned>(out: &Output) -> T {
    assert_eq!(out.status.code(), Some(0), "{}", describe(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The table row (a stdout line) that starts with `first_cell`.
fn table_row<'a>(text: &'a str, first_cell: &str) -> Option<&'a str> {
    text.lines().find(|l| {
        l.trim_start_matches(|c: char| !c.is_alphanumeric())
            .split_whitespace()
            .next()
            == Some(first_cell)
    })
}

#[test]
fn masters_list_matches_the_fleet() {
    let fleet = shared_fleet();
    let rows: Vec<MasterRow> = json_of(&bbctl(fleet, &["masters", "list", "-o", "json"]));
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    let expected: Vec<&str> = fleet.info.masters.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, expected);

    let rest = fleet.buildbot(0).list("masters", "masters").unwrap();
    let mut workers = 0;
    for (row, slot) in rows.iter().zip(&fleet.info.masters) {
        assert_eq!(row.state, RowState::Running, "{row:#?}");
        assert_eq!(row.active, Some(true), "{row:#?}");
        assert!(!row.standby && row.error.is_none(), "{row:#?}");
        assert_eq!(
            row.url.trim_end_matches('/'),
            slot.agent_url.trim_end_matches('/')
        );
        let name = row.buildbot_name.as_deref().expect("a Buildbot name");
        assert!(
            name.ends_with(&format!(":{}", slot.basedir.display())),
            "{row:#?}"
        );
        let rest_row = rest
            .iter()
            .find(|m| m["name"] == name)
            .expect("in /api/v2/masters");
        assert_eq!(row.masterid, rest_row["masterid"].as_i64(), "{row:#?}");
        assert_eq!(rest_row["active"], true);
        let info = row.master.as_ref().expect("the agent's MasterInfo");
        assert_eq!(row.workers, Some(info.workers.len()));
        assert_eq!(
            row.config_label.as_deref(),
            info.config.as_ref().map(|c| c.label.as_str())
        );
        workers += row.workers.unwrap();
    }
    // Every worker of the fleet is attached to exactly one master.
    assert_eq!(workers, fleet.info.workers.len());

    let out = bbctl(fleet, &["masters", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let table = stdout(&out);
    assert!(
        !table.contains('\x1b'),
        "no colours in piped output: {table}"
    );
    for row in &rows {
        let line =
            table_row(&table, &row.name).unwrap_or_else(|| panic!("no row {}:\n{table}", row.name));
        assert!(line.contains("running"), "{line}");
    }
}

#[test]
fn masters_show_one_master() {
    let fleet = shared_fleet();
    let row: MasterRow = json_of(&bbctl(
        fleet,
        &["masters", "show", "master-1", "-o", "json"],
    ));
    assert_eq!(row.name, "master-1");
    assert_eq!(row.state, RowState::Running);
    let info: MasterInfo = row.master.expect("the agent's MasterInfo");
    let direct: MasterInfo =
        AgentClient::new(&fleet.info.masters[0].agent_url, &fleet.token().unwrap())
            .get("/v1/master")
            .unwrap();
    assert_eq!(info.agent_name, "master-1");
    assert_eq!(
        (info.masterid, &info.buildbot_name),
        (direct.masterid, &direct.buildbot_name)
    );

    let out = bbctl(fleet, &["masters", "show", "master-1"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    assert!(
        text.contains("master-1") && text.contains(info.buildbot_name.as_deref().unwrap()),
        "{text}"
    );
    for w in &direct.workers {
        assert!(text.contains(&w.name), "worker {} missing:\n{text}", w.name);
    }

    let out = bbctl(fleet, &["masters", "show", "master-99"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("master-99") && err.contains("master-1"),
        "{err}"
    );
}

/// workers list / builds list against REST while a forced build runs; returns the mismatches.
fn workers_and_builds_mismatches(fleet: &Fleet, buildid: i64) -> anyhow::Result<Vec<String>> {
    let workers: Vec<WorkerRow> =
        serde_json::from_slice(&bbctl(fleet, &["workers", "list", "-o", "json"]).stdout)?;
    let builds: Vec<BuildRow> =
        serde_json::from_slice(&bbctl(fleet, &["builds", "list", "-o", "json"]).stdout)?;
    let bb = fleet.buildbot(0);
    let rest_workers = bb.list("workers", "workers")?;
    let rest_builds = bb.list("builds?complete=false", "builds")?;
    let mut out = Vec::new();

    let cli: BTreeMap<String, (Option<i64>, BTreeSet<i64>)> = workers
        .iter()
        .map(|w| {
            (
                w.name.clone(),
                (w.masterid, w.builds.iter().copied().collect()),
            )
        })
        .collect();
    let rest: BTreeMap<String, (Option<i64>, BTreeSet<i64>)> = rest_workers
        .iter()
        .map(|w| {
            let id = w["workerid"].as_i64().unwrap();
            let master = w["connected_to"][0]["masterid"].as_i64();
            let running = rest_builds
                .iter()
                .filter(|b| b["workerid"] == id)
                .filter_map(|b| b["buildid"].as_i64());
            (
                w["name"].as_str().unwrap().to_owned(),
                (master, running.collect()),
            )
        })
        .collect();
    if cli != rest {
        out.push(format!("workers: bbctl {cli:?} != REST {rest:?}"));
    }
    for w in &workers {
        let want = if w.builds.is_empty() { "idle" } else { "busy" };
        if w.state != want
            || (w.masterid.is_some()
                && w.master
                    .as_deref()
                    .is_none_or(|m| !m.starts_with("master-")))
        {
            out.push(format!("worker row inconsistent: {w:?}"));
        }
    }

    let cli: BTreeMap<i64, (Option<i64>, Option<i64>)> = builds
        .iter()
        .map(|b| (b.buildid, (b.masterid, b.started_at)))
        .collect();
    let rest: BTreeMap<i64, (Option<i64>, Option<i64>)> = rest_builds
        .iter()
        .map(|b| {
            (
                b["buildid"].as_i64().unwrap(),
                (b["masterid"].as_i64(), b["started_at"].as_i64()),
            )
        })
        .collect();
    if cli != rest {
        out.push(format!("builds: bbctl {cli:?} != REST {rest:?}"));
    }
    match builds.iter().find(|b| b.buildid == buildid) {
        Some(b) if b.builder.as_deref() == Some("sleep") && b.worker.is_some() => {}
        other => out.push(format!("our build {buildid} not listed right: {other:?}")),
    }
    Ok(out)
}

#[test]
fn workers_and_builds_match_rest_while_a_build_runs() {
    let fleet = shared_fleet();
    let bb = fleet.buildbot(1);
    let forced = bb.force("sleep", &[("duration", "10")]).unwrap();
    let build: Value = wait_until("our build to start", Duration::from_secs(30), || {
        let rows = bb.list(
            &format!("builds?buildrequestid={}", forced.buildrequestid),
            "builds",
        )?;
        Ok(rows.into_iter().next())
    })
    .unwrap();
    let buildid = build["buildid"].as_i64().unwrap();

    let mut last = Vec::new();
    wait_until(
        "bbctl workers/builds list to match REST",
        Duration::from_secs(8),
        || {
            last = workers_and_builds_mismatches(fleet, buildid)?;
            Ok(last.is_empty().then_some(()))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\nlast differences:\n{}", last.join("\n")));

    let out = bbctl(fleet, &["builds", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout(&out);
    let line = table_row(&text, &buildid.to_string())
        .unwrap_or_else(|| panic!("no row {buildid}:\n{text}"));
    assert!(line.contains("sleep"), "{line}");

    let outcome = bb
        .wait_complete(forced.buildrequestid, BUILD_TIMEOUT)
        .unwrap();
    assert_eq!(outcome.results, 0, "{outcome:#?}");
}

/// `sh -c SCRIPT` with `$BBCTL` and the inventory set; returns (exit code, stdout).
fn shell(fleet: &Fleet, script: &str) -> (Option<i32>, String) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("BBCTL", bbctl_bin(fleet))
        .env("BBCTL_INVENTORY", &fleet.info.inventory)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.code(), stdout(&out).trim().to_owned())
}

#[test]
fn json_output_pipes_into_jq() {
    let fleet = shared_fleet();
    let n = fleet.info.workers.len();
    for (script, expected) in [
        (
            r#""$BBCTL" masters list -o json | jq -e '.[0].name'"#,
            r#""master-1""#.to_owned(),
        ),
        (
            r#""$BBCTL" masters list -o json | jq -e 'map(.state == "running") | all'"#,
            "true".into(),
        ),
        (
            r#""$BBCTL" masters show master-2 -o json | jq -r .master.agent_name"#,
            "master-2".into(),
        ),
        (
            r#""$BBCTL" workers list -o json | jq -e length"#,
            n.to_string(),
        ),
        (
            r#""$BBCTL" builds list -o json | jq -e 'type'"#,
            r#""array""#.into(),
        ),
    ] {
        assert_eq!(shell(fleet, script), (Some(0), expected), "{script}");
    }
}

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
    let agent = AgentClient::new(&fleet.info.masters[0].agent_url, &fleet.token().unwrap());
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

/// `drain status -o json` (docs/cli.md: DrainRow, the agent's `DrainStatus` flattened).
#[derive(Debug, Deserialize)]
struct DrainRow {
    master: String,
    #[serde(flatten)]
    status: bbctl_api::DrainStatus,
}

/// Draining mutates the fleet for good: a fleet of its own (2 masters, 2 workers).
#[test]
fn drain_detach_then_status_tracks_it() {
    let fleet = Fleet::up(FleetOptions {
        masters: 2,
        standby: 0,
        workers: 2,
    })
    .unwrap();
    let agent = AgentClient::new(&fleet.info.masters[1].agent_url, &fleet.token().unwrap());
    let before: MasterInfo = agent.get("/v1/master").unwrap();
    let masterid = before.masterid.unwrap();

    let rows: Vec<DrainRow> = json_of(&bbctl(
        &fleet,
        &[
            "drain", "master-2", "--detach", "--reason", "e2e", "-o", "json",
        ],
    ));
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].master, "master-2");
    assert_eq!(rows[0].status.reason.as_deref(), Some("e2e"));
    let id = rows[0].status.id;

    let done = wait_until(
        "bbctl drain status master-2 to say drained",
        Duration::from_secs(90),
        || {
            let row: DrainRow = serde_json::from_slice(
                &bbctl(&fleet, &["drain", "status", "master-2", "-o", "json"]).stdout,
            )?;
            anyhow::ensure!(
                row.master == "master-2" && row.status.id == id,
                "another drain: {row:?}"
            );
            Ok((row.status.phase == DrainPhase::Drained).then_some(row))
        },
    )
    .unwrap();
    assert_eq!(
        (done.status.builds_running, done.status.workers_attached),
        (0, 0),
        "{done:#?}"
    );
    assert!(done.status.finished_at.is_some(), "{done:#?}");
    let handed: BTreeSet<&str> = done
        .status
        .workers_handed_off
        .iter()
        .map(|h| h.worker.as_str())
        .collect();
    let had: BTreeSet<&str> = before.workers.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(handed, had, "{done:#?}");

    // The fleet agrees: master-2 inactive and stopped, every worker on master-1.
    let masters = fleet.buildbot(0).list("masters", "masters").unwrap();
    assert!(
        masters
            .iter()
            .any(|m| m["masterid"] == masterid && m["active"] == false),
        "{masters:?}"
    );
    let rows: Vec<MasterRow> =
        serde_json::from_slice(&bbctl(&fleet, &["masters", "list", "-o", "json"]).stdout).unwrap();
    assert_eq!(rows[1].state, RowState::Drained, "{rows:#?}");
    assert_eq!(rows[0].workers, Some(fleet.info.workers.len()), "{rows:#?}");
}
