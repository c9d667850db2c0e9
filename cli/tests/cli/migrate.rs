//! `upgrade` across a DB schema change (`--strategy migrate`), through the real binary against
//! fake agents sharing one fake Buildbot DB: the whole upgrade, the refusals (a downgrade, a
//! SQLite DB, blue-green forced across a migration) and a migration that did not apply.

use std::sync::{Arc, Mutex};

use bbctl_api::*;
use serde_json::Value;

use crate::fake_agent::{FakeAgent, FakeDb};
use crate::fake_upgrade::{self, UpgradeState};
use crate::support::Fleet;

pub(crate) const OLD: &str = "/opt/buildbot-4.2.1/bin/buildbot";
const NEW_VENV: &str = "/opt/buildbot-4.3.0";
pub(crate) const NEW: &str = "/opt/buildbot-4.3.0/bin/buildbot";

/// Fake agents for an upgrade: `running` masters on `exe`, then `standby` idle slots, one DB.
pub(crate) struct MigrateFleet {
    pub(crate) fleet: Fleet,
    pub(crate) upgrades: Vec<Arc<Mutex<UpgradeState>>>,
    db: Arc<Mutex<FakeDb>>,
    cfg: tempfile::TempDir,
}

impl MigrateFleet {
    pub(crate) fn new(running: usize, standby: usize, exe: &str, db: FakeDb) -> MigrateFleet {
        let db = Arc::new(Mutex::new(db));
        let (version, head) = if exe == OLD {
            ("4.2.1", "066")
        } else {
            ("4.3.0", "067")
        };
        let mut agents = Vec::new();
        let mut upgrades = Vec::new();
        let mut entries = Vec::new();
        for i in 1..=running + standby {
            let name = format!("master-{i}");
            let state = if i <= running {
                MasterState::Running
            } else {
                MasterState::Stopped
            };
            let upgrade = Arc::new(Mutex::new(UpgradeState::default()));
            {
                let mut u = upgrade.lock().unwrap();
                u.codes.insert(OLD.into(), ("4.2.1".into(), "066".into()));
                u.codes.insert(NEW.into(), ("4.3.0".into(), "067".into()));
            }
            let u = upgrade.clone();
            let agent =
                FakeAgent::start_with(&name, i as i64, state, move |s| fake_upgrade::router(s, u));
            agent.with(|s| {
                s.db = db.clone();
                s.master.buildbot_executable = Some(exe.into());
                s.master.buildbot_version = Some(version.into());
                s.master.buildbot_db_head = Some(head.into());
                s.master.config.as_mut().unwrap().label = "v1".into();
                // After the upgrade, Buildbot sees one worker on the first new master.
                let first_new = if standby > 0 { running + 1 } else { 1 } as i64;
                s.fleet.masters.retain(|m| m.masterid != 7);
                s.fleet.workers = vec![WorkerInfo {
                    workerid: 1,
                    name: "w1".into(),
                    connected_to: vec![first_new],
                    paused: false,
                    pause_reason: None,
                    builds: vec![],
                }];
                s.fleet.builds = vec![];
            });
            entries.push((name, agent.url(), i > running));
            agents.push(agent);
            upgrades.push(upgrade);
        }
        let dir = tempfile::tempdir().unwrap();
        let fleet = Fleet { agents, dir };
        fleet.write_inventory(&entries);
        let cfg = tempfile::tempdir().unwrap();
        std::fs::write(
            cfg.path().join("master.cfg"),
            "c = BuildmasterConfig = {}\n",
        )
        .unwrap();
        MigrateFleet {
            fleet,
            upgrades,
            db,
            cfg,
        }
    }

    pub(crate) fn upgrade(&self, extra: &[&str]) -> crate::support::Run {
        let cfg = self.cfg.path().join("master.cfg");
        let mut args = vec!["upgrade", "--new-config", cfg.to_str().unwrap(), "--yes"];
        args.extend_from_slice(extra);
        self.fleet.bbctl(&args)
    }

