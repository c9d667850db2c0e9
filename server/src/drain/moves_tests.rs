//! One worker's move against the fake Buildbot, log and load balancer of `engine_fakes`.

use std::sync::Arc;
use std::time::Duration;

use bbctl_api::MoveOutcome;

use super::*;
use crate::drain::engine_fakes::*;

/// w1 idle here, w2 busy here (build 7), w3 idle here but paused by an operator, w4 on the
/// other master.
fn fleet() -> Arc<FakeEnv> {
    Arc::new(FakeEnv::with(|w| {
        w.workers = vec![
            worker(1, "w1", ME, false),
            worker(2, "w2", ME, false),
            worker(3, "w3", ME, true),
            worker(4, "w4", OTHER, false),
        ];
        w.builds = vec![build(7, 2, ME)];
        for (i, n) in ["w1", "w2", "w3"].iter().enumerate() {
            w.attaches.insert((*n).into(), settled(n, 5000 + i as u16));
        }
    }))
}

fn lb_calls(lb: &FakeLb) -> Vec<String> {
    lb.0.lock().unwrap().clone()
}

#[tokio::test]
async fn an_idle_worker_is_paused_handed_over_and_routing_comes_back() {
    let (env, lb) = (fleet(), FakeLb::default());
    let mover = {
        let env = env.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            env.move_worker("w1", Some(OTHER));
        })
    };
    let r = move_one(env.as_ref(), &lb, "m2", "w1", 10.0).await.unwrap();
    mover.await.unwrap();
    assert_eq!(r.outcome, MoveOutcome::Moved, "{r:#?}");
    assert_eq!(r.from_master, "h:/m2");
    assert_eq!(r.to_master.as_deref(), Some("h:/m1"));
    assert!(r.attached_elsewhere_at.unwrap() >= r.closed_at.unwrap());
    assert_eq!(
        lb_calls(&lb),
        ["stop routing", "close w1:5000", "resume routing"]
    );
    assert_eq!(env.calls(), ["pause w1", "unpause w1"]);
}

#[tokio::test]
async fn busy_paused_and_attaching_workers_are_skipped_untouched() {
    let (env, lb) = (fleet(), FakeLb::default());
    let busy = move_one(env.as_ref(), &lb, "m2", "w2", 10.0).await.unwrap();
    assert_eq!(busy.outcome, MoveOutcome::Busy);
    assert!(busy.message.contains("never interrupted"), "{busy:#?}");
    let paused = move_one(env.as_ref(), &lb, "m2", "w3", 10.0).await.unwrap();
    assert_eq!(paused.outcome, MoveOutcome::Paused);
    env.world().attaches.get_mut("w1").unwrap().settled = false;
    let attaching = move_one(env.as_ref(), &lb, "m2", "w1", 10.0).await.unwrap();
    assert_eq!(attaching.outcome, MoveOutcome::Attaching);
    assert!(
        [busy, paused, attaching]
            .iter()
            .all(|r| r.outcome.skipped() && r.closed_at.is_none())
    );
    assert!(lb_calls(&lb).is_empty());
    assert!(env.calls().is_empty());
}

#[tokio::test]
async fn a_build_being_started_here_makes_every_idle_worker_wait() {
    let (env, lb) = (fleet(), FakeLb::default());
    // Request 40 is claimed by this master and has no build yet.
    env.world().claimed = vec![40];
    let r = move_one(env.as_ref(), &lb, "m2", "w1", 10.0).await.unwrap();
    assert_eq!(r.outcome, MoveOutcome::Busy);
    assert!(lb_calls(&lb).is_empty() && env.calls().is_empty());
}

#[tokio::test]
async fn a_worker_elsewhere_or_unknown_is_refused() {
    let (env, lb) = (fleet(), FakeLb::default());
    let elsewhere = move_one(env.as_ref(), &lb, "m2", "w4", 10.0).await;
    assert!(
        matches!(elsewhere, Err(MoveError::NotHere(_))),
        "{elsewhere:?}"
    );
    let unknown = move_one(env.as_ref(), &lb, "m2", "nope", 10.0).await;
    assert!(
        matches!(unknown, Err(MoveError::UnknownWorker(_))),
        "{unknown:?}"
    );
    assert!(lb_calls(&lb).is_empty() && env.calls().is_empty());
}

#[tokio::test]
async fn a_worker_not_seen_elsewhere_in_time_is_unpaused_and_routing_restored() {
    let (env, lb) = (fleet(), FakeLb::default());
    let r = move_one(env.as_ref(), &lb, "m2", "w1", 1.0).await.unwrap();
    assert_eq!(r.outcome, MoveOutcome::NotSeenElsewhere, "{r:#?}");
    assert!(r.closed_at.is_some() && r.to_master.is_none());
    assert_eq!(lb_calls(&lb).last().unwrap(), "resume routing");
    assert_eq!(env.calls(), ["pause w1", "unpause w1"]);
}

#[tokio::test]
async fn a_failed_close_still_restores_routing_and_the_pause() {
    let (env, lb) = (fleet(), FakeLb::default());
    lb.1.lock().unwrap().push(5000);
    let r = move_one(env.as_ref(), &lb, "m2", "w1", 5.0).await;
    assert!(matches!(r, Err(MoveError::Lb(_))), "{r:?}");
    assert_eq!(lb_calls(&lb).last().unwrap(), "resume routing");
    assert_eq!(env.calls(), ["pause w1", "unpause w1"]);
}

#[test]
fn the_timeout_is_bounded() {
    let req = |t| MoveRequest {
        timeout_secs: t,
        requested_by: None,
    };
    assert_eq!(timeout_of(&req(None)).unwrap(), MOVE_TIMEOUT_SECS);
    assert_eq!(timeout_of(&req(Some(5.0))).unwrap(), 5.0);
    for bad in [0.0, -1.0, f64::NAN, 601.0] {
        assert!(timeout_of(&req(Some(bad))).is_err(), "{bad}");
    }
}
