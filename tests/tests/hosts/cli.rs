//! Scenarios 1 and 2: `bbctl masters list` over TLS from the ops host, and `bbctl drain` of a
//! master whose idle workers come through both load balancers.

use std::collections::BTreeSet;

use bbctl_api::DrainStatus;
use bbctl_e2e::Fleet;
use serde_json::Value;

use crate::common::{arrange, bbctl_ok, force_on_worker, lb_of, sessions_to, text};
use crate::support::{
    assert_clean_success, assert_handed_off, masterid, paused_workers, workers_on,
};
use crate::upgrade_support::masters;

/// Scenario 1: every master listed over TLS (the inventory's `ca_file`, verification on), running
/// ones active; with a CA that did not sign the agents' certificates, every agent unreachable.
pub fn masters_list_over_tls(fleet: &Fleet) {
    let rows = masters(fleet);
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    let want: Vec<&str> = fleet.info.masters.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, want, "{rows:#?}");
    for (row, slot) in rows.iter().zip(&fleet.info.masters) {
        assert!(
            row["url"]
                .as_str()
                .is_some_and(|u| u.starts_with("https://")),
            "{row}"
        );
        if slot.standby {
            assert_eq!(row["state"], "standby", "{row}");
        } else {
            assert_eq!(
                (&row["state"], &row["active"]),
                (&"running".into(), &true.into()),
                "{row}"
            );
        }
    }

    let wrong_ca = "/etc/ssl/certs/ca-certificates.crt";
    let out = fleet.bbctl(&["masters", "list", "-o", "json", "--ca-file", wrong_ca]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let rows: Vec<Value> =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    assert_eq!(rows.len(), want.len(), "{rows:#?}");
    assert!(
        rows.iter().all(|r| r["state"] == "unreachable"),
        "{rows:#?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TLS certificate not trusted"),
        "{}",
        text(&out)
    );
}

/// Scenario 2: `bbctl drain master-2` from the ops host while master-2 carries two workers
/// through lb1 (one of them running a build) and one through lb2: drained, every worker that was
/// there attached to another master, the build SUCCESS once; then `bbctl start master-2`.
pub fn drain_across_both_load_balancers(fleet: &Fleet) {
    let slot = 1;
    let name = fleet.info.masters[slot].name.clone();
    let bb = fleet.buildbot(0);
    let mid = masterid(fleet, &bb, slot);
    arrange(fleet, &bb, slot, mid, "lb1", 2);
    arrange(fleet, &bb, slot, mid, "lb2", 1);
    let per_lb = sessions_to(fleet, &name);
    eprintln!("sessions to {name}: {per_lb:?}");
    let here = workers_on(&bb, mid);
    let busy_worker = here
        .iter()
        .find(|w| lb_of(fleet, w) == "lb1")
        .expect("a worker through lb1")
        .clone();
    let idle: Vec<&String> = here.iter().filter(|w| **w != busy_worker).collect();
    let idle_lbs: BTreeSet<String> = idle.iter().map(|w| lb_of(fleet, w)).collect();
    assert_eq!(
        idle_lbs,
        BTreeSet::from(["lb1".to_owned(), "lb2".to_owned()]),
        "idle workers on {name} through both load balancers: {here:?} (busy {busy_worker})"
    );
    let busy = force_on_worker(&bb, mid, &busy_worker, "sleep", &[("duration", "12")]);

    let out = bbctl_ok(
        fleet,
        &["drain", &name, "--reason", "e2e hosts", "-o", "json"],
    );
    let rows: Vec<Value> =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    let st: DrainStatus = serde_json::from_value(rows[0].clone()).unwrap();
    assert_eq!(st.phase.as_str(), "drained", "{st:#?}");
    assert_handed_off(&st, &here);
    let other = masterid(fleet, &bb, 0);
    assert_eq!(
        workers_on(&bb, other)
            .iter()
            .filter(|w| here.contains(w))
            .count(),
        here.len(),
        "every worker of {name} on master-1 now"
    );
    assert!(workers_on(&bb, mid).is_empty());
    assert_clean_success(&bb, busy);
    assert!(paused_workers(&bb).is_empty(), "{:?}", paused_workers(&bb));

    let out = bbctl_ok(fleet, &["start", &name, "--reason", "e2e hosts"]);
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    let rows = masters(fleet);
    let row = rows.iter().find(|r| r["name"] == name.as_str()).unwrap();
    assert_eq!(
        (&row["state"], &row["routing"]),
        (&"running".into(), &"ready".into()),
        "{row}"
    );
}
