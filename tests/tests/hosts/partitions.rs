//! Scenarios 4 and 6: a master's host cut off in the middle of its drain, and lb1 cut off in the
//! middle of a handoff. Each first shows the partition reached what it should disturb, then that
//! the drain finished once the link was up again and nothing was lost.

use std::time::Duration;

use bbctl_api::DrainPhase;
use bbctl_e2e::hosts::Partition;
use bbctl_e2e::{Buildbot, Fleet, wait_until};

use crate::common::{
    arrange, bbctl_ok, drain_status, force_on_worker, lb_of, on_host, text, wait_drained,
};
use crate::support::{
    assert_clean_success, assert_handed_off, connected_to, force_on, masterid, paused_workers,
    wait_workers_held, workers, workers_on,
};

/// The slots whose masters run now (by `bbctl masters list`).
fn running_slots(fleet: &Fleet) -> Vec<usize> {
    let rows = crate::upgrade_support::masters(fleet);
    (0..fleet.info.masters.len())
        .filter(|i| rows[*i]["state"] == "running")
        .collect()
}

/// Scenario 4: the host of a draining master (a build running there) cut off: from ops its agent
/// is unreachable; on its host the agent reports a failing step and the drain stays `draining`;
/// once the link is up the drain ends `drained`, every worker handed off, the build SUCCESS once.
pub fn master_host_cut_off_mid_drain(fleet: &Fleet) {
    let running = running_slots(fleet);
    let (slot, rest) = (running[0], running[1]);
    let name = fleet.info.masters[slot].name.clone();
    let host = fleet.slot_host(slot).to_owned();
    let bb = fleet.buildbot(rest);
    let mid = masterid(fleet, &bb, slot);
    let here = workers_on(&bb, mid);
    let busy = force_on(&bb, mid, "sleep", &[("duration", "20")]);
    bbctl_ok(
        fleet,
        &["drain", &name, "--detach", "--reason", "e2e partition"],
    );
    wait_workers_held(&bb, mid, &here);

    let cut = Partition::cut(fleet, &host);
    let out = wait_until(
        &format!("{name}'s agent unreachable from ops"),
        Duration::from_secs(60),
        || {
            let out = fleet.bbctl(&["drain", "status", &name]);
            Ok((out.status.code() == Some(3)).then_some(out))
        },
    )
    .unwrap();
    eprintln!("from ops: {}", text(&out));
    let failing = on_host(fleet, &host, || {
        let agent = fleet.agent_tls(slot);
        wait_until(
            &format!("{name}'s drain to report a failing step"),
            Duration::from_secs(120),
            || {
                let st: bbctl_api::DrainStatus = agent.get("/v1/drain")?;
                assert_eq!(st.phase, DrainPhase::Draining, "{st:#?}");
                Ok(st.failing.clone())
            },
        )
        .unwrap()
    });
    eprintln!("on {host}: failing step: {failing:?}");
    cut.heal();

    let st = wait_drained(fleet, &name, Duration::from_secs(240));
    assert_handed_off(&st, &here);
    assert_eq!(st.builds_requeued, 0, "{st:#?}");
    assert_clean_success(&bb, busy);
    assert!(paused_workers(&bb).is_empty(), "{:?}", paused_workers(&bb));
    bbctl_ok(fleet, &["start", &name, "--reason", "e2e partition over"]);
}

/// Handed-off entries the drain reports as attached elsewhere must be attached to a master other
/// than `mid` (by Buildbot) — the drain never reports a worker handed off that was not.
fn check_reported_handoffs(bb: &Buildbot, mid: i64, st: &bbctl_api::DrainStatus) {
    let rows = workers(bb);
    for h in &st.workers_handed_off {
        if h.attached_elsewhere_at.is_none() {
            continue;
        }
        let row = rows
            .iter()
            .find(|w| w["name"].as_str() == Some(h.worker.as_str()))
            .unwrap();
        let on = connected_to(row);
        assert!(
            !on.is_empty() && !on.contains(&mid),
            "the drain reports {} handed off but Buildbot has it on {on:?}: {st:#?}",
            h.worker
        );
    }
}

