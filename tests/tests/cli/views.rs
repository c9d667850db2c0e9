//! The read-only views against the shared fleet: `masters list`, `masters show`, `workers list`,
//! `builds list` (JSON and tables) compared with Buildbot's REST API, and `jq` pipelines.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use bbctl_api::MasterInfo;
use bbctl_e2e::{Fleet, shared_fleet, wait_until};
use serde_json::Value;

use crate::rows::{BuildRow, MasterRow, RowState, WorkerRow};
use crate::{BUILD_TIMEOUT, bbctl, bbctl_bin, describe, json_of, stdout, table_row};

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
        let exe = row.buildbot_executable.as_deref().expect("the executable");
        assert!(exe.ends_with("/bin/buildbot"), "{row:#?}");
        assert_eq!(info.buildbot_executable.as_deref(), Some(exe));
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
    let direct: MasterInfo = fleet.agent(0).get("/v1/master").unwrap();
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
    // Long enough that a loaded machine still lists it as running while the views converge.
    let forced = bb.force("sleep", &[("duration", "30")]).unwrap();
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
        Duration::from_secs(25),
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
