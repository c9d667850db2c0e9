use super::*;

fn idle(name: &str) -> WorkerLoad {
    WorkerLoad {
        name: name.into(),
        idle: true,
        paused: false,
    }
}

fn master(name: &str, workers: Vec<WorkerLoad>) -> MasterLoad {
    MasterLoad {
        name: name.into(),
        out: None,
        weight: 1.0,
        workers,
    }
}

fn many(prefix: &str, n: usize) -> Vec<WorkerLoad> {
    (0..n).map(|i| idle(&format!("{prefix}{i:02}"))).collect()
}

fn after(masters: &[MasterLoad], plan: &Plan) -> BTreeMap<String, i64> {
    let mut count: BTreeMap<String, i64> = masters
        .iter()
        .map(|m| (m.name.clone(), m.workers.len() as i64))
        .collect();
    for m in &plan.moves {
        *count.get_mut(&m.from).unwrap() -= 1;
        *count.get_mut(&m.to).unwrap() += 1;
    }
    count
}

fn none() -> BTreeSet<String> {
    BTreeSet::new()
}

#[test]
fn targets_follow_the_weights_and_add_up() {
    let t = targets(&[("m1", 1.0), ("m2", 1.0), ("m3", 1.0)], 24);
    assert_eq!(t.values().copied().collect::<Vec<_>>(), [8, 8, 8]);
    // 5, 2.5, 2.5: the half goes to the first name.
    let t = targets(&[("m1", 2.0), ("m2", 1.0), ("m3", 1.0)], 10);
    assert_eq!(t.values().copied().collect::<Vec<_>>(), [5, 3, 2]);
    // Weight 0 takes none; all zero counts as equal.
    let t = targets(&[("m1", 0.0), ("m2", 1.0)], 7);
    assert_eq!(t.values().copied().collect::<Vec<_>>(), [0, 7]);
    let t = targets(&[("m1", 0.0), ("m2", 0.0)], 3);
    assert_eq!(t.values().copied().collect::<Vec<_>>(), [2, 1]);
}

#[test]
fn twenty_two_two_becomes_eight_each_from_the_loaded_master() {
    let fleet = [
        master("m1", many("a", 20)),
        master("m2", many("b", 2)),
        master("m3", many("c", 2)),
    ];
    let p = plan(&fleet, &[], &none(), None);
    assert_eq!(p.moves.len(), 12);
    assert!(p.moves.iter().all(|m| m.from == "m1" && !m.for_pin));
    assert_eq!(
        after(&fleet, &p).values().copied().collect::<Vec<_>>(),
        [8, 8, 8]
    );
    // The two destinations take turns.
    assert_eq!(p.moves[0].to, "m2");
    assert_eq!(p.moves[1].to, "m3");
    // A balanced fleet plans nothing.
    let even = [master("m1", many("a", 3)), master("m2", many("b", 3))];
    assert!(plan(&even, &[], &none(), None).moves.is_empty());
}

#[test]
fn busy_and_paused_workers_stay_and_are_named() {
    let mut workers = many("a", 4);
    workers[0].idle = false;
    workers[1].idle = false;
    workers[2].paused = true;
    let fleet = [master("m1", workers), master("m2", vec![])];
    let p = plan(&fleet, &[], &none(), None);
    // Target 2 each: only a03 can go.
    assert_eq!(p.moves.len(), 1);
    assert_eq!(p.moves[0].worker, "a03");
    let held: Vec<&str> = p.held.iter().map(|h| h.worker.as_str()).collect();
    assert_eq!(held, ["a00", "a01", "a02"]);
    assert!(p.held[0].why.contains("never interrupted"));
    // Tried already: not planned again.
    let tried: BTreeSet<String> = ["a03".to_owned()].into();
    assert!(plan(&fleet, &[], &tried, None).moves.is_empty());
}

#[test]
fn masters_out_of_service_neither_give_nor_take() {
    let mut draining = master("m3", many("c", 6));
    draining.out = Some("draining".into());
    let fleet = [master("m1", many("a", 4)), master("m2", vec![]), draining];
    let p = plan(&fleet, &[], &none(), None);
    assert_eq!(p.targets.len(), 2);
    assert_eq!(p.moves.len(), 2);
    assert!(p.moves.iter().all(|m| m.from == "m1" && m.to == "m2"));
}

#[test]
fn pins_keep_workers_on_their_masters_and_bring_them_back() {
    let pins = [Pin {
        workers: "gpu-*".into(),
        masters: vec!["m1".into()],
    }];
    // gpu-2 sits on m2, which its pin does not allow: it goes to m1 although that was even.
    let fleet = [
        master("m1", vec![idle("gpu-1"), idle("x1")]),
        master("m2", vec![idle("gpu-2"), idle("x2")]),
    ];
    let p = plan(&fleet, &pins, &none(), None);
    assert_eq!(p.moves[0].worker, "gpu-2");
    assert_eq!(p.moves[0].to, "m1");
    assert!(p.moves[0].for_pin);
    // Then the balance: x1 goes to m2, never gpu-1.
    assert_eq!(p.moves.len(), 2);
    assert_eq!(p.moves[1].worker, "x1");
    // A master over its target with only pinned workers keeps them.
    let fleet = [
        master("m1", vec![idle("gpu-1"), idle("gpu-2"), idle("gpu-3")]),
        master("m2", vec![]),
    ];
    assert!(plan(&fleet, &pins, &none(), None).moves.is_empty());
}

#[test]
fn a_pin_to_masters_out_of_service_holds_the_worker() {
    let pins = [Pin {
        workers: "gpu-1".into(),
        masters: vec!["m3".into()],
    }];
    let mut m3 = master("m3", vec![]);
    m3.out = Some("cordoned".into());
    let fleet = [master("m1", vec![idle("gpu-1")]), master("m2", vec![]), m3];
    let p = plan(&fleet, &pins, &none(), None);
    assert!(p.moves.is_empty(), "{p:#?}");
}

#[test]
fn max_moves_caps_the_plan() {
    let fleet = [master("m1", many("a", 10)), master("m2", vec![])];
    assert_eq!(plan(&fleet, &[], &none(), Some(3)).moves.len(), 3);
    assert_eq!(plan(&fleet, &[], &none(), None).moves.len(), 5);
}
