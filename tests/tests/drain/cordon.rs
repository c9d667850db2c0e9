//! Issue 16, cordon: `bbctl cordon` / `uncordon` through the real binary on a real fleet (3
//! masters, 4 workers, HAProxy). A cordoned master hands its workers off as they go idle but
//! keeps running, active in Buildbot; builds forced meanwhile run elsewhere; after the uncordon it
//! takes workers again; a drain of a cordoned master continues from there and stops it.

use std::collections::BTreeSet;
use std::process::Output;
use std::time::Duration;

use bbctl_api::{DrainPhase, DrainStatus};
use bbctl_e2e::{Buildbot, Fleet, FleetOptions, output_text, pid_alive, wait_until};
use serde::Deserialize;
use serde_json::Value;

use super::support::*;

/// A `cordon` / `uncordon` / `drain` JSON row (docs/cli.md, DrainRow: `master` plus the
/// agent's `DrainStatus`, flattened).
#[derive(Debug, Deserialize)]
struct DrainRow {
    master: String,
    #[serde(flatten)]
    status: DrainStatus,
}

/// A `masters list -o json` row: only what this test reads.
#[derive(Debug, Deserialize)]
struct MasterRow {
    name: String,
    state: String,
}

fn ok(out: Output) -> Output {
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    out
}

fn rows(out: &Output) -> Vec<DrainRow> {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", output_text(out)))
}

fn state_of(fleet: &Fleet, name: &str) -> String {
    let out = ok(fleet.bbctl(&["masters", "list", "-o", "json"]));
    let rows: Vec<MasterRow> = serde_json::from_slice(&out.stdout).unwrap();
    rows.into_iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no row {name}: {}", output_text(&out)))
        .state
}

fn master_row(bb: &Buildbot, mid: i64) -> Value {
    bb.list("masters", "masters")
        .unwrap()
        .into_iter()
        .find(|m| m["masterid"].as_i64() == Some(mid))
        .unwrap_or_else(|| panic!("no masters row {mid}"))
}

/// Waits until exactly the workers `want` are attached to master `mid`.
fn wait_workers_on(bb: &Buildbot, mid: i64, want: &BTreeSet<String>, what: &str) {
    wait_until(what, Duration::from_secs(120), || {
        let now: BTreeSet<String> = workers_on(bb, mid).into_iter().collect();
        Ok((&now == want).then_some(()))
    })
    .unwrap();
}

#[test]
fn cordon_hands_workers_off_keeps_the_master_and_uncordon_takes_them_again() {
    let _serial = serial();
    let fleet = Fleet::up(FleetOptions::default()).unwrap();
    let bb = fleet.buildbot(2);
    let m1 = masterid(&fleet, &bb, 0);
    let m1_pid = twistd_pid(&fleet.info.masters[0].basedir).unwrap();
    let pids = worker_pids(&fleet);
    let all: BTreeSet<String> = fleet.info.workers.iter().map(|w| w.name.clone()).collect();

    // A build running on master-1 when it is cordoned finishes there.
    let busy = force_on(&bb, m1, "sleep", &[("duration", "12")]);
    let here = workers_on(&bb, m1);
    let out = ok(fleet.bbctl(&["cordon", "master-1", "--reason", "e2e cordon", "-o", "json"]));
    let row = &rows(&out)[0];
    assert_eq!(row.master, "master-1");
    assert_eq!(row.status.phase, DrainPhase::Cordoned, "{row:#?}");
    assert_eq!(row.status.reason.as_deref(), Some("e2e cordon"));
    assert_eq!(state_of(&fleet, "master-1"), "cordoned");

    // Builds forced meanwhile run elsewhere, once each.
    wait_workers_held(&bb, m1, &here);
    let during: Vec<_> = (0..2)
        .map(|_| bb.force("sleep", &[("duration", "2")]).unwrap())
        .collect();
    for f in during {
        for b in assert_clean_success(&bb, f) {
            assert_ne!(b["masterid"].as_i64(), Some(m1), "{b:#}");
        }
    }
    assert_clean_success(&bb, busy);

    // Every worker leaves (the busy one after its build); the master stays up and active.
    wait_workers_on(&bb, m1, &BTreeSet::new(), "every worker off master-1");
    let agent1 = agent(&fleet, 0);
    let st: DrainStatus = wait_until(
        "the cordon to report no worker attached, each seen on another master",
        Duration::from_secs(30),
        || {
            let st: DrainStatus = agent1.get("/v1/drain")?;
            let arrived = st
                .workers_handed_off
                .iter()
                .all(|h| h.attached_elsewhere_at.is_some());
            Ok((st.workers_attached == 0 && arrived).then_some(st))
        },
    )
    .unwrap();
    assert_eq!(st.phase, DrainPhase::Cordoned, "{st:#?}");
    assert_handed_off(&st, &here);
    assert!(pid_alive(m1_pid), "the cordoned master still runs");
    assert_eq!(
        twistd_pid(&fleet.info.masters[0].basedir),
        Some(m1_pid),
        "and was never restarted"
    );
    let row = master_row(&bb, m1);
    assert_eq!(row["active"], true, "{row:#}");
    assert_eq!(state_of(&fleet, "master-1"), "cordoned");
    assert_eq!(lb_server(&fleet, 0), "MAINT");
    assert!(paused_workers(&bb).is_empty(), "{:?}", paused_workers(&bb));

    // Uncordon: back in rotation. To see it take workers again, cordon the two others: every
    // worker can only go to master-1 now.
    let out = ok(fleet.bbctl(&["uncordon", "master-1", "-o", "json"]));
    assert_eq!(rows(&out)[0].status.phase, DrainPhase::Cancelled);
    wait_until("master-1 UP at HAProxy", Duration::from_secs(30), || {
        Ok((lb_server(&fleet, 0) == "UP").then_some(()))
    })
    .unwrap();
    assert_eq!(state_of(&fleet, "master-1"), "running");
    ok(fleet.bbctl(&["cordon", "master-2", "master-3", "--reason", "e2e"]));
    wait_workers_on(&bb, m1, &all, "every worker on master-1");
    let there = bb.force("sleep", &[("duration", "1")]).unwrap();
    for b in assert_clean_success(&bb, there) {
        assert_eq!(b["masterid"].as_i64(), Some(m1), "{b:#}");
    }

    // A drain of the cordoned master-3 continues its cordon (nothing is attached any more) and
    // stops it; master-2 is uncordoned.
    let m3_pid = twistd_pid(&fleet.info.masters[2].basedir).unwrap();
    let bb1 = fleet.buildbot(0);
    ok(fleet.bbctl(&["uncordon", "master-2"]));
    let out = ok(fleet.bbctl(&[
        "drain",
        "master-3",
        "--reason",
        "after cordon",
        "-o",
        "json",
    ]));
    let done = &rows(&out)[0];
    assert_eq!(done.status.phase, DrainPhase::Drained, "{done:#?}");
    assert!(done.status.cordoned_at.is_some(), "{done:#?}");
    assert!(!pid_alive(m3_pid), "the drained master stopped");
    assert_eq!(state_of(&fleet, "master-2"), "running");
    assert!(
        paused_workers(&bb1).is_empty(),
        "{:?}",
        paused_workers(&bb1)
    );
    assert_eq!(worker_pids(&fleet), pids, "no worker process restarted");
}