    /// The journal the coordinator (master-1) keeps.
    pub(crate) fn journal(&self) -> Option<Value> {
        let u = self.upgrades[0].lock().unwrap();
        let store = u.store.lock().unwrap();
        store.journals.values().next().map(|r| r.doc.clone())
    }

    fn steps(&self) -> Vec<String> {
        let j = self.journal().expect("a journal");
        j["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{} {}",
                    s["step"].as_str().unwrap(),
                    s["state"].as_str().unwrap()
                )
            })
            .collect()
    }

    fn db_posts(&self) -> Vec<(String, DbOpKind)> {
        self.db.lock().unwrap().posts.clone()
    }

    fn head(&self) -> Option<String> {
        self.db.lock().unwrap().info.as_ref()?.db_head.clone()
    }

    /// Stops, starts, drains and activations asked of any agent.
    fn touched(&self) -> usize {
        let agents: usize = self
            .fleet
            .agents
            .iter()
            .map(|a| {
                a.with(|s| s.stop_requests.len() + s.start_requests.len() + s.drain_requests.len())
            })
            .sum();
        let activations: usize = self
            .upgrades
            .iter()
            .map(|u| u.lock().unwrap().activations.len())
            .sum();
        agents + activations
    }
}

pub(crate) fn names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("host:/srv/master-{i}")).collect()
}

#[test]
fn a_migrate_upgrade_stops_backs_up_migrates_and_starts_the_new_masters() {
    let f = MigrateFleet::new(2, 2, OLD, FakeDb::postgresql("066", &names(4)));
    let run = f.upgrade(&["--buildbot", NEW_VENV]).expect(0);
    assert!(
        run.stdout
            .contains("migrate (chosen: DB schema 066 -> 067)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("066 -> unknown"),
        "the plan before staging says the new head is not known yet: {}",
        run.stdout
    );
    assert_eq!(
        f.steps(),
        [
            "preflight done",
            "quiesce done",
            "wait_stopped done",
            "backup done",
            "migrate done",
            "start_new done",
            "start_new done",
            "verify done"
        ]
    );
    assert_eq!(
        f.db_posts(),
        [
            ("master-1".to_string(), DbOpKind::Backup),
            ("master-3".to_string(), DbOpKind::Upgrade)
        ],
        "backup on the coordinator, upgrade-master on the first new master's agent"
    );
    assert_eq!(f.head().as_deref(), Some("067"));
    let j = f.journal().unwrap();
    assert_eq!(j["strategy"], "migrate");
    assert_eq!(j["phase"], "succeeded");
    let m = &j["migration"];
    let location = format!("/state/db-backups/{}-066.dump", j["id"].as_str().unwrap());
    assert_eq!(m["backup"]["location"], location.as_str());
    assert_eq!(m["backup"]["sha256"], "5".repeat(64));
    assert_eq!(m["backup"]["agent"], "master-1");
    assert!(m["committed_at"].is_f64(), "{m}");
    assert!(m["window"]["first_new_ready_at"].is_f64(), "{m}");
    for i in [0, 1] {
        let (running, graceful) = f.fleet.agent(i).with(|s| {
            (
                s.master.process.running,
                s.stop_requests.iter().all(|r| r.mode == StopMode::Graceful),
            )
        });
        assert!(!running && graceful, "old master {i} stopped gracefully");
    }
    for i in [2, 3] {
        let (running, exe) = f.fleet.agent(i).with(|s| {
            (
                s.master.process.running,
                s.master.buildbot_executable.clone(),
            )
        });
        assert!(running);
        assert_eq!(exe.as_deref(), Some(NEW));
    }
    assert!(run.stdout.contains("No-service window"), "{}", run.stdout);
    assert!(run.stdout.contains("sha256 5555"), "{}", run.stdout);
}

#[test]
fn verify_checks_by_id_that_the_requests_waiting_through_the_window_were_taken() {
    let mut db = FakeDb::postgresql("066", &names(2));
    // Waiting in the DB while the old masters are stopped; the new masters claim them when
    // they start (the fake's start does).
    db.info.as_mut().unwrap().unclaimed_requests = Some(vec![41, 42]);
    let f = MigrateFleet::new(1, 1, OLD, db);
    f.upgrade(&["--buildbot", NEW_VENV]).expect(0);
    let j = f.journal().unwrap();
    assert_eq!(
        j["migration"]["window"]["pending_at_backup"],
        serde_json::json!([41, 42])
    );
    assert_eq!(j["migration"]["window"]["unclaimed_at_verify"], 0);
    let verify = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "verify")
        .unwrap();
    let message = verify["message"].as_str().unwrap();
    assert!(
        message.contains("every request of the window taken (2 waited)"),
        "{message}"
    );
    assert_eq!(j["findings"], serde_json::json!([]), "{j}");
}

