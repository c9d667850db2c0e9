//! The drain state machine against a fake Buildbot, log and load balancer.

use bbctl_api::{DrainPhase, DrainRequest};

use super::*;
use crate::drain::model::DrainState;

use crate::drain::engine_fakes::*;

fn drain(req: DrainRequest) -> Drain {
    Drain {
        id: 1,
        phase: DrainPhase::Draining,
        state: DrainState {
            masterid: ME,
            deadline_at: req.deadline_secs.map(|s| 100.0 + s),
            ..DrainState::default()
        },
        request: req,
        started_at: 100.0,
        finished_at: None,
    }
}

fn request(deadline: Option<f64>, force: bool) -> DrainRequest {
    DrainRequest {
        deadline_secs: deadline,
        force_after_deadline: force,
        reason: Some("test".into()),
        requested_by: None,
        cordon: false,
    }
}

/// w1 idle here, w2 busy here (build 7), w3 operator-paused idle here, w4 on the other master.
fn fleet() -> FakeEnv {
    FakeEnv::with(|w| {
        w.workers = vec![
            worker(1, "w1", ME, false),
            worker(2, "w2", ME, false),
            worker(3, "w3", ME, true),
            worker(4, "w4", OTHER, false),
        ];
        w.builds = vec![build(7, 2, ME), build(8, 4, OTHER)];
        for (i, n) in ["w1", "w2", "w3"].iter().enumerate() {
            w.attaches.insert((*n).into(), settled(n, 5000 + i as u16));
        }
    })
}

#[tokio::test]
async fn idle_workers_leave_on_the_next_tick_busy_ones_after_their_build_then_the_master_stops() {
    let (env, lb) = (fleet(), FakeLb::default());
    let mut d = drain(request(None, false));
    step(&mut d, &env, &lb, 100.0).await;
    // Routing stopped; every attached worker not already paused is paused; nothing is closed
    // on the tick that paused them (a build Buildbot picked a worker for just before the pause
    // has no row yet).
    assert_eq!(*lb.0.lock().unwrap(), ["stop routing"]);
    step(&mut d, &env, &lb, 100.25).await;
    // The idle ones (including the operator-paused w3) are closed; the busy w2 is not.
    assert_eq!(
        *lb.0.lock().unwrap(),
        ["stop routing", "close w1:5000", "close w3:5002"]
    );
    assert_eq!(env.calls(), ["pause w1", "pause w2"]);
    assert_eq!(d.state.operator_paused.iter().collect::<Vec<_>>(), ["w3"]);
    assert_eq!(d.phase, DrainPhase::Draining);

    // w1 and w3 leave and show up on the other master: w1 is unpaused, w3 stays paused.
    env.move_worker("w1", None);
    env.move_worker("w3", None);
    step(&mut d, &env, &lb, 100.5).await;
    assert_eq!(env.calls(), ["pause w1", "pause w2", "unpause w1"]);
    env.move_worker("w1", Some(OTHER));
    env.move_worker("w3", Some(OTHER));
    step(&mut d, &env, &lb, 102.0).await;
    let w1 = &d.state.workers["w1"];
    assert_eq!(w1.attached_elsewhere_at, Some(102.0));
    assert_eq!(w1.to_master.as_deref(), Some("h:/m1"));
    assert!(env.world().workers[2].paused, "the operator's pause stays");

    // A retry window: nothing is closed twice.
    step(&mut d, &env, &lb, 103.0).await;
    assert_eq!(lb.0.lock().unwrap().len(), 3);

    // w2's build ends: it is handed off, free from the build's own end time.
    env.end_build(7, 109.0);
    step(&mut d, &env, &lb, 110.3).await;
    assert_eq!(lb.0.lock().unwrap().last().unwrap(), "close w2:5001");
    assert_eq!(d.state.builds_finished, 1);
    assert_eq!(d.state.workers["w2"].free_at, Some(110.0));
    env.move_worker("w2", None);
    step(&mut d, &env, &lb, 110.6).await;
    assert_eq!(
        d.phase,
        DrainPhase::Draining,
        "waits for w2 to arrive elsewhere"
    );
    env.move_worker("w2", Some(OTHER));
    step(&mut d, &env, &lb, 112.5).await;
    assert_eq!(d.phase, DrainPhase::Stopping);
    step(&mut d, &env, &lb, 113.0).await;
    assert_eq!(d.phase, DrainPhase::Drained);
    assert_eq!(env.calls().last().unwrap(), "stop master");
    assert!(d.state.paused_by_drain.is_empty());
    let status = d.status();
    assert_eq!(status.workers_handed_off.len(), 3);
    assert_eq!(status.builds_finished, 1);
    assert_eq!(status.builds_requeued, 0);
    let w2 = status
        .workers_handed_off
        .iter()
        .find(|h| h.worker == "w2")
        .unwrap();
    assert_eq!((w2.free_at, w2.attached_elsewhere_at), (110.0, Some(112.5)));
    assert!(status.message.unwrap().contains("1 build(s) finished"));
}

