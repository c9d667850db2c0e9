//! A master SIGKILLed under a drain (fault 7): reported, restarted, the other masters prompted,
//! the drain goes on to `drained`; `connected_to` rows Buildbot failed to delete.

use super::*;

fn kill_master(env: &FakeEnv) {
    let mut w = env.world();
    w.stopped = true;
    w.crashed = true;
    // The process is gone: its builds and its workers' connections with it; Buildbot keeps the
    // stale `connected_to` rows.
    w.builds.retain(|b| b.masterid != Some(ME));
}

#[tokio::test]
async fn a_killed_master_is_reported_restarted_and_the_drain_goes_on() {
    let (env, lb) = (fleet(), FakeLb::default());
    let mut d = drain(request(None, false));
    step(&mut d, &env, &lb, 100.0).await;
    kill_master(&env);
    let notes = step(&mut d, &env, &lb, 101.0).await;
    assert_eq!(d.phase, DrainPhase::Draining);
    assert!(notes[0].contains("died under the drain"), "{notes:?}");
    assert!(d.state.message.as_deref().unwrap().contains("build(s) 7"));
    assert_eq!(
        d.status().builds_requeued,
        1,
        "the running build ends RETRY"
    );
    assert!(
        !env.calls().contains(&"restart master".to_owned()),
        "reported first"
    );

    // The workers reconnect elsewhere; the stale rows of the dead process stay.
    for name in ["w1", "w2", "w3"] {
        let mut w = env.world();
        let worker = w.workers.iter_mut().find(|x| x.name == name).unwrap();
        worker
            .connected_to
            .push(crate::buildbot::MasterRef { masterid: OTHER });
    }
    let notes = step(&mut d, &env, &lb, 101.5).await;
    assert!(env.calls().contains(&"restart master".to_owned()));
    assert!(notes.iter().any(|n| n.contains("runs again")), "{notes:?}");
    assert_eq!(d.state.restarted_at, Some(101.5));

    // Next tick: the other masters are prompted (w4, unpaused and elsewhere, gets an unpause),
    // the drain's paused w1/w2 are unpaused as having left, the operator's w3 stays paused.
    step(&mut d, &env, &lb, 102.0).await;
    let calls = env.calls();
    assert!(calls.contains(&"unpause w4".to_owned()), "{calls:?}");
    assert!(calls.contains(&"unpause w1".to_owned()) && calls.contains(&"unpause w2".to_owned()));
    assert!(!calls.contains(&"unpause w3".to_owned()), "{calls:?}");
    assert!(!d.state.nudge_due);

    // Nothing runs, nothing is attached (stale rows ignored): the master is stopped, drained.
    step(&mut d, &env, &lb, 113.0).await;
    step(&mut d, &env, &lb, 113.5).await;
    assert_eq!(d.phase, DrainPhase::Drained, "{:?}", d.state.message);
    assert_eq!(env.calls().last().map(String::as_str), Some("stop master"));
    assert_eq!(d.state.crash_restarts, 1);
}

#[tokio::test]
async fn a_master_that_keeps_dying_fails_the_drain() {
    let (env, lb) = (fleet(), FakeLb::default());
    let mut d = drain(request(None, false));
    step(&mut d, &env, &lb, 100.0).await;
    for i in 0..crash::MAX_CRASH_RESTARTS {
        kill_master(&env);
        let t = 101.0 + f64::from(i) * 2.0;
        step(&mut d, &env, &lb, t).await;
        step(&mut d, &env, &lb, t + 1.0).await;
        assert_eq!(d.phase, DrainPhase::Draining);
    }
    kill_master(&env);
    step(&mut d, &env, &lb, 120.0).await;
    assert_eq!(d.phase, DrainPhase::Failed);
    assert!(d.state.message.as_deref().unwrap().contains("died again"));
}

#[test]
fn stale_rows_only_count_after_a_restart_or_a_logged_detach() {
    let mut w = worker(1, "w1", ME, false);
    w.connected_to
        .push(crate::buildbot::MasterRef { masterid: OTHER });
    assert!(crash::attached_here(&w, ME, false, false));
    assert!(!crash::attached_here(&w, ME, true, false));
    assert!(!crash::attached_here(&w, ME, false, true));
    // Only here: the row is all there is, whatever the log says (it may be reconnecting).
    let alone = worker(2, "w2", ME, false);
    assert!(crash::attached_here(&alone, ME, true, false));
    assert!(crash::attached_here(&alone, ME, false, true));
}

#[tokio::test]
async fn a_row_whose_delete_failed_does_not_keep_a_departed_worker_here() {
    let (env, lb) = (fleet(), FakeLb::default());
    let mut d = drain(request(None, false));
    step(&mut d, &env, &lb, 100.0).await;
    step(&mut d, &env, &lb, 100.25).await;
    assert!(lb.0.lock().unwrap().contains(&"close w1:5000".to_owned()));
    // w1 attaches to the other master; this master's delete of its row failed (PostgreSQL
    // restarting), so Buildbot lists w1 on both.
    {
        let mut w = env.world();
        let w1 = w.workers.iter_mut().find(|x| x.name == "w1").unwrap();
        w1.connected_to
            .push(crate::buildbot::MasterRef { masterid: OTHER });
    }
    step(&mut d, &env, &lb, 101.0).await;
    assert!(
        d.state.workers["w1"].attached_elsewhere_at.is_none(),
        "without the logged detach the row counts"
    );
    env.world().logged_detached.insert("w1".into());
    step(&mut d, &env, &lb, 102.0).await;
    assert!(env.calls().contains(&"unpause w1".to_owned()));
    let w1 = &d.state.workers["w1"];
    assert_eq!(w1.attached_elsewhere_at, Some(102.0));
    assert_eq!(w1.to_master.as_deref(), Some("h:/m1"));
}
