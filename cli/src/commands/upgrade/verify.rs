//! Step 4, verify: every old master that is not also a new one stopped, every worker attached
//! to a master on the new configuration, no build request claimed by a stopped master, and who
//! owns the schedulers and change sources ([`super::schedulers`]: reported with the time of
//! Buildbot's next claim attempt, or waited for with `--wait-schedulers`).
//!
//! Everything is read through the agents (`GET /v1/master` of each master, `GET /v1/fleet` of a
//! new one), never from Buildbot's REST API directly, and every look reads everything again: a
//! fact that could not be read (an agent that answers with an error, a master whose Buildbot
//! identity is not known yet) keeps verify waiting and, past its bound, fails it — it never
//! passes for "nothing found". An agent that does not answer at all pauses the upgrade like any
//! step ([`super::pause`]).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use bbctl_api::{FleetView, MasterInfo};

use super::error::UpgradeError;
use super::run::Runner;
use crate::commands::schedulers;
use crate::report::upgrade::Journal;

/// How long handed-off workers (and anything else verify waits for) may take to settle.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Time between two looks while something has not settled.
const POLL: Duration = Duration::from_secs(1);

/// One read of everything verify judges, through the agents.
#[derive(Debug, Clone, Default)]
pub(super) struct Look {
    /// The new masters' agents' answers, by inventory name.
    pub new: Vec<(String, MasterInfo)>,
    /// The old masters' (those not also new) agents' answers.
    pub old: Vec<(String, MasterInfo)>,
    /// The fleet as a new master's agent reads it from the shared DB.
    pub fleet: Option<FleetView>,
    /// Reads that failed with an answer (not an unreachable agent), one line each.
    pub unread: Vec<String>,
    /// Old masters no longer in the inventory (their host lost), with the Buildbot master id
    /// the journal recorded for each.
    pub gone: Vec<(String, Option<i64>)>,
}

/// What a look shows.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Verdict {
    /// The upgrade's end state holds.
    Settled(Settled),
    /// Not yet (or not readable yet): look again, fail past the bound.
    Pending { what: String, lines: Vec<String> },
    /// Wrong in a way waiting cannot fix.
    Wrong { what: String, lines: Vec<String> },
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Settled {
    pub new_ids: BTreeSet<i64>,
    pub workers: usize,
    /// Schedulers and change sources not (yet) owned by a new master.
    pub unowned: Vec<String>,
    /// The new masters' uptimes, for the next scheduler claim attempt.
    pub uptimes: Vec<f64>,
}