#[test]
fn a_migration_that_did_not_apply_starts_the_old_masters_again() {
    let mut db = FakeDb::postgresql("066", &names(2));
    db.upgrade_ends = DbOpState::NotApplied;
    let f = MigrateFleet::new(2, 0, OLD, db);
    let run = f.upgrade(&["--buildbot", NEW_VENV]).expect(6);
    assert!(
        run.stderr.contains("migration not applied"),
        "{}",
        run.stderr
    );
    let j = f.journal().unwrap();
    assert_eq!(j["phase"], "rolled_back");
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .starts_with("rolled back: migration not applied"),
        "{}",
        j["message"]
    );
    assert_eq!(f.head().as_deref(), Some("066"));
    assert!(
        !f.db_posts().iter().any(|(_, k)| *k == DbOpKind::Restore),
        "nothing to restore"
    );
    for i in [0, 1] {
        let (running, exe) = f.fleet.agent(i).with(|s| {
            (
                s.master.process.running,
                s.master.buildbot_executable.clone(),
            )
        });
        assert!(running, "old master {i} runs again");
        assert_eq!(exe.as_deref(), Some(OLD), "on its old Buildbot");
    }
}

#[test]
fn a_migration_that_applied_and_failed_is_rolled_back_by_a_restore() {
    let mut db = FakeDb::postgresql("066", &names(2));
    db.upgrade_ends = DbOpState::Failed;
    let f = MigrateFleet::new(2, 0, OLD, db);
    let run = f.upgrade(&["--buildbot", NEW_VENV]).expect(6);
    let j = f.journal().unwrap();
    let message = j["message"].as_str().unwrap();
    assert!(
        message.starts_with("rolled back: DB restored from /state/db-backups/"),
        "{message}\n{}",
        run.stderr
    );
    assert!(message.contains("sha256 5555"), "{message}");
    assert_eq!(f.head().as_deref(), Some("066"));
    assert!(j["migration"]["restored_at"].is_f64());
    assert!(f.fleet.agent(0).with(|s| s.master.process.running));
}

#[test]
fn a_downgrade_is_refused_before_anything_is_touched() {
    let f = MigrateFleet::new(2, 1, NEW, FakeDb::postgresql("067", &names(3)));
    let run = f.upgrade(&["--buildbot", "/opt/buildbot-4.2.1"]).expect(5);
    assert!(run.stderr.contains("a downgrade"), "{}", run.stderr);
    assert!(run.stderr.contains("restore"), "{}", run.stderr);
    assert_eq!(f.touched(), 0, "nothing stopped, started or activated");
    assert!(f.db_posts().is_empty());
    assert!(f.journal().is_none(), "no journal");
}

#[test]
fn a_sqlite_db_is_refused() {
    let mut db = FakeDb::postgresql("066", &names(2));
    db.info.as_mut().unwrap().backend = "sqlite".into();
    let f = MigrateFleet::new(2, 0, OLD, db);
    let run = f.upgrade(&["--buildbot", NEW_VENV]).expect(5);
    assert!(
        run.stderr
            .contains("migrate supports PostgreSQL Buildbot DBs only (this fleet: sqlite)"),
        "{}",
        run.stderr
    );
    assert_eq!(f.touched(), 0);
    assert!(f.db_posts().is_empty());
}