/// Scenario 6: lb1 cut off in the middle of a handoff. A master carries a busy worker through
/// each load balancer; its drain starts and stops routing on both (both workers paused); then lb1
/// is cut off. The worker behind lb2 moves to another master when its build ends while lb1 is
/// away; lb1's stays (its build cannot even report its end through lb1); the drain never reports
/// a worker handed off that was not. Once lb1 is back, its worker's build ends SUCCESS, the
/// worker moves and the drain ends `drained`.
pub fn lb1_cut_off_mid_handoff(fleet: &Fleet) {
    let running = running_slots(fleet);
    let (slot, rest) = (running[0], running[1]);
    let name = fleet.info.masters[slot].name.clone();
    let bb = fleet.buildbot(rest);
    let mid = masterid(fleet, &bb, slot);
    arrange(fleet, &bb, slot, mid, "lb1", 1);
    arrange(fleet, &bb, slot, mid, "lb2", 1);
    let here = workers_on(&bb, mid);
    let (behind_lb1, behind_lb2): (Vec<String>, Vec<String>) =
        here.iter().cloned().partition(|w| lb_of(fleet, w) == "lb1");
    eprintln!("{name}: through lb1 {behind_lb1:?}, through lb2 {behind_lb2:?}");
    let (a, b) = (behind_lb1[0].clone(), behind_lb2[0].clone());
    // Both busy, so that the drain is mid-handoff when lb1 goes: b's build ends during the cut.
    let busy_a = force_on_worker(&bb, mid, &a, "sleep", &[("duration", "20")]);
    let busy_b = force_on_worker(&bb, mid, &b, "sleep", &[("duration", "6")]);
    bbctl_ok(
        fleet,
        &["drain", &name, "--detach", "--reason", "e2e lb1 partition"],
    );
    // The drain pauses workers only after routing stopped on every load balancer.
    wait_until(
        "the drain to pause both workers",
        Duration::from_secs(60),
        || {
            let paused = paused_workers(&bb);
            Ok((paused.contains(&a) && paused.contains(&b)).then_some(()))
        },
    )
    .unwrap();

    let cut = Partition::cut(fleet, "lb1");
    let moved = wait_until(
        &format!("{b} (behind lb2) to move while lb1 is away"),
        Duration::from_secs(90),
        || {
            let st = drain_status(fleet, &name)?;
            check_reported_handoffs(&bb, mid, &st);
            let row = workers(&bb)
                .into_iter()
                .find(|w| w["name"].as_str() == Some(b.as_str()))
                .unwrap();
            let on = connected_to(&row);
            Ok((!on.is_empty() && !on.contains(&mid)).then_some(st))
        },
    );
    let st = match moved {
        Ok(st) => st,
        Err(e) => {
            let now = drain_status(fleet, &name);
            drop(cut);
            panic!("{e:#}\nthe drain now: {now:#?}")
        }
    };
    assert_eq!(st.phase, DrainPhase::Draining, "{st:#?}");
    let row = workers(&bb)
        .into_iter()
        .find(|r| r["name"].as_str() == Some(a.as_str()))
        .unwrap();
    assert_eq!(connected_to(&row), [mid], "{a} moved while lb1 was away");
    assert!(
        !st.workers_handed_off
            .iter()
            .any(|h| h.worker == a && h.attached_elsewhere_at.is_some()),
        "{st:#?}"
    );
    cut.heal();

    let st = wait_drained(fleet, &name, Duration::from_secs(300));
    check_reported_handoffs(&bb, mid, &st);
    assert_handed_off(&st, &here);
    assert!(workers_on(&bb, mid).is_empty());
    assert!(paused_workers(&bb).is_empty(), "{:?}", paused_workers(&bb));
    assert_clean_success(&bb, busy_a);
    assert_clean_success(&bb, busy_b);
    let forced = bb.force("sleep", &[("duration", "1")]).unwrap();
    assert_clean_success(&bb, forced);
    bbctl_ok(
        fleet,
        &["start", &name, "--reason", "e2e lb1 partition over"],
    );
}
