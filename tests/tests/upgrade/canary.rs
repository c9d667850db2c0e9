//! Issue 16, the canary upgrade on real fleets (2 masters + 2 standby slots, 6 workers), builds
//! forced every 2 s throughout:
//! - a new configuration whose `sleep` builds raise in the master (EXCEPTION): the canary takes
//!   builds, the gate fails on them and on the tracebacks, the upgrade rolls back (exit 6); the
//!   old masters never stop (same pids, active all along), every request ends once — SUCCESS on
//!   the old masters, EXCEPTION on the canary — and every worker is back on an old master;
//! - master-v2.cfg: the gate passes after its window, the upgrade waits (`awaiting_promotion`,
//!   exit 0, the second standby slot not started), `bbctl upgrade promote` completes it; every
//!   request SUCCESS exactly once, every worker on a new master.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bbctl_e2e::{Fleet, FleetOptions, wait_until};
use serde_json::Value;

use super::support::*;

/// A step appended to `sleep` that raises in the master: its builds end EXCEPTION (4).
const RAISES: &str = r#"

# canary e2e: every build of `sleep` ends in EXCEPTION, raised in the master.
class CanaryRaises(steps.BuildStep):
    def run(self):
        raise RuntimeError("canary e2e: a step that raises in the master")


for _b in c["builders"]:
    if _b.name == "sleep":
        _b.factory.addStep(CanaryRaises(name="raises"))
"#;

fn pid(fleet: &Fleet, slot: usize) -> Option<u32> {
    let info: bbctl_api::MasterInfo = fleet.agent(slot).get("/v1/master").unwrap();
    info.process.pid.filter(|_| info.process.running)
}

fn masterid(fleet: &Fleet, slot: usize) -> i64 {
    let info: bbctl_api::MasterInfo = fleet.agent(slot).get("/v1/master").unwrap();
    info.masterid.unwrap()
}

/// Runs `cmd` to its end while forcing a 2 s `sleep` build every 2 s (and checking that the old
/// masters in `old` keep their pids); returns its status, its JSON events and the requests.
fn run_while_forcing(
    fleet: &Fleet,
    mut cmd: Command,
    old: &[(usize, u32)],
    dir: &Path,
    name: &str,
) -> (ExitStatus, Vec<Value>, String, Vec<i64>) {
    let out = dir.join(format!("{name}.out"));
    let err = dir.join(format!("{name}.err"));
    let mut child = cmd
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let mut requests = Vec::new();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "{name} still runs after 10 minutes"
        );
        requests.push(force_anywhere(fleet, "sleep", 2));
        for (slot, want) in old {
            assert_eq!(
                pid(fleet, *slot),
                Some(*want),
                "old master {slot} restarted or stopped"
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    let events = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (
        status,
        events,
        format!("stdout:\n{stdout}\nstderr:\n{stderr}"),
        requests,
    )
}

fn event<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events
        .iter()
        .rev()
        .find(|e| e["event"] == kind)
        .unwrap_or_else(|| panic!("no {kind} event in {events:#?}"))
}

fn fleet() -> Fleet {
    Fleet::up(FleetOptions {
        masters: 2,
        standby: 2,
        workers: 6,
    })
    .unwrap()
}

