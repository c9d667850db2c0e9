//! Issue 6 acceptance on real fleets. Each test owns its fleet (an upgrade changes every
//! master) and combines the checks that fit one fleet:
//! - blue-green (3 masters + 3 standby, 4 workers): a v2 that fails checkconfig is refused in
//!   pre-flight with nothing touched; `bbctl upgrade --detach` to v2 (which adds the builder
//!   `sleep-v2`) refuses a second upgrade with the first one's reason, and completes while builds
//!   forced before, during and after it all end SUCCESS exactly once (no RETRY); `sleep-v2` runs
//!   on a new master and every worker ends on one.
//! - rolling `--batch 1` (3 masters, no standby): `bbctl` SIGKILLed while an old master drains
//!   and again while a new master starts, `upgrade resume` each time: completes; every build
//!   SUCCESS once; never fewer than `--min-serving` masters ready; all on v2.
//! - blue-green, killed at every step (2 masters + 2 standby, 3 workers): `bbctl` SIGKILLed
//!   during each step in turn (start_new × 2, drain, wait_drained, verify), `upgrade resume`
//!   each time: completes; every build SUCCESS once; workers on the new masters, old ones drained.
//! - rollback and abort (2 masters + 2 standby): a v2 whose www port is taken passes checkconfig
//!   but cannot start → rolled back (exit 6, the log line that explains it), old masters serve
//!   (fault 5's neighbour); a v2 whose master starts but never becomes healthy (it hangs in its
//!   start-up) → the agent's start timeout passes, rolled back (exit 6), the hung new master
//!   stopped (fault 6); then `upgrade abort` while the old masters drain → the same.
//! - `--buildbot` (2 masters + 2 standby, `upgrade/buildbot.rs`): a missing Buildbot and a real
//!   Buildbot 4.2.1 (an older DB schema: a downgrade) refused with nothing touched; an upgrade
//!   onto a second install, then a config-only one that keeps that code; a rolling code-only
//!   upgrade whose Buildbot cannot start, rolled back to the old code.
//! - `migrate` (issue 13, `upgrade/migrate.rs`, `upgrade/migrate_inplace.rs`): fleets started on
//!   Buildbot 4.2.1 (DB schema 066) upgraded to 4.3.0 (067): the agent refuses to touch the DB
//!   under a running master; a migration that fails before the DB step and one applied then
//!   reported failed are rolled back (the second restores the backup); the upgrade onto the
//!   standby slots, and in place with `bbctl` SIGKILLed twice and resumed; every build forced
//!   before, during the window and after ends SUCCESS exactly once.
//! - `workers rebalance` (issue 16, `upgrade/rebalance.rs`, 1 master + 2 standby, 6 workers): a
//!   blue-green upgrade leaves all six on the new master, a started standby has none; the
//!   rebalance moves three idle ones while two builds run, never their workers; every build
//!   SUCCESS once; Buildbot shows three and three.
//! - canary (issue 16, `upgrade/canary.rs`, 2 masters + 2 standby, 6 workers): a configuration
//!   whose builds raise in the master is rolled back by the gate (exit 6) while the old masters
//!   keep their pids; a healthy one waits for `upgrade promote`, then completes.

#[path = "upgrade/buildbot.rs"]
mod buildbot;
#[path = "upgrade/canary.rs"]
mod canary;
#[path = "upgrade/migrate.rs"]
mod migrate;
#[path = "upgrade/migrate_inplace.rs"]
mod migrate_inplace;
#[path = "upgrade/rebalance.rs"]
mod rebalance;
#[path = "upgrade/sigkill.rs"]
mod sigkill;
#[path = "upgrade/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bbctl_e2e::{Fleet, FleetOptions, wait_until};
use serde_json::Value;
use support::*;