impl Runner<'_> {
    /// Checks the end state; returns findings that do not fail the upgrade (schedulers).
    pub(super) async fn verify(&self, j: &mut Journal) -> Result<String, UpgradeError> {
        let settled = settle(|| self.look(j), &j.config_sha256, SETTLE_TIMEOUT, POLL).await?;
        let mut findings = settled.unowned.clone();
        let eta = schedulers::next_attempt_in(&settled.uptimes);
        if !findings.is_empty() && j.options.wait_schedulers {
            self.emitter.emit(
                "step_progress",
                Some("verify"),
                &format!(
                    "waiting for Buildbot's activity poll to move {} scheduler(s)/change source(s) (at most {:.0} s)",
                    findings.len(),
                    schedulers::wait_limit_secs(eta)
                ),
                serde_json::Value::Null,
            );
            let limit = Duration::from_secs_f64(schedulers::wait_limit_secs(eta));
            let deadline = tokio::time::Instant::now() + limit;
            loop {
                let fleet = self.fleet_view(j).await?;
                findings = match fleet {
                    Ok(fleet) => schedulers::unowned(&fleet.services, &settled.new_ids),
                    Err(unread) => {
                        return Err(UpgradeError::failed(
                            "could not read who owns the schedulers",
                            unread,
                        ));
                    }
                };
                if findings.is_empty() || tokio::time::Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
        if !findings.is_empty() {
            findings.push(schedulers::explain(eta));
        }
        j.findings = findings;
        let migrated = self.verify_migration(j).await?;
        let migrated = if migrated.is_empty() {
            migrated
        } else {
            format!("; {migrated}")
        };
        Ok(format!(
            "old masters stopped, {} worker(s) on new masters, no request claimed by a stopped master, {}{migrated}",
            settled.workers,
            if j.findings.is_empty() {
                "schedulers on new masters"
            } else {
                "schedulers still moving"
            }
        ))
    }

    /// Reads every new and old master and the fleet view, through the agents.
    async fn look(&self, j: &Journal) -> Result<Look, UpgradeError> {
        let mut look = Look::default();
        let old: Vec<&String> = j
            .old
            .iter()
            .filter(|m| !j.new.contains(m) && !self.gone(j, m))
            .collect();
        look.gone = j
            .old
            .iter()
            .filter(|m| self.gone(j, m))
            .map(|m| (m.clone(), j.old_masterids.get(m).copied()))
            .collect();
        for (name, is_new) in j
            .new
            .iter()
            .map(|m| (m, true))
            .chain(old.iter().map(|m| (*m, false)))
        {
            match self.client(name)?.master().await {
                Ok(info) if is_new => look.new.push((name.clone(), info)),
                Ok(info) => look.old.push((name.clone(), info)),
                Err(err) if err.is_unreachable() => return Err(UpgradeError::Agent(err)),
                Err(err) => look.unread.push(err.to_string()),
            }
        }
        match self.fleet_view(j).await? {
            Ok(fleet) => look.fleet = Some(fleet),
            Err(unread) => look.unread.extend(unread),
        }
        Ok(look)
    }

    /// `GET /v1/fleet` of the first new master whose agent answers it; the failed reads when
    /// none does. An unreachable agent pauses the step.
    async fn fleet_view(
        &self,
        j: &Journal,
    ) -> Result<Result<FleetView, Vec<String>>, UpgradeError> {
        let mut unread = Vec::new();
        for name in &j.new {
            match self.client(name)?.fleet().await {
                Ok(fleet) => return Ok(Ok(fleet)),
                Err(err) if err.is_unreachable() => return Err(UpgradeError::Agent(err)),
                Err(err) => unread.push(err.to_string()),
            }
        }
        if unread.is_empty() {
            unread.push("no new master to read the fleet from".into());
        }
        Ok(Err(unread))
    }
}

/// Looks until the end state holds, something is definitely wrong, or `timeout` passes (then
/// what was still pending fails the step, naming what could not be read or did not settle).
pub(super) async fn settle<F, Fut>(
    mut look: F,
    config_sha256: &str,
    timeout: Duration,
    poll: Duration,
) -> Result<Settled, UpgradeError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Look, UpgradeError>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match assess(&look().await?, config_sha256) {
            Verdict::Settled(settled) => return Ok(settled),
            Verdict::Wrong { what, lines } => {
                return Err(UpgradeError::failed(what, lines));
            }
            Verdict::Pending { what, lines } => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(UpgradeError::failed(
                        format!("{what} (still after {:.0} s)", timeout.as_secs_f64()),
                        lines,
                    ));
                }
            }
        }
        tokio::time::sleep(poll).await;
    }
}