#[tokio::test]
async fn an_unfinished_attach_handshake_is_not_cut() {
    let env = FakeEnv::with(|w| {
        w.workers = vec![worker(1, "w1", ME, false)];
        let mut a = settled("w1", 5000);
        a.settled = false;
        w.attaches.insert("w1".into(), a);
    });
    let lb = FakeLb::default();
    let mut d = drain(request(None, false));
    step(&mut d, &env, &lb, 100.0).await;
    step(&mut d, &env, &lb, 100.25).await;
    assert_eq!(*lb.0.lock().unwrap(), ["stop routing"]);
    env.world()
        .attaches
        .insert("w1".into(), settled("w1", 5000));
    step(&mut d, &env, &lb, 100.5).await;
    assert_eq!(lb.0.lock().unwrap().last().unwrap(), "close w1:5000");
}

#[tokio::test]
async fn idle_workers_wait_while_a_claimed_request_has_no_build_yet() {
    let env = FakeEnv::with(|w| {
        w.workers = vec![worker(1, "w1", ME, false), worker(2, "w2", ME, false)];
        w.attaches.insert("w1".into(), settled("w1", 5000));
        w.attaches.insert("w2".into(), settled("w2", 5001));
        // Request 40 is claimed here and its build has no row yet: Buildbot is starting it on
        // a worker it picked before the pause.
        w.claimed = vec![40];
    });
    let lb = FakeLb::default();
    let mut d = drain(request(None, false));
    step(&mut d, &env, &lb, 100.0).await;
    step(&mut d, &env, &lb, 100.25).await;
    let notes = step(&mut d, &env, &lb, 101.25).await;
    assert_eq!(*lb.0.lock().unwrap(), ["stop routing"], "{notes:?}");
    assert!(
        notes.iter().any(|n| n.contains("build request 40 claimed")),
        "{notes:?}"
    );
    // The build gets its row, on w2: only w1 leaves.
    {
        let mut w = env.world();
        let mut b = build(9, 2, ME);
        b.buildrequestid = Some(40);
        w.builds = vec![b];
    }
    step(&mut d, &env, &lb, 101.5).await;
    assert_eq!(*lb.0.lock().unwrap(), ["stop routing", "close w1:5000"]);
    assert_eq!(d.state.starting_since, None);
}

#[tokio::test]
async fn a_start_stuck_in_buildbot_holds_the_handoff_only_for_a_while() {
    let env = FakeEnv::with(|w| {
        w.workers = vec![worker(1, "w1", ME, false)];
        w.attaches.insert("w1".into(), settled("w1", 5000));
        w.claimed = vec![41];
    });
    let lb = FakeLb::default();
    let mut d = drain(request(None, false));
    step(&mut d, &env, &lb, 100.0).await;
    step(&mut d, &env, &lb, 100.25).await;
    step(
        &mut d,
        &env,
        &lb,
        100.25 + handoff::STARTING_WAIT_SECS - 1.0,
    )
    .await;
    assert_eq!(*lb.0.lock().unwrap(), ["stop routing"]);
    let notes = step(&mut d, &env, &lb, 100.25 + handoff::STARTING_WAIT_SECS).await;
    assert_eq!(*lb.0.lock().unwrap(), ["stop routing", "close w1:5000"]);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("handing idle workers off anyway")),
        "{notes:?}"
    );
}

