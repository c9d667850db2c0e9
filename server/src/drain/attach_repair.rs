//! Workers left half-attached by their master, and the one step that frees them.
//!
//! Buildbot 4.3.0 tells a worker it is attached before the master's side of the attach is done.
//! When that side then fails — a database error writing `connected_workers` (a PostgreSQL
//! restart at the wrong second), a stale broker — the master logs `worker NAME cannot attach`
//! and stops there: it keeps the connection, the worker believes it is connected and never
//! reconnects, and no build ever runs on it. Its keepalives are answered, so nothing times out.
//!
//! The agent follows its master's `twistd.log` ([`crate::lb::attach_log`]). A worker whose
//! latest attach here failed, and that Buildbot does not list as connected to this master, gets
//! its connection closed at the load balancer once it has stayed that way for
//! [`REPAIR_GRACE_SECS`]: the worker reconnects through the load balancer and attaches again.
//! Each failed attach (worker and peer port) is acted on once. With the `none` hook there is
//! nothing to close; the state is logged once so that an operator can restart the worker.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::Drains;
use super::env::DrainEnv;
use crate::db::now;
use crate::lb::{CloseOutcome, LbError, LoadBalancerHook};

/// How often the agent looks for half-attached workers.
pub const REPAIR_EVERY: Duration = Duration::from_secs(5);
/// How long a failed attach is left alone before its connection is closed (a worker that
/// reconnects by itself meanwhile logs a new attach and is never touched).
pub const REPAIR_GRACE_SECS: f64 = 5.0;

/// What the repair remembers between rounds.
#[derive(Debug, Default)]
pub struct Repairs {
    /// Failed attaches (worker, peer port) and when each was first seen.
    seen: HashMap<(String, u16), f64>,
    /// Failed attaches already dealt with.
    done: HashSet<(String, u16)>,
}

/// One round: closes the connection of every worker half-attached here for longer than the
/// grace. Returns one sentence per action (or per failed action, to be retried next round).
pub async fn repair_once(
    env: &dyn DrainEnv,
    lb: &dyn LoadBalancerHook,
    repairs: &mut Repairs,
    now: f64,
) -> Vec<String> {
    let mut notes = Vec::new();
    let mut failed_now = HashSet::new();
    // The log is the truth here, not `/workers`: the connection this worker had before (the
    // one whose end made it reconnect) may have left its `connected_workers` row behind when
    // the database was away, so Buildbot can list it as connected to this master while it is
    // half-attached. A worker that really attaches again logs a new `attaching from` line. So
    // nothing is asked of Buildbot: the round reads the log only.
    for name in env.failed_attaches() {
        let Some(att) = env.attachment(&name).filter(|a| a.failed) else {
            continue;
        };
        let key = (name.clone(), att.attach.peer_port);
        failed_now.insert(key.clone());
        if repairs.done.contains(&key) {
            continue;
        }
        let first = *repairs.seen.entry(key.clone()).or_insert(now);
        if now - first < REPAIR_GRACE_SECS {
            continue;
        }
        match lb.close_worker_session(&att.attach).await {
            Ok(CloseOutcome::Closed { session }) => {
                notes.push(format!(
                    "worker {}: its attach to this master failed (the master logged `worker {} \
                     cannot attach`) and the worker stayed connected, idle; closed its \
                     connection ({session}) so that it reconnects through the load balancer",
                    name, name
                ));
                repairs.done.insert(key);
            }
            Err(LbError::SessionNotFound { .. }) => {
                repairs.done.insert(key);
            }
            Err(LbError::NotConfigured) => {
                notes.push(format!(
                    "worker {}: its attach to this master failed (`worker {} cannot attach`) and \
                     no load-balancer hook can close its connection: restart the worker",
                    name, name
                ));
                repairs.done.insert(key);
            }
            Err(e) => notes.push(format!(
                "worker {}: its attach to this master failed; closing its connection failed \
                 ({e}); trying again",
                name
            )),
        }
    }
    repairs.seen.retain(|k, _| failed_now.contains(k));
    repairs.done.retain(|k| failed_now.contains(k));
    notes
}

impl Drains {
    /// Runs [`repair_once`] every [`REPAIR_EVERY`] while the agent runs.
    pub async fn repair_attaches(self) {
        let env = self.env();
        let lb = self.lb();
        let mut repairs = Repairs::default();
        loop {
            tokio::time::sleep(REPAIR_EVERY).await;
            if !env.master_running() {
                continue;
            }
            for note in repair_once(&env, lb.as_ref(), &mut repairs, now()).await {
                tracing::warn!("{note}");
            }
        }
    }
}

#[cfg(test)]
#[path = "attach_repair_tests.rs"]
mod tests;
