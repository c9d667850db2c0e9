//! Issue 14: the fleet lease and the upgrade journals in the fleet's PostgreSQL, reached through
//! any agent, with fencing epochs.
//! - Fault 14a, the coordinator's host lost: while the old masters drain (master-1 already
//!   drained and stopped, master-2 still running a build), the host of master-1 — the
//!   coordinator, first agent to reach the store — is lost: the `bbctl upgrade` running there and
//!   master-1's agent are SIGKILLed (its master process too, were it still up). Through another
//!   agent, `upgrade status` reads the journal and `upgrade resume --take-over` takes the dead
//!   run's live lease (a higher epoch, its own run token) and goes on; it pauses on master-1's
//!   step while that agent is away, and finishes when the host is back (its agent started again,
//!   its master still drained). Every build request SUCCESS exactly once.
//! - Fault 14d, the coordinator's host lost for good, CLI only: as 14a, but master-1 still runs
//!   a build when its host is lost (its master SIGKILLed too). `bbctl masters expire #<id>
//!   --host-gone` (once Buildbot's `last_active` of master-1 is older than 150 s) returns its
//!   request, which runs again elsewhere; `upgrade resume --take-over` with an inventory that no
//!   longer lists master-1 leaves it alone and finishes (verify: master-1 inactive in Buildbot).
//! - Fault 14b, a paused coordinator: the `bbctl upgrade` running the upgrade is SIGSTOPped while
//!   the old masters drain, past its lease's TTL (`BBCTL_LEASE_TTL_SECS=6`). A second operator's
//!   `bbctl upgrade resume` takes the expired lease (a higher epoch) and finishes the upgrade.
//!   After SIGCONT the first run's next renewal or journal append is refused `stale_epoch`: it
//!   exits 5 naming the new holder, and wrote nothing after the take-over (the journal's
//!   entries, by epoch). Every build request SUCCESS exactly once.
//! - Fault 14c, PostgreSQL restarted mid-upgrade: PostgreSQL (Buildbot's DB and the fleet store)
//!   is stopped while the old masters drain, until the running `bbctl upgrade` reports that it
//!   could not renew its lease (the outage reached it), then started again. The upgrade goes on
//!   and succeeds under one epoch, with no journal entry lost; every build request SUCCESS
//!   exactly once.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bbctl_e2e::{Fleet, ForcedBuild, wait_until};
use serde_json::Value;

use crate::agent_pause::{Printed, wait_exit, wait_running};
use crate::common::{assert_success_after_retries, kill, text};
use crate::postgres_restart::{pg_start, pg_stop, wait_mid_step};
use crate::support::{force_on, masterid, restart_agent, twistd_pid};
use crate::upgrade_support::*;

/// The lease TTL the upgrades under test run with (renewed every third of it).
const TTL_ENV: &str = "BBCTL_LEASE_TTL_SECS";