#[tokio::test]
async fn deadline_without_force_stops_acting_and_cancel_restores_service() {
    let (env, lb) = (fleet(), FakeLb::default());
    let mut d = drain(request(Some(5.0), false));
    step(&mut d, &env, &lb, 100.0).await;
    step(&mut d, &env, &lb, 106.0).await;
    assert_eq!(d.phase, DrainPhase::DeadlinePassed);
    let closes = lb.0.lock().unwrap().len();
    // No more steps once the deadline passed.
    step(&mut d, &env, &lb, 107.0).await;
    assert_eq!(lb.0.lock().unwrap().len(), closes);
    assert!(!env.world().stopped);

    let ctx = Ctx {
        env: &env,
        lb: &lb,
        agent: "m2",
    };
    let mut notes = Vec::new();
    cancel(&mut d, &ctx, 108.0, &mut notes).await.unwrap();
    assert_eq!(d.phase, DrainPhase::Cancelled);
    assert_eq!(lb.0.lock().unwrap().last().unwrap(), "resume routing");
    // Only what the drain paused is unpaused: w3 (the operator's) stays paused.
    let w = env.world();
    assert!(!w.workers[0].paused && !w.workers[1].paused && w.workers[2].paused);
}

#[tokio::test]
async fn deadline_with_force_hands_busy_workers_off_and_counts_requeued_builds() {
    let (env, lb) = (fleet(), FakeLb::default());
    let mut d = drain(request(Some(5.0), true));
    step(&mut d, &env, &lb, 100.0).await;
    step(&mut d, &env, &lb, 105.5).await;
    assert_eq!(d.phase, DrainPhase::Draining);
    assert_eq!(lb.0.lock().unwrap().last().unwrap(), "close w2:5001");
    assert!(d.state.requeued.contains(&7) && d.state.workers["w2"].forced);
    // The build ends as RETRY: it is not counted as finished.
    env.end_build(7, 105.6);
    step(&mut d, &env, &lb, 106.0).await;
    assert_eq!(d.state.builds_finished, 0);
    assert_eq!(d.status().builds_requeued, 1);
}

#[tokio::test]
async fn a_stopped_master_fails_the_drain_naming_paused_workers() {
    let (env, lb) = (fleet(), FakeLb::default());
    let mut d = drain(request(None, false));
    step(&mut d, &env, &lb, 100.0).await;
    env.world().stopped = true;
    step(&mut d, &env, &lb, 101.0).await;
    assert_eq!(d.phase, DrainPhase::Failed);
    let msg = d.state.message.clone().unwrap();
    assert!(msg.contains("w1, w2"), "{msg}");
}

#[tokio::test]
async fn a_failed_pause_leaves_the_others_recorded_and_is_tried_again() {
    let (env, lb) = (fleet(), FakeLb::default());
    env.world().pause_fails.push(2);
    let mut d = drain(request(None, false));
    let ctx = Ctx {
        env: &env,
        lb: &lb,
        agent: "m2",
    };
    let mut notes = Vec::new();
    let err = tick(&mut d, &ctx, 100.0, &mut notes).await.unwrap_err();
    assert!(err.0.contains("503"), "{err:?}");
    // w1's pause went through with w2's failing: it is recorded, so the drain undoes it.
    assert_eq!(env.calls(), ["pause w1"]);
    let recorded: Vec<&String> = d.state.paused_by_drain.keys().collect();
    assert_eq!(recorded, ["w1"]);
    env.world().pause_fails.clear();
    step(&mut d, &env, &lb, 100.5).await;
    assert_eq!(env.calls(), ["pause w1", "pause w2"]);
    assert_eq!(d.state.paused_by_drain.len(), 2);
}

#[tokio::test]
async fn pauses_made_by_a_drain_whose_agent_died_unrecorded_are_adopted() {
    // The agent was killed after pausing w1 and w2 and before saving that: w1 and w2 carry this
    // drain's reason; w3 was paused by an operator.
    let env = fleet();
    for w in env.world().workers.iter_mut().take(3) {
        w.paused = true;
        w.pause_reason = Some("an operator".into());
    }
    for w in env.world().workers.iter_mut().take(2) {
        w.pause_reason = Some(crate::drain::model::pause_reason("m2"));
    }
    let lb = FakeLb::default();
    let mut d = drain(request(None, false));
    step(&mut d, &env, &lb, 100.0).await;
    let recorded: Vec<&String> = d.state.paused_by_drain.keys().collect();
    assert_eq!(recorded, ["w1", "w2"]);
    assert_eq!(d.state.operator_paused.iter().collect::<Vec<_>>(), ["w3"]);
    assert!(
        env.calls().is_empty(),
        "nothing paused twice: {:?}",
        env.calls()
    );
    // w1 leaves: it is unpaused, as if the drain had recorded its pause.
    env.move_worker("w1", None);
    step(&mut d, &env, &lb, 100.5).await;
    assert_eq!(env.calls(), ["unpause w1"]);
}

