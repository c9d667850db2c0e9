//! `bbctl upgrade` across a DB schema change (issue 13, the `migrate` strategy) on a real fleet
//! started on Buildbot 4.2.1 (schema head 066) and upgraded to 4.3.0 (067). One fleet (2 masters,
//! 2 standby slots) serves, in turn: the agent refusing to migrate while a master runs; a
//! migration that fails before touching the DB (rolled back, nothing restored); one that is
//! applied and then reported failed (rolled back, the backup restored); and the real upgrade onto
//! the standby slots. Builds forced before, during the no-service window and after each end
//! SUCCESS exactly once. The schema head is read from PostgreSQL directly, the running version
//! from each master's own web UI. `migrate_inplace.rs` has the in-place topology with `bbctl`
//! SIGKILLed twice.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use bbctl_e2e::venv::{
    BUILDBOT_NEW, BUILDBOT_OLD, MigrationFailure, buildbot_venv, failing_migration_venv,
};
use bbctl_e2e::{Fleet, FleetOptions};
use serde_json::{Value, json};

use crate::support::*;

/// `bbctl upgrade --new-config <v2> --buildbot <buildbot> --yes --reason <reason>`, spawned with
/// its output captured.
pub fn spawn_upgrade(fleet: &Fleet, buildbot: &Path, reason: &str) -> Child {
    let v2 = fleet.info.master_cfg_v2.to_str().unwrap();
    fleet
        .bbctl_cmd(&[
            "upgrade",
            "--new-config",
            v2,
            "--buildbot",
            buildbot.to_str().unwrap(),
            "--yes",
            "--reason",
            reason,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bbctl upgrade")
}

/// Waits until the running upgrade (bbctl `child`) quiesces its old masters or waits for them to
/// stop, then forces `count` short builds through a master that still answers: they wait in the
/// DB for the new masters. Returns the upgrade id and the requests. Fails with bbctl's output if
/// it ends first.
pub fn force_during_window(fleet: &Fleet, child: &mut Child, count: u64) -> (String, Vec<i64>) {
    let started = Instant::now();
    loop {
        if let Some(j) = journal(fleet, None)
            && j["phase"] == "running"
            && let Some(step) = running_step(&j)
            && (step.starts_with("quiesce") || step.starts_with("wait_stopped"))
        {
            let requests = (0..count)
                .map(|i| force_anywhere(fleet, "sleep", 2 + i))
                .collect();
            eprintln!("forced during `{step}`: {requests:?}");
            return (j["id"].as_str().unwrap().to_string(), requests);
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut said = String::new();
            for pipe in [
                child.stdout.take().map(|p| Box::new(p) as Box<dyn Read>),
                child.stderr.take().map(|p| Box::new(p) as Box<dyn Read>),
            ]
            .into_iter()
            .flatten()
            {
                let mut pipe = pipe;
                pipe.read_to_string(&mut said).unwrap();
            }
            panic!("bbctl upgrade ended ({status}) before its window:\n{said}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the upgrade never quiesced: {:#}",
            journal(fleet, None).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `masters list` rows whose master runs, by name.
pub fn running(fleet: &Fleet) -> Vec<(String, Value)> {
    masters(fleet)
        .into_iter()
        .filter(|m| m["state"] == "running")
        .map(|m| (m["name"].as_str().unwrap().to_string(), m))
        .collect()
}

/// Every running master is one of `names` and runs Buildbot `version`, as both bbctl and the
/// master's own web UI say.
pub fn assert_running_on(fleet: &Fleet, names: &[&str], version: &str) {
    let rows = running(fleet);
    let got: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(got, names, "running masters");
    for (name, row) in &rows {
        assert_eq!(row["buildbot_version"], version, "{name}: {row}");
        let slot = fleet
            .info
            .masters
            .iter()
            .position(|m| &m.name == name)
            .unwrap();
        assert_eq!(
            fleet.buildbot(slot).served_version().unwrap(),
            version,
            "{name}'s web UI"
        );
    }
}

/// The journal's backup: the dump file exists with the recorded size and sha256.
pub fn assert_backup_file(j: &Value) {
    let backup = &j["migration"]["backup"];
    let location = backup["location"]
        .as_str()
        .unwrap_or_else(|| panic!("no backup: {j:#}"));
    let size = std::fs::metadata(location)
        .unwrap_or_else(|e| panic!("backup {location}: {e}"))
        .len();
    assert_eq!(backup["size_bytes"].as_u64(), Some(size), "{backup}");
    assert!(size > 0);
    assert_eq!(backup["head"], "066", "{backup}");
    let sum = std::process::Command::new("sha256sum")
        .arg(location)
        .output()
        .unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout);
    assert_eq!(
        backup["sha256"].as_str(),
        sum.split_whitespace().next(),
        "{backup}"
    );
}

fn wait_output(child: Child, what: &str, started: Instant) -> Output {
    let out = child.wait_with_output().unwrap();
    eprintln!("{what} in {:?}:\n{}", started.elapsed(), text(&out));
    out
}

#[test]
fn migrate_upgrade_onto_standby_slots_rolls_back_failed_migrations_and_loses_no_build() {
    let _serial = bbctl_e2e::serial();
    let started = Instant::now();
    let fleet = Fleet::up_on_buildbot(
        FleetOptions {
            masters: 2,
            standby: 2,
            workers: 2,
        },
        BUILDBOT_OLD,
    )
    .unwrap();
    eprintln!("4.2.1 fleet up in {:?}", started.elapsed());
    assert_eq!(fleet.db_head().unwrap(), "066");
    let new_venv = buildbot_venv(BUILDBOT_NEW);

    agent_refuses_to_migrate_under_a_running_master(&fleet, &new_venv);
    let mut requests = Vec::new();
    failed_migration_rolls_back(
        &fleet,
        &new_venv,
        MigrationFailure::NotApplied,
        &mut requests,
    );
    failed_migration_rolls_back(
        &fleet,
        &new_venv,
        MigrationFailure::AppliedThenFailed,
        &mut requests,
    );
    migrate_onto_standby_slots(&fleet, &new_venv, &mut requests);
    eprintln!("migrate e2e (standby topology) in {:?}", started.elapsed());
}

/// `POST /v1/buildbot-db/{backup,upgrade}` straight to an agent whose master runs: 409 naming
/// the active masters; the DB is untouched.
fn agent_refuses_to_migrate_under_a_running_master(fleet: &Fleet, new_venv: &Path) {
    let agent = fleet.agent(0);
    let info: Value = agent.get("/v1/master").unwrap();
    let names: Vec<String> = masters(fleet)
        .iter()
        .filter_map(|m| m["buildbot_name"].as_str().map(str::to_string))
        .take(2)
        .collect();
    let upgrade = json!({
        "upgrade_id": "e2e-refused",
        "config_sha256": info["config"]["sha256"],
        "buildbot": new_venv.join("bin/buildbot"),
        "from_head": "066",
        "to_head": "067",
        "reason": "e2e: must be refused",
    });
    let backup = json!({"upgrade_id": "e2e-refused", "reason": "e2e: must be refused"});
    for (path, body) in [
        ("/v1/buildbot-db/upgrade", &upgrade),
        ("/v1/buildbot-db/backup", &backup),
    ] {
        let (status, answer) = agent
            .request(reqwest::Method::POST, path, Some(body))
            .unwrap();
        assert_eq!(status, 409, "{path}: {answer:#}");
        assert_eq!(answer["error"]["code"], "conflict", "{answer:#}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            names.iter().any(|n| message.contains(n.as_str())),
            "{path}: the message names no active master ({names:?}): {message}"
        );
        let refused: Vec<&str> = answer["error"]["details"]["refusal"]["active_masters"]
            .as_array()
            .unwrap_or_else(|| panic!("no details.refusal.active_masters: {answer:#}"))
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        for n in &names {
            assert!(refused.contains(&n.as_str()), "{n} not in {refused:?}");
        }
    }
    let ops: Vec<Value> = agent.get("/v1/buildbot-db/ops/e2e-refused").unwrap();
    assert!(
        ops.is_empty(),
        "a refused operation left a record: {ops:#?}"
    );
    assert_eq!(fleet.db_head().unwrap(), "066");
    assert!(!fleet.db_has_table("codebases").unwrap());
}

/// An upgrade whose `upgrade-master` fails as `how` says: rolled back (exit 6), the old masters
/// serve 4.2.1 again, the DB at 066 (restored when the migration had been applied), and the
/// builds forced before and during the window complete exactly once.
fn failed_migration_rolls_back(
    fleet: &Fleet,
    new_venv: &Path,
    how: MigrationFailure,
    requests: &mut Vec<i64>,
) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let wrapper = failing_migration_venv(dir.path(), new_venv, how);
    // Long enough that the old masters still answer when the test sees the window open (its
    // look at the journal takes seconds on a busy machine).
    let before = force_anywhere(fleet, "sleep", 25);
    wait_started(fleet, &[before]);
    requests.push(before);
    let mut child = spawn_upgrade(
        fleet,
        &wrapper.join("bin/buildbot"),
        &format!("e2e {how:?}"),
    );
    let (id, during) = force_during_window(fleet, &mut child, 1);
    requests.extend(&during);
    let out = wait_output(child, &format!("{how:?}"), started);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));

    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    assert_eq!(
        calls.lines().filter(|l| *l == "upgrade-master").count(),
        1,
        "{calls}"
    );
    assert!(
        !calls.lines().any(|l| l == "start"),
        "no new master started: {calls}"
    );
    let j = journal(fleet, Some(&id)).unwrap();
    assert_eq!(j["phase"], "rolled_back", "{j:#}");
    assert_eq!(j["strategy"], "migrate", "{j:#}");
    let said = format!("{}\n{}", text(&out), j["message"]);
    let migration = &j["migration"];
    match how {
        MigrationFailure::NotApplied => {
            assert!(said.contains("migration not applied"), "{said}");
            assert_eq!(migration["migrate_state"], "not_applied", "{j:#}");
            assert!(migration["restored_at"].is_null(), "{j:#}");
        }
        MigrationFailure::AppliedThenFailed => {
            assert!(said.contains("DB restored"), "{said}");
            assert!(migration["restored_at"].as_f64().is_some(), "{j:#}");
            // The migrating agent saw 067 after upgrade-master; the coordinator restored 066.
            let ops = |agent: &str| -> Vec<Value> {
                let slot = fleet
                    .info
                    .masters
                    .iter()
                    .position(|m| m.name == agent)
                    .unwrap();
                fleet
                    .agent(slot)
                    .get(&format!("/v1/buildbot-db/ops/{id}"))
                    .unwrap()
            };
            let migrate_ops = ops(migration["migrate_agent"].as_str().unwrap());
            let upgrade = migrate_ops.iter().find(|o| o["kind"] == "upgrade").unwrap();
            assert_eq!(upgrade["head_after"], "067", "{upgrade:#}");
            let backup_ops = ops(migration["backup_agent"].as_str().unwrap());
            let restore = backup_ops.iter().find(|o| o["kind"] == "restore").unwrap();
            assert_eq!(restore["state"], "done", "{restore:#}");
            assert_eq!(restore["head_after"], "066", "{restore:#}");
        }
    }
    assert_backup_file(&j);
    assert_eq!(fleet.db_head().unwrap(), "066");
    assert!(!fleet.db_has_table("codebases").unwrap());
    assert_running_on(fleet, &["master-1", "master-2"], BUILDBOT_OLD);
    assert_success_once(fleet, requests);
    eprintln!(
        "{how:?}: rolled back and checked in {:?}",
        started.elapsed()
    );
}

/// The real upgrade: 4.2.1 → 4.3.0 onto the standby slots, builds before (one long), during
/// the window and after.
fn migrate_onto_standby_slots(fleet: &Fleet, new_venv: &Path, requests: &mut Vec<i64>) {
    let started = Instant::now();
    let long = force_anywhere(fleet, "sleep", 20);
    let short = force_anywhere(fleet, "sleep", 3);
    wait_started(fleet, &[long]);
    requests.extend([long, short]);
    let mut child = spawn_upgrade(fleet, &new_venv.join("bin/buildbot"), "e2e migrate");
    let (id, during) = force_during_window(fleet, &mut child, 2);
    requests.extend(&during);
    let out = wait_output(child, "migrate onto standby", started);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("migrate"), "{}", text(&out));
    assert!(
        stdout.contains("066") && stdout.contains("067"),
        "{}",
        text(&out)
    );

    let j = journal(fleet, Some(&id)).unwrap();
    assert_eq!(j["phase"], "succeeded", "{j:#}");
    assert_eq!(j["strategy"], "migrate", "{j:#}");
    let labels: Vec<String> = steps(&j).into_iter().map(|(l, _)| l).collect();
    assert_eq!(
        labels,
        [
            "preflight",
            "quiesce master-1,master-2",
            "wait_stopped master-1,master-2",
            "backup",
            "migrate",
            "start_new master-3",
            "start_new master-4",
            "verify"
        ],
        "{j:#}"
    );
    assert!(steps(&j).iter().all(|(_, s)| s == "done"), "{j:#}");
    assert_eq!(j["migration"]["from_head"], "066", "{j:#}");
    assert_eq!(j["migration"]["to_head"], "067", "{j:#}");
    assert!(j["migration"]["committed_at"].as_f64().is_some(), "{j:#}");
    assert_backup_file(&j);

    assert_eq!(fleet.db_head().unwrap(), "067");
    assert!(fleet.db_has_table("codebases").unwrap());
    assert_running_on(fleet, &["master-3", "master-4"], BUILDBOT_NEW);
    requests.extend([
        force_anywhere(fleet, "sleep", 2),
        force_anywhere(fleet, "sleep", 3),
    ]);
    let ran_on = assert_success_once(fleet, requests);
    eprintln!("requests {requests:?} ran on masters {ran_on:?}");
    let new_ids = running(fleet)
        .iter()
        .map(|(_, m)| m["masterid"].as_i64().unwrap())
        .collect();
    wait_workers_on(
        &any_live(fleet),
        &new_ids,
        "a 4.3.0 master",
        Duration::from_secs(60),
    );
    eprintln!(
        "migrate onto standby: done and checked in {:?}",
        started.elapsed()
    );
}