#[test]
fn blue_green_upgrade_loses_no_build_and_refuses_bad_configs_and_a_second_upgrade() {
    let _serial = bbctl_e2e::serial();
    let fleet = Fleet::up(FleetOptions {
        masters: 3,
        standby: 3,
        workers: 4,
    })
    .unwrap();
    let v2 = fleet.info.master_cfg.with_file_name("master-v2.cfg");
    let v2 = v2.to_str().unwrap();

    // A v2 that fails checkconfig: refused (5) in pre-flight, errors per master, nothing touched.
    let bad_dir = tempfile::tempdir().unwrap();
    let bad = bad_dir.path().join("master.cfg");
    std::fs::write(&bad, "this is not python(\n").unwrap();
    let before = masters(&fleet);
    let out = fleet.bbctl(&["upgrade", "--new-config", bad.to_str().unwrap(), "--yes"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("checkconfig failed") && stderr.contains("master-4"),
        "{}",
        text(&out)
    );
    let after = masters(&fleet);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            (&b["state"], &b["config_sha256"]),
            (&a["state"], &a["config_sha256"]),
            "touched: {a}"
        );
    }

    // Builds before, then the upgrade in the background, and a second upgrade refused.
    let mut requests: Vec<i64> = [8, 14, 20]
        .iter()
        .map(|d| force_anywhere(&fleet, "sleep", *d))
        .collect();
    wait_started(&fleet, &requests);
    let out = fleet.bbctl(&[
        "upgrade",
        "--new-config",
        v2,
        "--yes",
        "--detach",
        "--reason",
        "e2e blue-green",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The plan table, then the id on the last line.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout.lines().last().unwrap_or_default().trim().to_string();
    assert!(id.starts_with("up-"), "{}", text(&out));
    let second = fleet.bbctl(&["upgrade", "--new-config", v2, "--yes", "--reason", "second"]);
    assert_eq!(second.status.code(), Some(5), "{}", text(&second));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("e2e blue-green") && stderr.contains(&id),
        "{}",
        text(&second)
    );

    // Builds during the upgrade, until it ends.
    let started = Instant::now();
    let journal = loop {
        let out = fleet.bbctl(&["upgrade", "status", &id, "-o", "json"]);
        let journal: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
        if journal["phase"] != "running" {
            break journal;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "upgrade still running: {journal:#}"
        );
        if requests.len() < 8 {
            requests.push(force_anywhere(
                &fleet,
                "sleep",
                8 + requests.len() as u64 * 2,
            ));
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    assert_eq!(journal["phase"], "succeeded", "{journal:#}");

    // After: the new builder, and more builds.
    let new_ids: BTreeSet<i64> = masters(&fleet)
        .iter()
        .filter(|m| ["master-4", "master-5", "master-6"].contains(&m["name"].as_str().unwrap()))
        .map(|m| {
            assert_eq!(m["state"], "running", "{m}");
            assert_eq!(m["config_label"], "master-v2.cfg", "{m}");
            m["masterid"].as_i64().unwrap()
        })
        .collect();
    let v2_request = force_anywhere(&fleet, "sleep-v2", 8);
    requests.push(force_anywhere(&fleet, "sleep", 10));

    assert_success_once(&fleet, &requests);
    let rest = any_live(&fleet);
    let v2_outcome = rest.wait_complete(v2_request, BUILD_TIMEOUT).unwrap();
    assert_eq!(v2_outcome.results, 0);
    let v2_master = v2_outcome.builds[0]["masterid"].as_i64().unwrap();
    assert!(
        new_ids.contains(&v2_master),
        "sleep-v2 ran on master {v2_master}"
    );

    wait_workers_on(&rest, &new_ids, "a new master", Duration::from_secs(30));

    // The journal is visible and the lease is free again.
    let history = fleet.bbctl(&["upgrade", "history"]);
    assert!(
        String::from_utf8_lossy(&history.stdout).contains(&id),
        "{}",
        text(&history)
    );
}

#[test]
fn rolling_upgrade_survives_sigkill_and_resume_and_keeps_min_serving() {
    let _serial = bbctl_e2e::serial();
    let fleet = Fleet::up(FleetOptions {
        masters: 3,
        standby: 0,
        workers: 4,
    })
    .unwrap();
    let v2 = fleet.info.master_cfg_v2.to_str().unwrap().to_string();
    let mut requests: Vec<i64> = [8, 12, 15]
        .iter()
        .map(|d| force_anywhere(&fleet, "sleep", *d))
        .collect();
    let watch = ReadyWatch::start(&fleet);
    let started = Instant::now();

    // Killed while the first old master drains, then while a new master starts (or, if that
    // window was missed, while the next old master drains). A kill during the `POST /v1/drain`
    // itself is not timed here; the agent runs that request in a task of its own.
    let mut child = fleet.spawn_bbctl(&[
        "upgrade",
        "--new-config",
        &v2,
        "--strategy",
        "rolling",
        "--batch",
        "1",
        "--min-serving",
        "2",
        "--yes",
        "--reason",
        "e2e rolling",
    ]);
    let kill_points = [
        &["wait_drained master-1"][..],
        &["start_new master-2", "wait_drained master-3"][..],
    ];
    for (n, points) in kill_points.iter().enumerate() {
        let (id, step) = wait_step(&fleet, points, Duration::from_secs(180));
        child.kill().unwrap();
        child.wait().unwrap();
        eprintln!("kill {n}: bbctl SIGKILLed during `{step}` of {id}");
        requests.push(force_anywhere(&fleet, "sleep", 9));
        assert_eq!(journal(&fleet, Some(&id)).unwrap()["phase"], "running");
        child = fleet.spawn_bbctl(&["upgrade", "resume", &id, "--take-over"]);
    }
    // The last resume runs to the end while builds keep coming.
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "upgrade hangs"
        );
        if requests.len() < 10 {
            requests.push(force_anywhere(&fleet, "sleep", 8));
        }
        std::thread::sleep(Duration::from_secs(3));
    }
    let status = child.wait().unwrap();
    let j = journal(&fleet, None).unwrap();
    assert_eq!(status.code(), Some(0), "{j:#}");
    assert_eq!(j["phase"], "succeeded", "{j:#}");
    requests.push(force_anywhere(&fleet, "sleep-v2", 8));
    requests.push(force_anywhere(&fleet, "sleep", 8));

    assert_success_once(&fleet, &requests);
    let min_ready = watch.finish();
    assert!(
        min_ready >= 2,
        "only {min_ready} master(s) ready at some point"
    );
    for m in masters(&fleet) {
        assert_eq!(m["state"], "running", "{m}");
        assert_eq!(m["config_label"], "master-v2.cfg", "{m}");
    }
    let rest = any_live(&fleet);
    wait_until("every worker attached", Duration::from_secs(30), || {
        Ok(worker_masters(&rest))
    })
    .unwrap();
    eprintln!("rolling upgrade with two kills: {:?}", started.elapsed());
}