#[path = "crash_tests.rs"]
mod crash_tests;

#[tokio::test]
async fn the_status_shows_each_running_build_with_its_worker_and_start() {
    let (env, lb) = (fleet(), FakeLb::default());
    env.world().builds[0].started_at = Some(90);
    env.world().builds[0].number = Some(12);
    let mut d = drain(request(None, false));
    step(&mut d, &env, &lb, 100.0).await;
    let status = d.status();
    assert_eq!(
        status.running_builds,
        [bbctl_api::DrainBuild {
            buildid: 7,
            number: Some(12),
            worker: Some("w2".into()),
            started_at: Some(90.0),
        }],
        "only this master's build (8 runs on the other one)"
    );
    env.end_build(7, 105.0);
    step(&mut d, &env, &lb, 106.0).await;
    assert!(d.status().running_builds.is_empty());
}

#[tokio::test]
async fn a_drain_with_nothing_to_hand_off_says_so_instead_of_a_zero_latency() {
    let env = FakeEnv::default();
    let lb = FakeLb::default();
    let mut d = drain(request(None, false));
    step(&mut d, &env, &lb, 100.0).await;
    assert_eq!(d.phase, DrainPhase::Stopping);
    step(&mut d, &env, &lb, 100.5).await;
    let msg = d.state.message.clone().unwrap();
    assert!(msg.contains("no worker had to be handed off"), "{msg}");
    assert!(!msg.contains("slowest"), "{msg}");
}

#[tokio::test]
async fn a_deadline_passed_message_names_the_commands_not_the_api() {
    let (env, lb) = (fleet(), FakeLb::default());
    let mut d = drain(request(Some(5.0), false));
    step(&mut d, &env, &lb, 100.0).await;
    step(&mut d, &env, &lb, 106.0).await;
    let msg = d.state.message.clone().unwrap();
    assert!(msg.contains("`bbctl drain cancel m2`"), "{msg}");
    assert!(!msg.contains("/v1/") && !msg.contains("DELETE"), "{msg}");
}

#[tokio::test]
async fn a_load_balancer_that_does_not_answer_holds_up_only_its_own_workers() {
    let env = FakeEnv::with(|w| {
        w.workers = vec![worker(1, "w1", ME, false), worker(2, "w2", ME, false)];
        w.attaches.insert("w1".into(), settled("w1", 5000));
        w.attaches.insert("w2".into(), settled("w2", 5001));
    });
    // w1's session is on a load balancer that does not answer.
    let lb = FakeLb::default();
    lb.1.lock().unwrap().push(5000);
    let mut d = drain(request(None, false));
    let ctx = Ctx {
        env: &env,
        lb: &lb,
        agent: "m2",
    };
    let mut notes = Vec::new();
    tick(&mut d, &ctx, 100.0, &mut notes).await.unwrap();
    let failed = tick(&mut d, &ctx, 100.25, &mut notes).await;
    assert!(failed.is_err(), "the failed close is reported");
    assert_eq!(
        lb.0.lock().unwrap()[1..],
        ["close failed w1:5000", "close w2:5001"]
    );
    // w2 leaves and is unpaused on a tick where w1's close fails again; w1 is never counted as
    // handed off.
    env.move_worker("w2", None);
    let failed = tick(&mut d, &ctx, 105.5, &mut notes).await;
    assert!(failed.is_err());
    assert!(
        env.calls().contains(&"unpause w2".to_string()),
        "{:?}",
        env.calls()
    );
    assert_eq!(lb.0.lock().unwrap().last().unwrap(), "close failed w1:5000");
    assert_eq!(d.state.workers["w1"].closed_at, None);
    assert!(d.state.workers["w2"].closed_at.is_some());
    // The load balancer answers again: w1 leaves.
    lb.1.lock().unwrap().clear();
    tick(&mut d, &ctx, 111.0, &mut notes).await.unwrap();
    assert_eq!(lb.0.lock().unwrap().last().unwrap(), "close w1:5000");
}
