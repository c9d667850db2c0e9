//! The `migrate` strategy in place (issue 13): a 4.2.1 fleet with no standby slot is upgraded to
//! 4.3.0 on its own slots, and `bbctl` is SIGKILLed twice on the way — while it waits for the old
//! masters to stop, and right after the backup — each time `bbctl upgrade resume` carries on.
//! The upgrade completes, no request runs twice or is lost (the one forced during the window is
//! recorded by id at the backup and found taken by verify), the DB is at 067 and every master
//! runs 4.3.0.

use std::time::{Duration, Instant};

use bbctl_e2e::venv::{BUILDBOT_NEW, BUILDBOT_OLD, buildbot_venv};
use bbctl_e2e::{Fleet, FleetOptions};

use crate::migrate::{assert_backup_file, assert_running_on, force_during_window, running};
use crate::support::*;

#[test]
fn migrate_upgrade_in_place_survives_sigkill_and_resume() {
    let _serial = bbctl_e2e::serial();
    let started = Instant::now();
    let fleet = Fleet::up_on_buildbot(
        FleetOptions {
            masters: 2,
            standby: 0,
            workers: 2,
        },
        BUILDBOT_OLD,
    )
    .unwrap();
    let new_exe = buildbot_venv(BUILDBOT_NEW).join("bin/buildbot");
    let mut requests = vec![
        // Long enough that the old masters still answer when the test sees the window open.
        force_anywhere(&fleet, "sleep", 25),
        force_anywhere(&fleet, "sleep", 2),
    ];
    wait_started(&fleet, &requests[..1]);
    let mut child = fleet.spawn_bbctl(&[
        "upgrade",
        "--new-config",
        fleet.info.master_cfg_v2.to_str().unwrap(),
        "--buildbot",
        new_exe.to_str().unwrap(),
        "--yes",
        "--reason",
        "e2e migrate in place",
    ]);

    // Killed while the old masters finish their builds; a build forced meanwhile waits.
    let (id, during) = force_during_window(&fleet, &mut child, 1);
    requests.extend(&during);
    let plan = steps(&journal(&fleet, Some(&id)).unwrap());
    let index = |prefix: &str| {
        plan.iter()
            .position(|(l, _)| l.starts_with(prefix))
            .unwrap()
    };
    assert_eq!(
        wait_step_reached(&fleet, &id, index("wait_stopped"), Duration::from_secs(60)).as_deref(),
        Some("running")
    );
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!("bbctl SIGKILLed during wait_stopped");
    child = fleet.spawn_bbctl(&["upgrade", "resume", &id, "--take-over"]);

    // Killed again as soon as the backup is done (the migration next, or under way).
    let migrate = index("migrate");
    let state = wait_step_reached(&fleet, &id, migrate, Duration::from_secs(120));
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!("bbctl SIGKILLed with migrate {state:?}");
    let out = fleet
        .bbctl_cmd(&["upgrade", "resume", &id, "--take-over"])
        .output()
        .unwrap();
    eprintln!("resumed in {:?}:\n{}", started.elapsed(), text(&out));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let j = journal(&fleet, Some(&id)).unwrap();
    assert_eq!(j["phase"], "succeeded", "{j:#}");
    assert_eq!(j["strategy"], "migrate", "{j:#}");
    assert!(steps(&j).iter().all(|(_, s)| s == "done"), "{j:#}");
    let labels: Vec<String> = steps(&j).into_iter().map(|(l, _)| l).collect();
    assert!(
        labels.contains(&"start_new master-1".to_string())
            && labels.contains(&"start_new master-2".to_string()),
        "in place: the new masters are the old slots: {labels:?}"
    );
    assert_backup_file(&j);
    // The request forced during the window waited in the DB at the backup, by id, and verify
    // found it taken.
    let pending = j["migration"]["window"]["pending_at_backup"]
        .as_array()
        .unwrap_or_else(|| panic!("pending_at_backup recorded: {j:#}"));
    for r in &during {
        assert!(pending.contains(&(*r).into()), "{r} in {pending:?}");
    }
    let verify = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "verify")
        .unwrap();
    assert!(
        verify["message"]
            .as_str()
            .unwrap()
            .contains("every request of the window taken"),
        "{verify:#}"
    );
    // One backup and one migration, whatever the kills: the agents' records say so.
    let ops: Vec<serde_json::Value> = (0..fleet.info.masters.len())
        .flat_map(|i| {
            fleet
                .agent(i)
                .get::<Vec<serde_json::Value>>(&format!("/v1/buildbot-db/ops/{id}"))
                .unwrap()
        })
        .collect();
    for kind in ["backup", "upgrade"] {
        assert_eq!(
            ops.iter().filter(|o| o["kind"] == kind).count(),
            1,
            "{kind}: {ops:#?}"
        );
    }
    assert!(!ops.iter().any(|o| o["kind"] == "restore"), "{ops:#?}");

    assert_eq!(fleet.db_head().unwrap(), "067");
    assert_running_on(&fleet, &["master-1", "master-2"], BUILDBOT_NEW);
    requests.push(force_anywhere(&fleet, "sleep", 2));
    assert_success_once(&fleet, &requests);
    let ids = running(&fleet)
        .iter()
        .map(|(_, m)| m["masterid"].as_i64().unwrap())
        .collect();
    wait_workers_on(
        &any_live(&fleet),
        &ids,
        "a 4.3.0 master",
        Duration::from_secs(60),
    );
    eprintln!(
        "migrate in place with two SIGKILLs: {:?}",
        started.elapsed()
    );
}
