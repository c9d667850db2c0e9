//! Fault 12: two operators. Concurrent `bbctl drain` of one master follow one drain; `bbctl
//! drain` is refused (exit 5) while an upgrade holds the fleet lease, and `bbctl upgrade` while a
//! drain holds one of the masters.

use std::process::{Command, Stdio};
use std::time::Duration;

use bbctl_api::DrainPhase;
use bbctl_e2e::Fleet;
use serde_json::{Value, json};

use crate::common::{assert_nothing_left, text};
use crate::support::*;

pub fn drain_refused_while_an_upgrade_holds_the_lease(fleet: &Fleet) {
    let coordinator = agent(fleet, 0);
    let lease = json!({"holder": "up-fault12", "reason": "upgrade to v2 by faults@test",
                       "ttl_secs": 60.0, "kind": "upgrade"});
    let (code, body) = coordinator
        .request(reqwest::Method::PUT, "/v1/lease", Some(&lease))
        .unwrap();
    assert_eq!(code, 200, "{body}");
    let name = fleet.info.masters[2].name.clone();
    let out = fleet.bbctl(&["drain", &name, "--detach"]);
    let (code, _) = coordinator
        .request(reqwest::Method::DELETE, "/v1/lease?holder=up-fault12", None)
        .unwrap();
    assert_eq!(code, 200);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("up-fault12"),
        "names the holder: {}",
        text(&out)
    );
    let (code, _) = agent(fleet, 2)
        .request(reqwest::Method::GET, "/v1/drain", None)
        .unwrap();
    assert_eq!(code, 404, "no drain was started");
}

pub fn concurrent_drains_follow_one_drain(fleet: &Fleet, i: usize) {
    let bb = fleet.buildbot(2);
    let mid = masterid(fleet, &bb, i);
    let busy = force_on(&bb, mid, "sleep", &[("duration", "5")]);
    let name = fleet.info.masters[i].name.clone();
    let spawn = || {
        Command::new(&fleet.info.bbctl_bin)
            .arg("--inventory")
            .arg(&fleet.info.inventory)
            .args(["drain", &name, "-o", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let ids: Vec<i64> = [&a, &b]
        .iter()
        .map(|out| {
            assert_eq!(out.status.code(), Some(0), "{}", text(out));
            let v: Value =
                serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(out)));
            let row = if v.is_array() { v[0].clone() } else { v };
            assert_eq!(row["phase"].as_str(), Some("drained"), "{row:#}");
            row["id"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(ids[0], ids[1], "both operators followed one drain");
    let st = wait_phase(
        &agent(fleet, i),
        DrainPhase::Drained,
        Duration::from_secs(5),
    );
    assert_eq!(st.id, ids[0]);
    assert_clean_success(&bb, busy);
    assert_nothing_left(&bb, mid);
}

/// The other side of fault 12: an upgrade is refused in its pre-flight (exit 5, naming the drain)
/// while another operator's drain holds one of the fleet's masters; cancelling that drain returns
/// the master to service and its build still ends SUCCESS once.
pub fn upgrade_refused_while_a_drain_holds_a_master(fleet: &Fleet, i: usize) {
    let bb = fleet.buildbot(i);
    let mid = masterid(fleet, &bb, i);
    let busy = force_on(&bb, mid, "sleep", &[("duration", "8")]);
    let drainer = agent(fleet, i);
    let (code, body) = drainer
        .request(
            reqwest::Method::POST,
            "/v1/drain",
            Some(&json!({"reason": "operator A takes it out"})),
        )
        .unwrap();
    assert_eq!(code, 202, "{body}");
    let v2 = fleet.info.master_cfg_v2.to_str().unwrap().to_owned();
    let out = fleet.bbctl(&["upgrade", "--new-config", &v2, "--yes"]);
    let (code, body) = drainer
        .request(reqwest::Method::DELETE, "/v1/drain", None)
        .unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a drain holds") && stderr.contains("operator A takes it out"),
        "names the drain and its reason: {}",
        text(&out)
    );
    assert_clean_success(&bb, busy);
    assert_nothing_left(&bb, mid);
}
