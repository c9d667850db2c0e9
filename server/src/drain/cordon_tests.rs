//! The cordon through the drain's state machine, against the fake Buildbot, log and load
//! balancer of `engine_fakes`: it takes the drain's steps but never stops the master; a drain
//! continues it; a cancel of that drain returns to it; an uncordon restores full service.

use bbctl_api::{DrainPhase, DrainRequest};

use crate::drain::engine::{Ctx, cancel};
use crate::drain::engine_fakes::*;
use crate::drain::model::{Drain, DrainState};

fn cordon() -> Drain {
    Drain {
        id: 1,
        phase: DrainPhase::Cordoned,
        state: DrainState {
            masterid: ME,
            cordoned_at: Some(100.0),
            ..DrainState::default()
        },
        request: DrainRequest {
            deadline_secs: None,
            force_after_deadline: false,
            reason: Some("disk check".into()),
            requested_by: None,
            cordon: true,
        },
        started_at: 100.0,
        finished_at: None,
    }
}

/// w1 idle here, w2 busy here (build 7), w3 on the other master.
fn fleet() -> FakeEnv {
    FakeEnv::with(|w| {
        w.workers = vec![
            worker(1, "w1", ME, false),
            worker(2, "w2", ME, false),
            worker(3, "w3", OTHER, false),
        ];
        w.builds = vec![build(7, 2, ME)];
        w.attaches.insert("w1".into(), settled("w1", 5000));
        w.attaches.insert("w2".into(), settled("w2", 5001));
    })
}

async fn cancel_at(d: &mut Drain, env: &FakeEnv, lb: &FakeLb, now: f64) -> Vec<String> {
    let ctx = Ctx {
        env,
        lb,
        agent: "m2",
    };
    let mut notes = Vec::new();
    cancel(d, &ctx, now, &mut notes).await.unwrap();
    notes
}

/// After the first two ticks (w1 closed): w1 arrives elsewhere, w2's build ends and it is handed
/// off too; ticks on long past anything a drain would wait for.
async fn until_clear(d: &mut Drain, env: &FakeEnv, lb: &FakeLb) -> Vec<String> {
    env.move_worker("w1", Some(OTHER));
    env.end_build(7, 104.0);
    let mut notes = step(d, env, lb, 105.0).await;
    notes.extend(step(d, env, lb, 105.5).await);
    env.move_worker("w2", Some(OTHER));
    notes.extend(step(d, env, lb, 120.0).await);
    notes.extend(step(d, env, lb, 200.0).await);
    notes
}

#[tokio::test]
async fn a_cordon_hands_every_worker_off_as_it_goes_idle_and_never_stops_the_master() {
    let (env, lb) = (fleet(), FakeLb::default());
    let mut d = cordon();
    step(&mut d, &env, &lb, 100.0).await;
    assert_eq!(*lb.0.lock().unwrap(), ["stop routing"]);
    assert_eq!(env.calls(), ["pause w1", "pause w2"]);
    let msg = d.state.message.clone().unwrap();
    assert!(
        msg.contains("2 worker(s) still attached, 1 build(s) running"),
        "{msg}"
    );
    step(&mut d, &env, &lb, 100.5).await;
    // The idle w1 is handed off; the busy w2 keeps its build.
    assert_eq!(*lb.0.lock().unwrap(), ["stop routing", "close w1:5000"]);

    let notes = until_clear(&mut d, &env, &lb).await;
    assert_eq!(lb.0.lock().unwrap().last().unwrap(), "close w2:5001");
    assert!(
        notes.iter().any(|n| n.contains("every worker has left")),
        "{notes:?}"
    );
    // Long past everything a drain would wait for: still cordoned, the master never stopped,
    // and the workers that left were unpaused (they work on the other master).
    assert_eq!(d.phase, DrainPhase::Cordoned);
    assert!(!env.world().stopped);
    assert!(!env.calls().iter().any(|c| c == "stop master"));
    assert!(d.state.paused_by_drain.is_empty());
    assert!(
        d.state
            .message
            .as_deref()
            .unwrap()
            .contains("no worker is attached")
    );
    assert_eq!(d.status().workers_handed_off.len(), 2);
}

#[tokio::test]
async fn uncordon_restores_full_service() {
    let (env, lb) = (fleet(), FakeLb::default());
    let mut d = cordon();
    step(&mut d, &env, &lb, 100.0).await;
    let notes = cancel_at(&mut d, &env, &lb, 101.0).await;
    assert_eq!(d.phase, DrainPhase::Cancelled);
    assert!(
        notes.iter().any(|n| n.starts_with("uncordoned")),
        "{notes:?}"
    );
    assert_eq!(lb.0.lock().unwrap().last().unwrap(), "resume routing");
    let w = env.world();
    assert!(!w.workers[0].paused && !w.workers[1].paused);
}

#[tokio::test]
async fn a_drain_continues_the_cordon_and_stops_the_master_its_cancel_returns_to_the_cordon() {
    let (env, lb) = (fleet(), FakeLb::default());
    let mut d = cordon();
    step(&mut d, &env, &lb, 100.0).await;
    step(&mut d, &env, &lb, 100.5).await;
    until_clear(&mut d, &env, &lb).await;
    let drain = DrainRequest {
        deadline_secs: None,
        force_after_deadline: false,
        reason: Some("upgrade".into()),
        requested_by: None,
        cordon: false,
    };

    // A drain, cancelled: back to the cordon, nothing undone (routing stays stopped).
    let mut cancelled = d.clone();
    crate::drain::cordon::continue_as_drain(&mut cancelled, &drain, None, 201.0);
    let routed = lb.0.lock().unwrap().len();
    cancel_at(&mut cancelled, &env, &lb, 201.5).await;
    assert_eq!(cancelled.phase, DrainPhase::Cordoned);
    assert_eq!(lb.0.lock().unwrap().len(), routed, "no routing change");

    // A drain that goes on: nothing is attached any more, so it stops the master.
    crate::drain::cordon::continue_as_drain(&mut d, &drain, None, 201.0);
    step(&mut d, &env, &lb, 202.0).await;
    assert_eq!(d.phase, DrainPhase::Stopping);
    step(&mut d, &env, &lb, 202.5).await;
    assert_eq!(d.phase, DrainPhase::Drained);
    assert!(env.world().stopped);
}