#[test]
fn a_canary_whose_builds_raise_is_rolled_back_while_the_old_masters_serve() {
    let _serial = bbctl_e2e::serial();
    let fleet = fleet();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("master.cfg");
    let v2 =
        std::fs::read_to_string(fleet.info.master_cfg.with_file_name("master-v2.cfg")).unwrap();
    std::fs::write(&bad, format!("{v2}{RAISES}")).unwrap();
    let old = [(0, pid(&fleet, 0).unwrap()), (1, pid(&fleet, 1).unwrap())];
    let old_ids = BTreeSet::from([masterid(&fleet, 0), masterid(&fleet, 1)]);

    let cmd = fleet.bbctl_cmd(&[
        "upgrade",
        "--new-config",
        bad.to_str().unwrap(),
        "--canary",
        "1",
        "--analysis-window",
        "5m",
        "--analysis-builds",
        "2",
        "--auto-promote",
        "--yes",
        "--reason",
        "e2e canary that raises",
        "-o",
        "json",
    ]);
    let (status, events, text, requests) = run_while_forcing(&fleet, cmd, &old, dir.path(), "bad");
    assert_eq!(status.code(), Some(6), "{text}");

    // The gate's decision and its numbers.
    let gate = &event(&events, "gate")["data"];
    assert_eq!(gate["verdict"], "fail", "{gate:#}");
    assert_eq!(gate["ended_by"], "builds", "{gate:#}");
    assert_eq!(gate["canary"]["masters"], serde_json::json!(["master-3"]));
    assert!(
        gate["canary"]["exception"].as_u64().unwrap() >= 2,
        "{gate:#}"
    );
    assert_eq!(gate["old"]["exception"], 0, "{gate:#}");
    assert!(
        gate["canary"]["tracebacks"].as_u64().unwrap() >= 1,
        "{gate:#}"
    );
    let evidence = gate["evidence"].to_string();
    assert!(
        evidence.contains("RuntimeError: canary e2e: a step that raises in the master"),
        "the traceback's exception line from master-3's log: {gate:#}"
    );
    let finished = event(&events, "finished");
    assert_eq!(finished["data"]["phase"], "rolled_back", "{text}");
    let j = journal(&fleet, None).unwrap();
    assert_eq!(j["phase"], "rolled_back");
    assert_eq!(j["canary"]["decision"]["verdict"], "fail");

    // The old masters never stopped (their pids were checked every 2 s), and are active.
    for (slot, want) in old {
        assert_eq!(pid(&fleet, slot), Some(want));
    }
    assert_eq!(pid(&fleet, 2), None, "the canary stopped");
    assert_eq!(
        pid(&fleet, 3),
        None,
        "the second standby slot never started"
    );
    let rest = any_live(&fleet);
    let active: BTreeSet<i64> = rest
        .list("masters", "masters")
        .unwrap()
        .iter()
        .filter(|m| m["active"] == true)
        .filter_map(|m| m["masterid"].as_i64())
        .collect();
    assert_eq!(active, old_ids);

    // Every request ended once: SUCCESS on an old master, EXCEPTION on the canary.
    let mut on_canary = 0;
    for r in &requests {
        let outcome = rest.wait_complete(*r, BUILD_TIMEOUT).unwrap();
        assert_eq!(outcome.builds.len(), 1, "request {r}: {:?}", outcome.builds);
        let m = outcome.builds[0]["masterid"].as_i64().unwrap();
        if old_ids.contains(&m) {
            assert_eq!(
                outcome.results, 0,
                "request {r} on an old master: {:?}",
                outcome.builds
            );
        } else {
            on_canary += 1;
            assert_eq!(
                outcome.results, 4,
                "request {r} on the canary: {:?}",
                outcome.builds
            );
        }
    }
    assert!(on_canary >= 2, "the canary ran {on_canary} build(s)");
    wait_workers_on(&rest, &old_ids, "the old masters", Duration::from_secs(120));
}

#[test]
fn a_healthy_canary_waits_for_promotion_then_completes() {
    let _serial = bbctl_e2e::serial();
    let fleet = fleet();
    let dir = tempfile::tempdir().unwrap();
    let v2 = fleet.info.master_cfg.with_file_name("master-v2.cfg");
    let old = [(0, pid(&fleet, 0).unwrap()), (1, pid(&fleet, 1).unwrap())];

    let cmd = fleet.bbctl_cmd(&[
        "upgrade",
        "--new-config",
        v2.to_str().unwrap(),
        "--canary",
        "1",
        "--analysis-window",
        "45s",
        "--yes",
        "--reason",
        "e2e healthy canary",
        "-o",
        "json",
    ]);
    let (status, events, text, mut requests) =
        run_while_forcing(&fleet, cmd, &old, dir.path(), "good");
    assert_eq!(status.code(), Some(0), "{text}");
    // The plan says what the old masters leave unowned when they stop.
    let note = event(&events, "note")["message"].as_str().unwrap();
    assert!(note.contains(" owns scheduler "), "{note}");
    let gate = &event(&events, "gate")["data"];
    assert_eq!(gate["verdict"], "pass", "{gate:#}");
    assert_eq!(gate["ended_by"], "window", "{gate:#}");
    assert!(
        gate["canary"]["finished"].as_u64().unwrap() >= 1,
        "{gate:#}"
    );
    assert_eq!(gate["canary"]["exception"], 0, "{gate:#}");
    assert_eq!(
        event(&events, "finished")["data"]["phase"],
        "awaiting_promotion",
        "{text}"
    );
    let j = journal(&fleet, None).unwrap();
    let id = j["id"].as_str().unwrap().to_owned();
    assert_eq!(j["phase"], "awaiting_promotion");
    assert!(pid(&fleet, 2).is_some(), "the canary serves");
    assert_eq!(
        pid(&fleet, 3),
        None,
        "the other new master waits for the promotion"
    );

    let cmd = fleet.bbctl_cmd(&["upgrade", "promote", &id, "-o", "json"]);
    let (status, events, text, more) = run_while_forcing(&fleet, cmd, &[], dir.path(), "promote");
    requests.extend(more);
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(events.iter().any(|e| e["event"] == "promoted"), "{text}");
    assert_eq!(
        event(&events, "finished")["data"]["phase"],
        "succeeded",
        "{text}"
    );
    let j = journal(&fleet, Some(&id)).unwrap();
    assert_eq!(j["phase"], "succeeded");
    assert!(j["canary"]["promoted_by"].is_string(), "{j:#}");

    assert_eq!(
        (pid(&fleet, 0), pid(&fleet, 1)),
        (None, None),
        "old masters drained"
    );
    let new_ids = BTreeSet::from([masterid(&fleet, 2), masterid(&fleet, 3)]);
    assert_success_once(&fleet, &requests);
    let rest = any_live(&fleet);
    wait_until(
        "every worker on a new master",
        Duration::from_secs(120),
        || {
            Ok(worker_masters(&rest)
                .is_some_and(|on| on.iter().all(|m| new_ids.contains(m)))
                .then_some(()))
        },
    )
    .unwrap();
}