#[test]
fn blue_green_forced_across_a_migration_is_refused() {
    let f = MigrateFleet::new(1, 1, OLD, FakeDb::postgresql("066", &names(2)));
    let run = f
        .upgrade(&["--buildbot", NEW_VENV, "--strategy", "blue-green"])
        .expect(5);
    assert!(
        run.stderr.contains("use --strategy migrate"),
        "{}",
        run.stderr
    );
    assert_eq!(f.touched(), 0);
}

#[test]
fn past_the_point_of_no_return_nothing_restores_unless_abort_is_told_to() {
    let f = MigrateFleet::new(2, 0, OLD, FakeDb::postgresql("066", &names(2)));
    // master-1 passes its gate (the point of no return), master-2 fails its own.
    f.upgrades[1].lock().unwrap().fail_activate = true;
    let run = f.upgrade(&["--buildbot", NEW_VENV]).expect(1);
    assert!(
        run.stderr.contains("past the point of no return"),
        "{}",
        run.stderr
    );
    assert_eq!(f.head().as_deref(), Some("067"), "no automatic restore");
    assert!(f.fleet.agent(0).with(|s| s.master.process.running));
    let j = f.journal().unwrap();
    assert_eq!(j["phase"], "failed");
    assert!(j["migration"]["committed_at"].is_f64());

    let id = j["id"].as_str().unwrap().to_string();
    let refused = f.fleet.bbctl(&["upgrade", "abort", &id]).expect(5);
    assert!(
        refused.stderr.contains("--restore-db"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("build numbers"),
        "{}",
        refused.stderr
    );
    assert_eq!(f.head().as_deref(), Some("067"));
    assert_eq!(
        f.journal().unwrap()["phase"],
        "failed",
        "the refusal changed nothing"
    );

    f.upgrades[1].lock().unwrap().fail_activate = false;
    let aborted = f
        .fleet
        .bbctl(&["upgrade", "abort", &id, "--restore-db"])
        .expect(6);
    assert_eq!(f.head().as_deref(), Some("066"), "{}", aborted.stderr);
    let j = f.journal().unwrap();
    assert_eq!(j["phase"], "aborted");
    assert!(
        j["message"].as_str().unwrap().contains("DB restored from"),
        "{}",
        j["message"]
    );
    for i in [0, 1] {
        let (running, exe) = f.fleet.agent(i).with(|s| {
            (
                s.master.process.running,
                s.master.buildbot_executable.clone(),
            )
        });
        assert!(running, "master-{} runs again", i + 1);
        assert_eq!(exe.as_deref(), Some(OLD));
    }
}

#[test]
fn no_backup_is_recorded_as_the_operators_choice() {
    let f = MigrateFleet::new(1, 1, OLD, FakeDb::postgresql("066", &names(2)));
    f.upgrade(&["--buildbot", NEW_VENV, "--no-backup"])
        .expect(0);
    let j = f.journal().unwrap();
    assert_eq!(j["migration"]["no_backup"], true);
    assert!(j["migration"]["backup"].is_null());
    let backup = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "backup")
        .unwrap();
    assert_eq!(backup["message"], "backup: none (--no-backup)");
    assert!(!f.db_posts().iter().any(|(_, k)| *k == DbOpKind::Backup));
}

#[test]
fn a_dry_run_chooses_migrate_when_an_agent_already_reports_the_new_head() {
    let f = MigrateFleet::new(1, 1, OLD, FakeDb::postgresql("066", &names(2)));
    // The standby slot last ran the new Buildbot: its agent knows that code's head.
    f.fleet.agent(1).with(|s| {
        s.master.buildbot_executable = Some(NEW.into());
        s.master.buildbot_db_head = Some("067".into());
    });
    let cfg = f.cfg.path().join("master.cfg");
    let run = f
        .fleet
        .bbctl(&[
            "upgrade",
            "--new-config",
            cfg.to_str().unwrap(),
            "--buildbot",
            NEW,
            "--dry-run",
            "-o",
            "json",
        ])
        .expect(0);
    let plan: Value = serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(plan["data"]["strategy"], "migrate");
    assert_eq!(plan["data"]["schema"]["from"], "066");
    assert_eq!(plan["data"]["schema"]["to"], "067");
    assert_eq!(plan["data"]["window_estimate"]["at_least_secs"], 13.0);
    assert_eq!(f.touched(), 0);
}

