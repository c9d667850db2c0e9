//! The attach repair against a fake Buildbot, log and load balancer.

use super::*;

use crate::drain::engine_fakes::*;

#[tokio::test]
async fn a_half_attached_worker_is_closed_once_after_the_grace() {
    let env = FakeEnv::with(|w| {
        w.workers = vec![worker(1, "w1", OTHER, false), worker(2, "w2", ME, false)];
        // w2 is attached here for real; w1's attach here failed, and it shows nowhere.
        w.workers[0].connected_to.clear();
        let mut a = settled("w1", 5000);
        (a.settled, a.failed) = (false, true);
        w.attaches.insert("w1".into(), a);
        w.attaches.insert("w2".into(), settled("w2", 5001));
    });
    let lb = FakeLb::default();
    let mut r = Repairs::default();
    let notes = repair_once(&env, &lb, &mut r, 100.0).await;
    assert!(notes.is_empty() && lb.0.lock().unwrap().is_empty());
    let notes = repair_once(&env, &lb, &mut r, 100.0 + REPAIR_GRACE_SECS).await;
    assert_eq!(*lb.0.lock().unwrap(), ["close w1:5000"]);
    assert!(notes[0].contains("cannot attach"), "{notes:?}");
    // Acted on once.
    repair_once(&env, &lb, &mut r, 200.0).await;
    assert_eq!(lb.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_worker_whose_latest_attach_succeeded_is_left_alone() {
    let env = FakeEnv::with(|w| {
        w.workers = vec![worker(1, "w1", ME, false)];
        w.attaches.insert("w1".into(), settled("w1", 5000));
    });
    let lb = FakeLb::default();
    let mut r = Repairs::default();
    for t in [100.0, 110.0, 120.0] {
        repair_once(&env, &lb, &mut r, t).await;
    }
    assert!(lb.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_stale_connected_row_does_not_hide_a_failed_attach() {
    // Buildbot still lists w1 on this master (the row of its previous connection), but the log
    // says its latest attach failed.
    let env = FakeEnv::with(|w| {
        w.workers = vec![worker(1, "w1", ME, false)];
        let mut a = settled("w1", 5000);
        (a.settled, a.failed) = (false, true);
        w.attaches.insert("w1".into(), a);
    });
    let lb = FakeLb::default();
    let mut r = Repairs::default();
    repair_once(&env, &lb, &mut r, 100.0).await;
    repair_once(&env, &lb, &mut r, 106.0).await;
    assert_eq!(*lb.0.lock().unwrap(), ["close w1:5000"]);
}