/// Spawns `bbctl ARGS -o json` with `env`, its output collected.
fn spawn_json(fleet: &Fleet, args: &[&str], env: &[(&str, &str)]) -> (Child, Printed) {
    let mut args = args.to_vec();
    args.extend(["-o", "json"]);
    let mut cmd = fleet.bbctl_cmd(&args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let printed = Printed::collect(&mut child);
    (child, printed)
}

/// The journal's entries of upgrade `id` (who wrote each, under which epoch), through agent `i`.
fn entries(fleet: &Fleet, i: usize, id: &str) -> Vec<Value> {
    fleet
        .agent(i)
        .get::<Vec<Value>>(&format!("/v1/upgrades/{id}/entries"))
        .unwrap()
}

fn lease(fleet: &Fleet, i: usize) -> Value {
    fleet.agent(i).get::<Value>("/v1/lease").unwrap()
}

pub fn paused_coordinator_is_fenced(fleet: &Fleet) {
    let v2 = fleet.info.master_cfg_v2.to_str().unwrap().to_string();
    let mut requests: Vec<i64> = [25, 30]
        .iter()
        .map(|d| force_anywhere(fleet, "sleep", *d))
        .collect();
    wait_started(fleet, &requests);
    let (mut a, printed) = spawn_json(
        fleet,
        &[
            "upgrade",
            "--new-config",
            &v2,
            "--yes",
            "--reason",
            "fault 14b",
        ],
        &[(TTL_ENV, "6")],
    );
    let (id, step) = wait_running(fleet, &mut a, &printed, "wait_drained");
    let taken = lease(fleet, 1);
    assert_eq!(taken["operation"], id.as_str(), "{taken:#}");
    let epoch_a = taken["epoch"].as_i64().unwrap();
    kill(a.id(), "STOP");
    eprintln!("fault 14b: bbctl SIGSTOPped during `{step}` of {id}, epoch {epoch_a}");

    // Its lease expires, by the store's clock.
    let expired = wait_until(
        "the stopped run's lease to expire",
        Duration::from_secs(60),
        || {
            let l = lease(fleet, 1);
            Ok((l["expires_at"].as_f64() <= l["db_now"].as_f64()).then_some(l))
        },
    )
    .unwrap();
    assert_eq!(expired["epoch"].as_i64(), Some(epoch_a), "{expired:#}");

    // A second operator resumes through any agent; no --take-over is needed for an expired lease.
    requests.push(force_anywhere(fleet, "sleep", 8));
    let out = fleet.bbctl(&["upgrade", "resume", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let after = lease(fleet, 1);
    let epoch_b = after["epoch"].as_i64().unwrap();
    let holder_b = after["holder"].as_str().unwrap().to_string();
    assert!(epoch_b > epoch_a, "{after:#}");
    assert!(holder_b.starts_with(&format!("{id}/")), "{after:#}");
    eprintln!("fault 14b: resumed by {holder_b}, epoch {epoch_b}");

    // The first run wakes up: refused at its next renewal or append, it stops with exit 5.
    kill(a.id(), "CONT");
    let code = wait_exit(&mut a, &printed, Duration::from_secs(120));
    let said = printed.dump();
    assert_eq!(code, Some(5), "{said}");
    assert!(
        said.contains(&format!("taken over by {holder_b}")),
        "{said}"
    );
    assert!(printed.count("fenced") == 1, "{said}");

    // Nothing written under the old epoch after the take-over; the new run finished.
    let written = entries(fleet, 2, &id);
    let first_b = written
        .iter()
        .position(|e| e["epoch"].as_i64() == Some(epoch_b))
        .expect("entries of the new run");
    assert!(
        written[first_b..]
            .iter()
            .all(|e| e["epoch"].as_i64() == Some(epoch_b)),
        "{written:#?}"
    );
    assert!(
        written[..first_b]
            .iter()
            .all(|e| e["epoch"].as_i64() == Some(epoch_a)),
        "{written:#?}"
    );
    let j = journal(fleet, Some(&id)).unwrap();
    assert_eq!(j["phase"], "succeeded", "{j:#}");
    assert!(steps(&j).iter().all(|(_, s)| s == "done"), "{j:#}");
    requests.push(force_anywhere(fleet, "sleep", 6));
    assert_success_once(fleet, &requests);
}

pub fn postgres_restart_mid_upgrade(fleet: &Fleet) {
    let bb = any_live(fleet);
    let v1 = fleet.info.master_cfg.to_str().unwrap().to_string();
    let mut requests: Vec<i64> = [25, 30]
        .iter()
        .map(|d| force_anywhere(fleet, "sleep", *d))
        .collect();
    wait_started(fleet, &requests);
    let (mut c, printed) = spawn_json(
        fleet,
        &[
            "upgrade",
            "--new-config",
            &v1,
            "--yes",
            "--reason",
            "fault 14c",
        ],
        &[(TTL_ENV, "3")],
    );
    let (id, step) = wait_running(fleet, &mut c, &printed, "wait_drained");
    for r in &requests {
        wait_mid_step(
            &bb,
            ForcedBuild {
                buildsetid: 0,
                buildrequestid: *r,
            },
        );
    }
    let epoch = lease(fleet, 0)["epoch"].as_i64().unwrap();
    pg_stop(fleet);
    eprintln!("fault 14c: PostgreSQL stopped during `{step}` of {id}");
    let met = wait_until(
        "the upgrade to meet the outage",
        Duration::from_secs(60),
        || {
            let stderr = printed.stderr.lock().unwrap().join("\n");
            Ok(stderr
                .lines()
                .find(|l| l.contains("could not renew the fleet lease"))
                .map(str::to_string))
        },
    );
    pg_start(fleet);
    let met = met.unwrap_or_else(|e| panic!("{e:#}\n{}", printed.dump()));
    eprintln!("fault 14c: PostgreSQL started again; the run said: {met}");
    requests.push(force_anywhere(fleet, "sleep", 8));
    let code = wait_exit(&mut c, &printed, Duration::from_secs(300));
    assert_eq!(code, Some(0), "{}", printed.dump());
    let j = journal(fleet, Some(&id)).unwrap();
    assert_eq!(j["phase"], "succeeded", "{j:#}");
    let written = entries(fleet, 0, &id);
    let seqs: Vec<i64> = written.iter().filter_map(|e| e["seq"].as_i64()).collect();
    let want: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(seqs, want, "no entry lost: {written:#?}");
    assert!(
        written.iter().all(|e| e["epoch"].as_i64() == Some(epoch)),
        "one run, one epoch: {written:#?}"
    );
    requests.push(force_anywhere(fleet, "sleep", 6));
    assert_success_once(fleet, &requests);
}

pub fn coordinator_host_lost(fleet: &Fleet) {
    let v2 = fleet.info.master_cfg_v2.to_str().unwrap().to_string();
    let bb = fleet.buildbot(1);
    let second = masterid(fleet, &bb, 1);
    // A long build on master-2 only: master-1 drains at once, master-2 keeps wait_drained going.
    let busy = force_on(&bb, second, "sleep", &[("duration", "30")]);
    let mut requests = vec![busy.buildrequestid];
    let (mut a, printed) = spawn_json(
        fleet,
        &[
            "upgrade",
            "--new-config",
            &v2,
            "--yes",
            "--reason",
            "fault 14a",
            "--pause-timeout",
            "10m",
        ],
        &[],
    );
    let (id, step) = wait_running(fleet, &mut a, &printed, "wait_drained");
    let first = fleet.agent(0);
    wait_until("master-1 drained", Duration::from_secs(120), || {
        let d: Value = first.get("/v1/drain")?;
        Ok((d["phase"] == "drained").then_some(()))
    })
    .unwrap();
    let lease_a = lease(fleet, 1);
    assert_eq!(lease_a["operation"], id.as_str(), "{lease_a:#}");

    // The host is lost: the bbctl running there, master-1's agent and (were it up) its master.
    let info = fleet.reload_info().unwrap();
    let slot = &info.masters[0];
    kill(a.id(), "KILL");
    a.wait().unwrap();
    kill(slot.agent_pid, "KILL");
    if let Some(pid) = twistd_pid(&slot.basedir).filter(|p| bbctl_e2e::pid_alive(*p)) {
        kill(pid, "KILL");
    }
    wait_until("master-1's agent gone", Duration::from_secs(30), || {
        Ok((!bbctl_e2e::pid_alive(slot.agent_pid)).then_some(()))
    })
    .unwrap();
    assert!(
        first.get::<Value>("/v1/version").is_err(),
        "the agent still answers"
    );
    eprintln!("fault 14a: master-1's host lost during `{step}` of {id}");

    // Through another agent: the journal, and the dead run's live lease taken over.
    let j = journal(fleet, Some(&id)).expect("the journal through another agent");
    assert_eq!(j["phase"], "running", "{j:#}");
    requests.push(force_anywhere(fleet, "sleep", 8));
    let (mut b, printed_b) = spawn_json(fleet, &["upgrade", "resume", &id, "--take-over"], &[]);
    wait_until(
        "the resumed run to pause on master-1",
        Duration::from_secs(120),
        || {
            if let Some(status) = b.try_wait()? {
                panic!("bbctl exited {status} first:\n{}", printed_b.dump());
            }
            Ok((printed_b.count("paused") >= 1).then_some(()))
        },
    )
    .unwrap();
    let (_, paused) = printed_b.find("paused").unwrap();
    assert_eq!(paused["data"]["agent"], "master-1", "{paused:#}");
    let lease_b = lease(fleet, 2);
    assert!(
        lease_b["epoch"].as_i64() > lease_a["epoch"].as_i64(),
        "{lease_b:#}"
    );
    assert_ne!(lease_b["holder"], lease_a["holder"], "{lease_b:#}");
    eprintln!(
        "fault 14a: resumed through another agent by {}, epoch {}; paused on master-1",
        lease_b["holder"], lease_b["epoch"]
    );

    // The host is back (its agent; its master stays drained): the upgrade finishes.
    std::mem::forget(restart_agent(fleet, 0).unwrap());
    let code = wait_exit(&mut b, &printed_b, Duration::from_secs(300));
    assert_eq!(code, Some(0), "{}", printed_b.dump());
    let j = journal(fleet, Some(&id)).unwrap();
    assert_eq!(j["phase"], "succeeded", "{j:#}");
    requests.push(force_anywhere(fleet, "sleep", 6));
    assert_success_once(fleet, &requests);
}

/// The fleet's inventory without the `[[masters]]` entry `name`, written next to it.
fn inventory_without(fleet: &Fleet, name: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(&fleet.info.inventory).unwrap();
    let mut blocks = text.split("\n[[masters]]\n");
    let mut kept = blocks.next().unwrap().to_string();
    for block in blocks {
        if !block.contains(&format!("name = \"{name}\"")) {
            kept.push_str("\n[[masters]]\n");
            kept.push_str(block);
        }
    }
    let path = fleet
        .info
        .inventory
        .with_file_name(format!("bbctl-without-{name}.toml"));
    std::fs::write(&path, kept).unwrap();
    path
}

pub fn lost_host_taken_out_of_the_inventory(fleet: &Fleet) {
    let v2 = fleet.info.master_cfg_v2.to_str().unwrap().to_string();
    let bb = fleet.buildbot(1);
    let first_id = masterid(fleet, &bb, 0);
    let second_id = masterid(fleet, &bb, 1);
    // A build master-1 still runs when its host is lost, one on master-2.
    let cut = force_on(&bb, first_id, "sleep", &[("duration", "120")]).buildrequestid;
    let mut requests =
        vec![force_on(&bb, second_id, "sleep", &[("duration", "20")]).buildrequestid];
    let (mut a, printed) = spawn_json(
        fleet,
        &[
            "upgrade",
            "--new-config",
            &v2,
            "--yes",
            "--reason",
            "fault 14d",
        ],
        &[],
    );
    let (id, step) = wait_running(fleet, &mut a, &printed, "wait_drained");
    let info = fleet.reload_info().unwrap();
    let slot = &info.masters[0];
    let master_pid = twistd_pid(&slot.basedir).expect("master-1 runs its build");
    kill(a.id(), "KILL");
    a.wait().unwrap();
    kill(slot.agent_pid, "KILL");
    kill(master_pid, "KILL");
    wait_until("master-1's host gone", Duration::from_secs(30), || {
        Ok(
            (!bbctl_e2e::pid_alive(slot.agent_pid) && !bbctl_e2e::pid_alive(master_pid))
                .then_some(()),
        )
    })
    .unwrap();
    eprintln!("fault 14d: master-1's host lost for good during `{step}` of {id}");

    // CLI only: the operator expires master-1 (by its Buildbot id: its agent is gone) once
    // Buildbot's own stamp says it is silent, then resumes without it in the inventory.
    let target = format!("#{first_id}");
    let expired = wait_until(
        "masters expire to accept master-1 as gone",
        Duration::from_secs(300),
        || {
            let out = fleet.bbctl(&["masters", "expire", &target, "--host-gone", "--yes"]);
            match out.status.code() {
                Some(0) => Ok(Some(out)),
                Some(5) => Ok(None),
                _ => panic!("{}", text(&out)),
            }
        },
    )
    .unwrap();
    eprintln!(
        "fault 14d: {}",
        String::from_utf8_lossy(&expired.stdout).trim()
    );
    let without = inventory_without(fleet, "master-1");
    let out = Command::new(&fleet.info.bbctl_bin)
        .arg("--inventory")
        .arg(&without)
        .args(["upgrade", "resume", &id, "--take-over"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("master-1 not in the inventory (left alone)"),
        "{said}"
    );
    let j = journal(fleet, Some(&id)).unwrap();
    assert_eq!(j["phase"], "succeeded", "{j:#}");

    // The cut build ran again elsewhere (RETRY, then SUCCESS); the others once.
    let rest = any_live(fleet);
    assert_success_after_retries(&rest, cut, 1);
    requests.push(force_anywhere(fleet, "sleep", 6));
    assert_success_once(fleet, &requests);
}