#[test]
fn a_single_master_is_migrated_in_place_although_rolling_could_not_keep_it_serving() {
    let f = MigrateFleet::new(1, 0, OLD, FakeDb::postgresql("066", &names(1)));
    let run = f.upgrade(&["--buildbot", NEW_VENV]).expect(0);
    assert!(
        run.stderr.contains("not feasible as planned"),
        "{}",
        run.stderr
    );
    assert_eq!(f.journal().unwrap()["strategy"], "migrate");
    assert_eq!(f.head().as_deref(), Some("067"));
    let cfg = f.cfg.path().join("master.cfg");
    // The same fleet, told to stay on its own Buildbot: rolling would serve nobody; refused.
    let same = MigrateFleet::new(1, 0, OLD, FakeDb::postgresql("066", &names(1)));
    let refused = same
        .fleet
        .bbctl(&["upgrade", "--new-config", cfg.to_str().unwrap(), "--yes"])
        .expect(5);
    assert!(
        refused.stderr.contains("--min-serving"),
        "{}",
        refused.stderr
    );
    assert_eq!(same.touched(), 0);
}

#[test]
fn resume_after_a_kill_during_migrate_takes_the_agents_record_instead_of_migrating_again() {
    // A first run gives a real journal and the agents' records of its backup and migration.
    let done = MigrateFleet::new(2, 2, OLD, FakeDb::postgresql("066", &names(4)));
    done.upgrade(&["--buildbot", NEW_VENV]).expect(0);
    let mut j = done.journal().unwrap();
    let id = j["id"].as_str().unwrap().to_string();
    let ops = done.db.lock().unwrap().ops.clone();

    // The same upgrade as bbctl left it when killed during `migrate`: the agent finished the
    // migration (its record says so, the DB is at 067), the journal still says `running`.
    let f = MigrateFleet::new(2, 2, OLD, FakeDb::postgresql("067", &names(4)));
    f.db.lock().unwrap().ops = ops;
    for i in [0, 1] {
        f.fleet.agent(i).with(|s| {
            s.master.process.running = false;
            s.master.state = MasterState::Stopped;
        });
    }
    for step in j["steps"].as_array_mut().unwrap().iter_mut().skip(4) {
        step["state"] = "pending".into();
        step["message"] = Value::Null;
    }
    j["steps"][4]["state"] = "running".into();
    j["phase"] = "running".into();
    j["finished_at"] = Value::Null;
    let m = j["migration"].as_object_mut().unwrap();
    for key in ["applied_at", "migrate_state", "committed_at"] {
        m.insert(key.into(), Value::Null);
    }
    m["window"]["first_new_ready_at"] = Value::Null;
    let store = f.upgrades[0].lock().unwrap().store.clone();
    store.lock().unwrap().journals.insert(
        id.clone(),
        UpgradeRecord {
            id: id.clone(),
            version: 7,
            created_at: 1.0,
            updated_at: 2.0,
            holder: String::new(),
            epoch: 1,
            doc: j,
        },
    );

    let run = f.fleet.bbctl(&["upgrade", "resume", &id]).expect(0);
    assert!(
        run.stderr.contains("resuming at step migrate"),
        "{}",
        run.stderr
    );
    assert!(
        f.db_posts().is_empty(),
        "nothing POSTed again: {:?}",
        f.db_posts()
    );
    let j = f.journal().unwrap();
    assert_eq!(j["phase"], "succeeded");
    assert_eq!(j["migration"]["migrate_state"], "done");
    assert!(j["migration"]["committed_at"].is_f64());
    assert!(f.fleet.agent(2).with(|s| s.master.process.running));
}
