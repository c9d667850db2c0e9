//! The fleet lease and the journal in the fleet store, through the real binary against fake
//! agents: a run fenced off by another run's take-over stops at once (exit 5) and does nothing
//! more; `resume` refuses a live lease of the same upgrade unless `--take-over`; with a shared
//! store the upgrade is resumed, shown and listed through another agent when the first one
//! cannot reach the store.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::fake_agent::FakeDb;
use crate::fake_upgrade::{FakeStore, OTHER_RUN};
use crate::migrate::{MigrateFleet, NEW, names};

/// Two running masters and two idle slots, all on the same Buildbot: a blue-green upgrade.
fn fleet(shared: bool) -> MigrateFleet {
    let f = MigrateFleet::new(2, 2, NEW, FakeDb::postgresql("067", &names(4)));
    if shared {
        let store = Arc::new(Mutex::new(FakeStore {
            shared_key: Some("db.example:5432/bbctl_fleet".into()),
            ..FakeStore::default()
        }));
        for u in &f.upgrades {
            u.lock().unwrap().store = store.clone();
        }
    }
    f
}

fn store(f: &MigrateFleet) -> Arc<Mutex<FakeStore>> {
    f.upgrades[0].lock().unwrap().store.clone()
}

fn activations(f: &MigrateFleet) -> usize {
    f.upgrades
        .iter()
        .map(|u| u.lock().unwrap().activations.len())
        .sum()
}

fn states(j: &Value) -> Vec<String> {
    j["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_string())
        .collect()
}

/// An upgrade fenced off after its third journal append (another run took the lease over).
fn fenced_upgrade(f: &MigrateFleet) -> String {
    store(f).lock().unwrap().taken_over_after = Some(3);
    let run = f.upgrade(&[]).expect(5);
    assert!(
        run.stderr.contains(&format!("taken over by {OTHER_RUN}")),
        "{}",
        run.stderr
    );
    f.journal().unwrap()["id"].as_str().unwrap().to_string()
}

#[test]
fn a_run_fenced_off_stops_at_once_without_rolling_back_or_releasing() {
    let f = fleet(false);
    let id = fenced_upgrade(&f);
    let s = store(&f);
    let s = s.lock().unwrap();
    let entries = &s.entries[&id];
    assert_eq!(entries.len(), 3, "no append after the take-over");
    assert!(
        entries
            .iter()
            .all(|e| e.epoch == 1 && e.holder.starts_with(&format!("{id}/")))
    );
    let lease = s.lease.as_ref().unwrap();
    assert_eq!(
        lease.holder, OTHER_RUN,
        "not released: it is the other run's"
    );
    assert_eq!(lease.epoch, 2);
    let j = &s.journals[&id].doc;
    assert_eq!(j["phase"], "running", "not marked failed, not rolled back");
    let states = states(j);
    assert_eq!(states[1], "done");
    assert!(states[2..].iter().all(|st| st == "pending"), "{states:?}");
    drop(s);
    // Step 2 ran (one activation at most); nothing after the fencing.
    let before = activations(&f);
    assert!(before <= 2, "{before}");
}

#[test]
fn resume_refuses_a_live_lease_of_the_same_upgrade_unless_told_to_take_it_over() {
    let f = fleet(false);
    let id = fenced_upgrade(&f);
    let refused = f.fleet.bbctl(&["upgrade", "resume", &id]).expect(5);
    assert!(
        refused.stderr.contains(&format!(
            "refusing to resume upgrade {id}: another run holds its lease: {OTHER_RUN}"
        )) && refused.stderr.contains("(store clock)")
            && refused.stderr.contains("--take-over"),
        "{}",
        refused.stderr
    );
    assert_eq!(store(&f).lock().unwrap().lease.as_ref().unwrap().epoch, 2);

    let run = f
        .fleet
        .bbctl(&["upgrade", "resume", &id, "--take-over"])
        .expect(0);
    assert!(run.stderr.contains("lease epoch 3"), "{}", run.stderr);
    let j = f.journal().unwrap();
    assert_eq!(j["phase"], "succeeded");
    let s = store(&f);
    let s = s.lock().unwrap();
    let later: Vec<i64> = s.entries[&id][3..].iter().map(|e| e.epoch).collect();
    assert!(
        !later.is_empty() && later.iter().all(|e| *e == 3),
        "{later:?}"
    );
    let lease = s.lease.as_ref().unwrap();
    assert_ne!(lease.holder, OTHER_RUN);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(lease.expires_at <= now, "released at the end");
}

#[test]
fn a_shared_store_is_reached_through_another_agent() {
    let f = fleet(true);
    let id = fenced_upgrade(&f);
    // master-1's agent cannot reach the store now; master-2's can.
    f.upgrades[0].lock().unwrap().store_down = true;
    let status = f
        .fleet
        .bbctl(&["upgrade", "status", &id, "-o", "json"])
        .expect(0);
    let j: Value = status.json();
    assert_eq!(j["id"], id.as_str());
    let history = f
        .fleet
        .bbctl(&["upgrade", "history", "-o", "json"])
        .expect(0);
    assert!(history.stdout.contains(&id), "{}", history.stdout);
    f.fleet
        .bbctl(&["upgrade", "resume", &id, "--take-over"])
        .expect(0);
    assert_eq!(f.journal().unwrap()["phase"], "succeeded");
}

#[test]
fn agents_naming_different_stores_are_refused_before_anything_is_done() {
    let f = fleet(false);
    let other = Arc::new(Mutex::new(FakeStore {
        shared_key: Some("db.example:5432/bbctl_fleet".into()),
        ..FakeStore::default()
    }));
    f.upgrades[1].lock().unwrap().store = other;
    let run = f.upgrade(&[]).expect(2);
    assert!(
        run.stderr
            .contains("do not keep the fleet's state in the same store"),
        "{}",
        run.stderr
    );
    assert!(store(&f).lock().unwrap().lease.is_none());
}
