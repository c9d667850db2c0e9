//! Leftovers of a drain this agent no longer knows (fault 13 of docs/faults.md): when the agent's
//! state DB is deleted, a drain in progress is forgotten — and so are the workers it paused
//! (Buildbot keeps a pause, with the reason `bbctl drain of <agent>`) and the load-balancer maint
//! it set. The agent never acts on them (it cannot tell them from garbage); it reports them in
//! `GET /v1/master` `problems` so that an operator can undo them.

use bbctl_api::{DrainPhase, DrainStatus};

use super::model::pause_reason;
use crate::buildbot::Worker;
use crate::lb::Routing;

/// Whether the newest drain accounts for paused workers and stopped routing: it holds the
/// master, failed holding them, or (for routing) drained the master on purpose.
fn accounted(drain: Option<&DrainStatus>) -> (bool, bool) {
    match drain.map(|d| d.phase) {
        Some(
            DrainPhase::Draining
            | DrainPhase::Stopping
            | DrainPhase::DeadlinePassed
            | DrainPhase::Cordoned,
        ) => (true, true),
        Some(DrainPhase::Failed) => (true, true),
        Some(DrainPhase::Drained) => (false, true),
        Some(DrainPhase::Cancelled) | None => (false, false),
    }
}

/// Problems for workers paused by a drain of `agent` and routing left in maint that no known
/// drain accounts for. `routing` is asked only when it matters (see [`needs_routing`]).
pub fn problems(
    agent: &str,
    drain: Option<&DrainStatus>,
    workers: &[Worker],
    routing: Option<Routing>,
) -> Vec<String> {
    let (pauses_known, routing_known) = accounted(drain);
    let mut out = Vec::new();
    if !pauses_known {
        let reason = pause_reason(agent);
        let left: Vec<&str> = workers
            .iter()
            .filter(|w| w.paused && w.pause_reason.as_deref() == Some(reason.as_str()))
            .map(|w| w.name.as_str())
            .collect();
        if !left.is_empty() {
            out.push(format!(
                "workers paused by a drain of this agent that it has no record of (was its state \
                 DB lost?): {}; unpause them in Buildbot (its web UI, or the worker's \
                 `unpause` control call)",
                left.join(", ")
            ));
        }
    }
    if !routing_known && routing == Some(Routing::Maint) {
        out.push(format!(
            "the load balancer keeps this master in maint but no drain of this agent holds it \
             (was its state DB lost?); `bbctl routing resume {agent}` puts it back in rotation"
        ));
    }
    out
}

/// Whether [`problems`] needs the load balancer's routing state (one runtime-API call).
pub fn needs_routing(drain: Option<&DrainStatus>) -> bool {
    !accounted(drain).1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(name: &str, paused: bool, reason: Option<&str>) -> Worker {
        Worker {
            workerid: 1,
            name: name.into(),
            paused,
            pause_reason: reason.map(str::to_owned),
            connected_to: Vec::new(),
        }
    }

    fn drain(phase: DrainPhase) -> DrainStatus {
        serde_json::from_value(serde_json::json!({
            "id": 1, "phase": phase, "started_at": 1.0, "force_after_deadline": false,
            "builds_running": 0, "builds_finished": 0, "builds_requeued": 0,
            "workers_attached": 0, "workers_handed_off": []
        }))
        .unwrap()
    }

    #[test]
    fn a_forgotten_drain_leaves_reported_pauses_and_maint() {
        let workers = [
            worker("w1", true, Some("bbctl drain of m1")),
            worker("w2", true, Some("bbctl drain of m2")),
            worker("w3", true, Some("operator")),
            worker("w4", false, None),
        ];
        let p = problems("m1", None, &workers, Some(Routing::Maint));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains(": w1;"), "{p:?}");
        assert!(p[1].contains("maint"), "{p:?}");
        assert!(problems("m1", None, &workers[1..], Some(Routing::Ready)).is_empty());
    }

    #[test]
    fn a_known_drain_accounts_for_its_own_changes() {
        let workers = [worker("w1", true, Some("bbctl drain of m1"))];
        for phase in [
            DrainPhase::Draining,
            DrainPhase::DeadlinePassed,
            DrainPhase::Failed,
        ] {
            let d = drain(phase);
            assert!(problems("m1", Some(&d), &workers, Some(Routing::Maint)).is_empty());
            assert!(!needs_routing(Some(&d)));
        }
        // A drained master stays in maint on purpose, but its drain unpaused everything.
        let d = drain(DrainPhase::Drained);
        let p = problems("m1", Some(&d), &workers, Some(Routing::Maint));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(needs_routing(Some(&drain(DrainPhase::Cancelled))) && needs_routing(None));
    }
}
