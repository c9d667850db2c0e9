//! Who owns the schedulers and change sources: the judging shared by `schedulers list`, the drain
//! plan and the upgrade's verify step.
//!
//! Buildbot 4.3 (`util/service.py`, `ClusteredBuildbotService`) tries to claim a clustered
//! service at exactly two moments: when the service starts (`startService` → `_activityPoll`
//! at once) and then every `POLL_INTERVAL_SEC` = 300 s on a `LoopingCall` started with it. A
//! SIGHUP reconfig does **not** try again: `reconfigServiceWithBuildbotConfig` reconfigures a
//! scheduler of an unchanged class in place (`reconfigServiceWithSibling`), with no stop/start.
//! In a blue-green upgrade the new masters start while the old ones still own everything, so
//! their first claim fails; the old masters release their claims when they stop, and each new
//! master tries again at its start + k × 300 s. Nothing short of restarting a master prompts it,
//! so verify reports exactly when the next attempt comes, and with `--wait-schedulers` waits
//! for it (bounded by that attempt plus a margin).
//!
//! Ownership is read through the agents (`GET /v1/fleet`, its `services`), never from Buildbot's
//! REST API directly; this module only judges what was read.

use std::collections::BTreeSet;

use bbctl_api::{ClusteredService, ServiceKind};

/// Buildbot's `ClusteredBuildbotService.POLL_INTERVAL_SEC`.
pub const POLL_INTERVAL_SECS: f64 = 300.0;
/// A master's services start a little after its process; the poll comes that much later.
pub const POLL_MARGIN_SECS: f64 = 15.0;

/// Schedulers and change sources not owned by a new master, one line each.
pub fn unowned(services: &[ClusteredService], new_ids: &BTreeSet<i64>) -> Vec<String> {
    services
        .iter()
        .filter(|s| !s.masterid.is_some_and(|id| new_ids.contains(&id)))
        .map(|s| {
            let what = match s.kind {
                ServiceKind::Scheduler => "scheduler",
                ServiceKind::ChangeSource => "change source",
            };
            match (&s.master_name, s.masterid) {
                (Some(owner), _) => format!("{what} {:?} owned by {owner}", s.name),
                (None, Some(id)) => format!("{what} {:?} owned by master id {id}", s.name),
                (None, None) => format!("{what} {:?} has no active owner", s.name),
            }
        })
        .collect()
}

/// The plan's line for a master about to stop that owns schedulers or change sources (`owned`):
/// they go unowned with it until another master's claim. `None` when it owns none.
pub fn left_unowned_note(master: &str, owned: &[&ClusteredService]) -> Option<String> {
    if owned.is_empty() {
        return None;
    }
    let names: Vec<String> = owned
        .iter()
        .map(|s| {
            let what = match s.kind {
                ServiceKind::Scheduler => "scheduler",
                ServiceKind::ChangeSource => "change source",
            };
            format!("{what} {:?}", s.name)
        })
        .collect();
    Some(format!(
        "note: {master} owns {}: once it stops they have no owner (nothing triggers them) until \
         another active master claims them, on its activity poll (every {POLL_INTERVAL_SECS:.0} \
         s) or its start (`bbctl schedulers list` shows owners)",
        names.join(", ")
    ))
}

/// Seconds until the first new master's next claim attempt, from the new masters' uptimes.
pub fn next_attempt_in(uptimes: &[f64]) -> Option<f64> {
    uptimes
        .iter()
        .map(|up| POLL_INTERVAL_SECS - up.rem_euclid(POLL_INTERVAL_SECS))
        .min_by(f64::total_cmp)
}

/// How long `--wait-schedulers` waits at most for the next claim attempt.
pub fn wait_limit_secs(eta: Option<f64>) -> f64 {
    (eta.unwrap_or(POLL_INTERVAL_SECS) + POLL_MARGIN_SECS).min(POLL_INTERVAL_SECS + 30.0)
}

/// The line that explains unowned schedulers: when Buildbot will next try, and why not sooner.
pub fn explain(eta: Option<f64>) -> String {
    let when = match eta {
        Some(secs) => format!(
            "the next attempt by a new master is in about {:.0} s",
            secs + POLL_MARGIN_SECS / 3.0
        ),
        None => "within 5 minutes".to_string(),
    };
    format!(
        "Buildbot claims schedulers and change sources only when a master starts and on its \
         5-minute activity poll (a reconfig does not prompt it): {when}; \
         `--wait-schedulers` waits for it"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(kind: ServiceKind, name: &str, owner: Option<(i64, &str)>) -> ClusteredService {
        ClusteredService {
            kind,
            name: name.into(),
            masterid: owner.map(|(id, _)| id),
            master_name: owner.map(|(_, n)| n.to_string()),
        }
    }

    #[test]
    fn next_attempt_is_the_soonest_poll_of_any_new_master() {
        assert_eq!(next_attempt_in(&[]), None);
        assert_eq!(next_attempt_in(&[40.0]), Some(260.0));
        assert_eq!(next_attempt_in(&[40.0, 290.0]), Some(10.0));
        assert_eq!(next_attempt_in(&[340.0]), Some(260.0));
    }

    #[test]
    fn only_services_owned_by_a_new_master_count_as_owned() {
        let new: BTreeSet<i64> = [3, 4].into();
        let services = [
            service(ServiceKind::Scheduler, "force", Some((3, "h:/m3"))),
            service(ServiceKind::Scheduler, "nightly", Some((1, "h:/m1"))),
            service(ServiceKind::ChangeSource, "poller", None),
        ];
        assert_eq!(
            unowned(&services, &new),
            [
                "scheduler \"nightly\" owned by h:/m1",
                "change source \"poller\" has no active owner"
            ]
        );
        assert!(unowned(&services[..1], &new).is_empty());
    }

    #[test]
    fn a_stopping_owner_is_named_with_what_it_leaves_unowned() {
        let force = service(ServiceKind::Scheduler, "force", Some((2, "h:/m2")));
        let poller = service(ServiceKind::ChangeSource, "poller", Some((2, "h:/m2")));
        let note = left_unowned_note("master-2", &[&force, &poller]).unwrap();
        assert!(
            note.starts_with(
                "note: master-2 owns scheduler \"force\", change source \"poller\": once it stops"
            ),
            "{note}"
        );
        assert!(note.contains("every 300 s"), "{note}");
        assert_eq!(left_unowned_note("master-2", &[]), None);
    }
}