/// Judges one look. Pure: the rules of verify in one place.
pub(super) fn assess(look: &Look, config_sha256: &str) -> Verdict {
    let wrong = |what: &str, lines: Vec<String>| Verdict::Wrong {
        what: what.into(),
        lines,
    };
    let pending = |what: &str, lines: Vec<String>| Verdict::Pending {
        what: what.into(),
        lines,
    };
    let off_new: Vec<String> = look
        .new
        .iter()
        .filter(|(_, i)| {
            let on_new = i.config.as_ref().is_some_and(|c| c.sha256 == config_sha256);
            !(i.process.running && on_new)
        })
        .map(|(m, i)| match (&i.config, i.process.running) {
            (_, false) => format!("{m} does not run"),
            (Some(c), true) => format!("{m} runs configuration {} ({})", c.label, short(&c.sha256)),
            (None, true) => format!("{m} runs an unknown configuration"),
        })
        .collect();
    if !off_new.is_empty() {
        return wrong("a new master is not running the new configuration", off_new);
    }
    let still: Vec<String> = look
        .old
        .iter()
        .filter(|(_, i)| i.process.running)
        .map(|(m, i)| format!("old master {m} still runs (pid {:?})", i.process.pid))
        .collect();
    if !still.is_empty() {
        return wrong("an old master still runs", still);
    }
    if !look.unread.is_empty() {
        return pending("could not read the fleet's state", look.unread.clone());
    }
    let unknown: Vec<String> = look
        .new
        .iter()
        .filter(|(_, i)| i.masterid.is_none())
        .map(|(m, i)| {
            let why = if i.problems.is_empty() {
                "not listed in Buildbot's masters yet".to_string()
            } else {
                i.problems.join("; ")
            };
            format!("{m}: Buildbot master id unknown ({why})")
        })
        .collect();
    if !unknown.is_empty() {
        return pending(
            "a new master's Buildbot identity could not be read",
            unknown,
        );
    }
    let Some(fleet) = &look.fleet else {
        return pending("could not read the fleet's state", vec![]);
    };
    let new_ids: BTreeSet<i64> = look.new.iter().filter_map(|(_, i)| i.masterid).collect();
    let names: BTreeMap<i64, &str> = fleet
        .masters
        .iter()
        .map(|m| (m.masterid, m.name.as_str()))
        .collect();
    let master = |id: i64| match names.get(&id) {
        Some(name) => format!("master id {id} ({name})"),
        None => format!("master id {id}"),
    };
    // A lost master's `connected_workers` rows outlive it (no housekeeping clears them,
    // Buildbot #4277): connections to an old master out of the inventory (inactive, checked
    // above) are not counted.
    let gone_ids: BTreeSet<i64> = look.gone.iter().filter_map(|(_, id)| *id).collect();
    let stray: Vec<String> = fleet
        .workers
        .iter()
        .filter(|w| {
            let live: Vec<&i64> = w
                .connected_to
                .iter()
                .filter(|id| !gone_ids.contains(id))
                .collect();
            live.is_empty() || live.iter().any(|id| !new_ids.contains(id))
        })
        .map(|w| match w.connected_to.as_slice() {
            [] => format!("{} is not connected", w.name),
            ids => format!(
                "{} is on {}",
                w.name,
                ids.iter()
                    .map(|id| master(*id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
        .collect();
    if !stray.is_empty() {
        return pending("workers not attached to a new master", stray);
    }
    // An old master taken out of the inventory counts as stopped once Buildbot marks its
    // master inactive (`bbctl masters expire`): until then its builds and claims are its own.
    let active_gone: Vec<String> = look
        .gone
        .iter()
        .filter(|(_, id)| {
            id.is_none_or(|id| fleet.masters.iter().any(|m| m.masterid == id && m.active))
        })
        .map(|(m, id)| match id {
            Some(id) => format!(
                "{m} is not in the inventory but {} is still active in Buildbot: `bbctl masters \
                 expire` it",
                master(*id)
            ),
            None => format!("{m} is not in the inventory and its Buildbot master id is unknown"),
        })
        .collect();
    if !active_gone.is_empty() {
        return wrong(
            "an old master left the inventory but not Buildbot",
            active_gone,
        );
    }
    // A claim by a master outside the new set is stuck when that master is inactive (or one of
    // the old masters, stopped above); an active master outside the upgrade may hold claims.
    let old_ids: BTreeSet<i64> = look
        .old
        .iter()
        .filter_map(|(_, i)| i.masterid)
        .chain(look.gone.iter().filter_map(|(_, id)| *id))
        .collect();
    let active: BTreeSet<i64> = fleet
        .masters
        .iter()
        .filter(|m| m.active)
        .map(|m| m.masterid)
        .collect();
    let stuck: Vec<String> = fleet
        .claimed_requests
        .iter()
        .filter_map(|r| Some((r, r.claimed_by_masterid?)))
        .filter(|(_, id)| !new_ids.contains(id) && (old_ids.contains(id) || !active.contains(id)))
        .map(|(r, id)| {
            format!(
                "build request {} claimed by stopped {}",
                r.buildrequestid,
                master(id)
            )
        })
        .collect();
    if !stuck.is_empty() {
        return pending("requests claimed by stopped masters", stuck);
    }
    Verdict::Settled(Settled {
        unowned: schedulers::unowned(&fleet.services, &new_ids),
        workers: fleet.workers.len(),
        uptimes: look
            .new
            .iter()
            .filter_map(|(_, i)| i.process.uptime_secs)
            .collect(),
        new_ids,
    })
}

fn short(sha256: &str) -> &str {
    &sha256[..sha256.len().min(12)]
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
