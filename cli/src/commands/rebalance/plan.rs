//! The rebalancing plan, from what the agents say (pure: no I/O). Each master that takes
//! workers (running, active, in the load balancer's rotation, no drain or cordon) gets a target
//! by its weight — largest remainder, so targets add up to the workers there are — and moves go
//! from masters above their target to masters below it, idle unpaused workers only, each
//! worker only to a master its pin allows. A worker on a master its pin does not allow is moved
//! first, balanced or not.

use std::collections::{BTreeMap, BTreeSet};

use crate::inventory::Pin;

/// A master as the plan sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterLoad {
    /// The inventory name.
    pub name: String,
    /// Why it neither gives nor takes workers now (not running, draining, out of rotation…);
    /// `None` when it takes part.
    pub out: Option<String>,
    pub weight: f64,
    pub workers: Vec<WorkerLoad>,
}

/// A worker attached to a master.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerLoad {
    pub name: String,
    /// Runs no build.
    pub idle: bool,
    pub paused: bool,
}

/// One worker to move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub worker: String,
    pub from: String,
    pub to: String,
    /// The worker sits on a master its pin does not allow.
    pub for_pin: bool,
}

/// A worker that stays on a master above its target, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub worker: String,
    pub master: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Target per master taking part.
    pub targets: BTreeMap<String, usize>,
    pub moves: Vec<Move>,
    pub held: Vec<Held>,
}

/// The masters a pin allows `worker` on (the first pin that names it), or none: any.
fn allowed<'p>(pins: &'p [Pin], worker: &str) -> Option<&'p [String]> {
    pins.iter()
        .find(|p| p.matches(worker))
        .map(|p| p.masters.as_slice())
}

/// Targets by weight, adding up to `total`: floors, then the largest remainders (ties by name).
/// All weights zero counts as all equal.
pub fn targets(masters: &[(&str, f64)], total: usize) -> BTreeMap<String, usize> {
    let sum: f64 = masters.iter().map(|(_, w)| w).sum();
    let weight = |w: f64| if sum > 0.0 { w } else { 1.0 };
    let sum = if sum > 0.0 { sum } else { masters.len() as f64 };
    let mut out = BTreeMap::new();
    let mut remainders = Vec::new();
    for (name, w) in masters {
        let quota = total as f64 * weight(*w) / sum;
        out.insert((*name).to_owned(), quota.floor() as usize);
        remainders.push((quota - quota.floor(), *name));
    }
    let given: usize = out.values().sum();
    remainders.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    for (_, name) in remainders.into_iter().take(total.saturating_sub(given)) {
        *out.get_mut(name).expect("listed") += 1;
    }
    out
}

/// The plan for `masters` under `pins`; `skip` are workers not to move (tried already), and at
/// most `max_moves` moves are planned.
pub fn plan(
    masters: &[MasterLoad],
    pins: &[Pin],
    skip: &BTreeSet<String>,
    max_moves: Option<usize>,
) -> Plan {
    let taking: Vec<&MasterLoad> = masters.iter().filter(|m| m.out.is_none()).collect();
    let total = taking.iter().map(|m| m.workers.len()).sum();
    let weights: Vec<(&str, f64)> = taking.iter().map(|m| (m.name.as_str(), m.weight)).collect();
    let targets = targets(&weights, total);
    let mut count: BTreeMap<&str, usize> = taking
        .iter()
        .map(|m| (m.name.as_str(), m.workers.len()))
        .collect();
    // Workers that can move, per master, by name.
    let mut movable: BTreeMap<&str, Vec<&WorkerLoad>> = BTreeMap::new();
    let mut held = Vec::new();
    for m in &taking {
        for w in &m.workers {
            let why = if skip.contains(&w.name) {
                Some("tried already in this run")
            } else if !w.idle {
                Some("busy (a running build is never interrupted)")
            } else if w.paused {
                Some("paused")
            } else {
                None
            };
            match why {
                None => movable.entry(&m.name).or_default().push(w),
                Some(why) => held.push(Held {
                    worker: w.name.clone(),
                    master: m.name.clone(),
                    why: why.to_owned(),
                }),
            }
        }
    }
    let deficit =
        |count: &BTreeMap<&str, usize>, name: &str| targets[name] as i64 - count[name] as i64;
    // The master that may take `worker` with the largest deficit (ties by name), if any has one
    // (`need_deficit`) — or any allowed one, for a pin.
    let best = |count: &BTreeMap<&str, usize>, worker: &str, from: &str, need_deficit: bool| {
        let allow = allowed(pins, worker);
        taking
            .iter()
            .map(|m| m.name.as_str())
            .filter(|n| *n != from && allow.is_none_or(|a| a.iter().any(|x| x.as_str() == *n)))
            .filter(|n| !need_deficit || deficit(count, n) > 0)
            .max_by(|a, b| deficit(count, a).cmp(&deficit(count, b)).then(b.cmp(a)))
            .map(str::to_owned)
    };
    let mut moves = Vec::new();
    let limit = max_moves.unwrap_or(usize::MAX);
    // Pins first: a worker where its pin does not allow it.
    for m in &taking {
        let Some(list) = movable.get_mut(m.name.as_str()) else {
            continue;
        };
        let mut keep = Vec::new();
        for w in list.drain(..) {
            let misplaced = allowed(pins, &w.name).is_some_and(|a| !a.iter().any(|x| x == &m.name));
            if !misplaced {
                keep.push(w);
                continue;
            }
            match best(&count, &w.name, &m.name, false) {
                Some(to) if moves.len() < limit => {
                    *count.get_mut(m.name.as_str()).expect("taking") -= 1;
                    *count.get_mut(to.as_str()).expect("taking") += 1;
                    moves.push(Move {
                        worker: w.name.clone(),
                        from: m.name.clone(),
                        to,
                        for_pin: true,
                    });
                }
                Some(_) => {}
                None => held.push(Held {
                    worker: w.name.clone(),
                    master: m.name.clone(),
                    why: "its pin names no master that takes workers now".to_owned(),
                }),
            }
        }
        *list = keep;
    }
    // Then the balance: from the master furthest above its target, to the one furthest below.
    while moves.len() < limit {
        let mut sources: Vec<&str> = taking
            .iter()
            .map(|m| m.name.as_str())
            .filter(|n| deficit(&count, n) < 0)
            .collect();
        sources.sort_by(|a, b| deficit(&count, a).cmp(&deficit(&count, b)).then(a.cmp(b)));
        let found = sources.iter().find_map(|from| {
            let list = movable.get(from)?;
            list.iter()
                .enumerate()
                .find_map(|(i, w)| best(&count, &w.name, from, true).map(|to| (*from, i, to)))
        });
        let Some((from, i, to)) = found else { break };
        let w = movable.get_mut(from).expect("found there").remove(i);
        *count.get_mut(from).expect("taking") -= 1;
        *count.get_mut(to.as_str()).expect("taking") += 1;
        moves.push(Move {
            worker: w.name.clone(),
            from: from.to_owned(),
            to,
            for_pin: false,
        });
    }
    // Whatever could not move off a master still above its target.
    held.retain(|h| {
        count
            .get(h.master.as_str())
            .is_some_and(|c| *c > targets[&h.master])
    });
    Plan {
        targets,
        moves,
        held,
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