/// The agents of the standby slots (the new masters of a blue-green upgrade) stopped and started
/// again with `env` (empty: as the fleet configured them).
fn restart_standby_agents(fleet: &Fleet, env: &[(&str, &str)]) {
    let info = fleet.reload_info().unwrap();
    for (i, slot) in info.masters.iter().enumerate().filter(|(_, m)| m.standby) {
        let pid = slot.agent_pid;
        assert!(
            std::process::Command::new("kill")
                .arg(pid.to_string())
                .status()
                .unwrap()
                .success()
        );
        wait_until("the agent to stop", Duration::from_secs(30), || {
            Ok((!bbctl_e2e::pid_alive(pid)).then_some(()))
        })
        .unwrap();
        // Not waited for: fleet.json has its PID, so the fleet's `down` stops it.
        drop(fleet.start_agent(i, env).unwrap());
        // Its first `GET /v1/master` runs the master's `buildbot --version` (cached after): wait
        // for it here, not in the CLI's 5 s timeout.
        let agent = fleet.agent(i);
        wait_until("the agent to answer", Duration::from_secs(60), || {
            Ok(Some(agent.get::<Value>("/v1/master")?))
        })
        .unwrap();
    }
}

/// Fault 6: a new master that starts but never becomes healthy. Its master.cfg passes
/// checkconfig, then hangs when the master itself loads it (it ends on SIGTERM): the agent's start
/// gives up after `master.start_timeout_secs` (20 s here), the gate fails, the upgrade rolls back
/// (exit 6) and stops the hung master; the old masters never stopped serving.
fn health_timeout_rolls_back(fleet: &Fleet, old_ids: &BTreeSet<i64>) {
    restart_standby_agents(fleet, &[("BBCTL_AGENT_MASTER__START_TIMEOUT_SECS", "20")]);
    let before = masters(fleet);
    let v2 = std::fs::read_to_string(&fleet.info.master_cfg_v2).unwrap();
    // Buildbot loads master.cfg in a thread: the handler that ends the process on SIGTERM is
    // installed from the reactor's (main) thread, then the loading thread never returns.
    let hang = "import os as _os, signal as _signal, sys as _sys, time as _time\n\
                if \"checkconfig\" not in _sys.argv:\n    \
                from twisted.internet import reactor as _reactor\n    \
                _reactor.callFromThread(\n        \
                _signal.signal, _signal.SIGTERM, lambda *_: _os._exit(1)\n    )\n    \
                _time.sleep(3600)\n";
    let dir = tempfile::tempdir().unwrap();
    let hang_cfg = dir.path().join("master.cfg");
    std::fs::write(&hang_cfg, format!("{hang}{v2}")).unwrap();
    let mut requests = vec![force_anywhere(fleet, "sleep", 10)];
    let out = fleet.bbctl(&[
        "upgrade",
        "--new-config",
        hang_cfg.to_str().unwrap(),
        "--yes",
        "--reason",
        "fault 6",
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rolled back") && stderr.contains("within 20s"),
        "{}",
        text(&out)
    );
    let j = journal(fleet, None).unwrap();
    assert_eq!(j["reason"], "fault 6", "{j:#}");
    assert_eq!(j["phase"], "rolled_back", "{j:#}");
    let failed: Vec<&Value> = j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "failed")
        .collect();
    assert!(
        failed.len() == 1 && failed[0]["step"] == "start_new",
        "{j:#}"
    );
    let after = masters(fleet);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b["state"], a["state"], "not rolled back: {a}");
        if b["state"] == "running" {
            assert_eq!(b["config_sha256"], a["config_sha256"], "{a}");
        }
    }
    for slot in fleet.info.masters.iter().filter(|m| m.standby) {
        let pid = std::fs::read_to_string(slot.basedir.join("twistd.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok());
        assert!(
            pid.is_none_or(|p| !bbctl_e2e::pid_alive(p)),
            "{} still runs",
            slot.name
        );
    }
    requests.push(force_anywhere(fleet, "sleep", 4));
    let ran_on = assert_success_once(fleet, &requests);
    assert!(ran_on.iter().all(|m| old_ids.contains(m)), "{ran_on:?}");
    restart_standby_agents(fleet, &[]);
}

#[test]
fn failed_starts_roll_back_and_abort_rolls_back_on_demand() {
    let _serial = bbctl_e2e::serial();
    let fleet = Fleet::up(FleetOptions {
        masters: 2,
        standby: 2,
        workers: 3,
    })
    .unwrap();
    // Every agent answering `masters list` (a loaded machine may make one late).
    let old_ids: BTreeSet<i64> = wait_until(
        "both old masters listed running",
        Duration::from_secs(60),
        || {
            let ids: BTreeSet<i64> = masters(&fleet)
                .iter()
                .filter(|m| m["state"] == "running")
                .filter_map(|m| m["masterid"].as_i64())
                .collect();
            Ok((ids.len() == 2).then_some(ids))
        },
    )
    .unwrap();
    let before = masters(&fleet);

    // A v2 whose www port is PostgreSQL's: checkconfig does not bind ports, the start fails.
    let v2 = std::fs::read_to_string(&fleet.info.master_cfg_v2).unwrap();
    let www = r#"f"tcp:{V['www_port']}:interface={HOST}""#;
    assert!(v2.contains(www), "master-v2.cfg changed its www line");
    let clash = v2.replace(
        www,
        &format!(r#"f"tcp:{}:interface={{HOST}}""#, fleet.info.postgres.port),
    );
    let dir = tempfile::tempdir().unwrap();
    let clash_cfg = dir.path().join("master.cfg");
    std::fs::write(&clash_cfg, clash).unwrap();
    let mut requests = vec![force_anywhere(&fleet, "sleep", 12)];
    let out = fleet.bbctl(&[
        "upgrade",
        "--new-config",
        clash_cfg.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rolled back") && stderr.contains("Address already in use"),
        "{}",
        text(&out)
    );
    let after = masters(&fleet);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b["state"], a["state"], "not rolled back: {a}");
        if b["state"] == "running" {
            assert_eq!(
                b["config_sha256"], a["config_sha256"],
                "not rolled back: {a}"
            );
        }
    }
    // The old masters keep serving.
    requests.push(force_anywhere(&fleet, "sleep", 8));
    let ran_on = assert_success_once(&fleet, &requests);
    assert!(ran_on.iter().all(|m| old_ids.contains(m)), "{ran_on:?}");

    health_timeout_rolls_back(&fleet, &old_ids);

    // `upgrade abort` while the old masters drain (their builds still running).
    let mut requests: Vec<i64> = [25, 25]
        .iter()
        .map(|d| force_anywhere(&fleet, "sleep", *d))
        .collect();
    wait_started(&fleet, &requests);
    let v2 = fleet.info.master_cfg_v2.to_str().unwrap();
    let out = fleet.bbctl(&["upgrade", "--new-config", v2, "--yes", "--detach"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (id, _) = wait_step(&fleet, &["wait_drained"], Duration::from_secs(120));
    requests.push(force_anywhere(&fleet, "sleep", 8));
    let out = fleet.bbctl(&["upgrade", "abort", &id]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("drain cancelled"), "{said}");
    assert_eq!(journal(&fleet, Some(&id)).unwrap()["phase"], "aborted");
    for m in masters(&fleet) {
        let old = m["masterid"]
            .as_i64()
            .is_some_and(|id| old_ids.contains(&id));
        assert_eq!(m["state"] == "running", old, "{m}");
    }
    let rest = any_live(&fleet);
    wait_workers_on(&rest, &old_ids, "an old master", Duration::from_secs(60));
    requests.push(force_anywhere(&fleet, "sleep", 8));
    let ran_on = assert_success_once(&fleet, &requests);
    assert!(
        ran_on.last().is_some_and(|m| old_ids.contains(m)),
        "{ran_on:?}"
    );
}
