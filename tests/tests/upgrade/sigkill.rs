//! `bbctl` SIGKILLed during each step of a blue-green upgrade in turn, `upgrade resume` each
//! time (issue 6; fault 1 of issue 7).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bbctl_e2e::{Fleet, FleetOptions};
use serde_json::Value;

use crate::support::*;

#[test]
fn blue_green_upgrade_survives_sigkill_at_every_step() {
    let _serial = bbctl_e2e::serial();
    let fleet = Fleet::up(FleetOptions {
        masters: 2,
        standby: 2,
        workers: 3,
    })
    .unwrap();
    let v2 = fleet.info.master_cfg_v2.to_str().unwrap().to_string();
    let mut requests: Vec<i64> = [8, 10, 12]
        .iter()
        .map(|d| force_anywhere(&fleet, "sleep", *d))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();
    let mut child = fleet.spawn_bbctl(&[
        "upgrade",
        "--new-config",
        &v2,
        "--yes",
        "-o",
        "json",
        "--reason",
        "e2e kill at every step",
    ]);
    let (id, _) = wait_step(&fleet, &["start_new"], Duration::from_secs(120));
    let first = journal(&fleet, Some(&id)).unwrap();
    let plan = steps(&first);
    assert_eq!(plan.len(), 6, "{first:#}");

    // Each step in turn: wait until it runs, SIGKILL, resume. A step already done when seen
    // still gets its kill (it then lands in a later step); only the ones seen running count.
    let mut caught = Vec::new();
    for (index, (label, _)) in plan.iter().enumerate().skip(1) {
        let Some(state) = wait_step_reached(&fleet, &id, index, Duration::from_secs(180)) else {
            break;
        };
        child.kill().unwrap();
        child.wait().unwrap();
        eprintln!("bbctl SIGKILLed with `{label}` {state}");
        if state == "running" {
            caught.push(label.clone());
        }
        if requests.len() < 9 {
            requests.push(force_anywhere(&fleet, "sleep", 6 + index as u64));
        }
        child = fleet.spawn_bbctl(&["upgrade", "resume", &id, "--take-over"]);
    }
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "upgrade hangs"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let status = child.wait().unwrap();
    let j = journal(&fleet, Some(&id)).unwrap();
    assert_eq!(status.code(), Some(0), "{j:#}");
    assert_eq!(j["phase"], "succeeded", "{j:#}");
    assert!(steps(&j).iter().all(|(_, s)| s == "done"), "{j:#}");
    assert!(caught.len() >= 4, "only {caught:?} caught running");

    assert_success_once(&fleet, &requests);
    let new: Vec<&str> = j["new"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut new_ids = BTreeSet::new();
    for m in masters(&fleet) {
        let name = m["name"].as_str().unwrap();
        if new.contains(&name) {
            assert_eq!(m["state"], "running", "{m}");
            assert_eq!(m["config_label"], "master-v2.cfg", "{m}");
            new_ids.insert(m["masterid"].as_i64().unwrap());
        } else {
            assert!(m["state"] == "drained" || m["state"] == "stopped", "{m}");
            assert_eq!(j["drains"][name]["phase"], "drained", "{j:#}");
        }
    }
    assert_eq!(new_ids.len(), 2, "{j:#}");
    let rest = any_live(&fleet);
    wait_workers_on(&rest, &new_ids, "a new master", Duration::from_secs(30));
    eprintln!(
        "blue-green, killed during {caught:?}: {:?}",
        started.elapsed()
    );
}
