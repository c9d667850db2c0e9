//! Running a recorded operation on Buildbot's database: one at a time per agent, keyed by
//! (upgrade id, kind) in the `buildbot_db_ops` table, carried out in its own task so that a
//! client hanging up does not stop it, announced as `agent.buildbot_db` events and written to
//! the audit log when it ends.
//!
//! A request for an operation already `done`/`already_applied` gets the recorded one; a
//! request for the operation now running waits for its result; any other operation is refused
//! while one runs. An operation a previous agent process left `running` is resolved first
//! (`recover.rs`), before any request is served: [`Flights`] holds the gate it closes.

use std::future::Future;
use std::sync::Mutex;

use bbctl_api::{BuildbotDbOp, DbOpKind, DbOpState};
use tokio::sync::{RwLock, watch};

use super::{BuildbotDb, BuildbotDbError};
use crate::db::{Db, audit, buildbot_db_ops, now};

/// An upgrade id (it names backup files): 1-100 characters of `[A-Za-z0-9._-]`, not `.…`.
pub fn check_id(id: &str) -> Result<(), BuildbotDbError> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(BuildbotDbError::BadId)
    }
}

/// The `application_name` of an operation's tool (`bbctl-upgrade-master:<id>`).
pub fn appname(kind: DbOpKind, upgrade_id: &str) -> String {
    let tool = match kind {
        DbOpKind::Backup => "backup",
        DbOpKind::Upgrade => "upgrade-master",
        DbOpKind::Restore => "restore",
    };
    format!("bbctl-{tool}:{upgrade_id}")
}

type Key = (String, DbOpKind);

struct Flight {
    key: Key,
    done: watch::Receiver<Option<BuildbotDbOp>>,
}

/// The operation in flight, and the gate closed while interrupted ones are resolved.
#[derive(Default)]
pub struct Flights {
    slot: Mutex<Option<Flight>>,
    pub(super) resolving: std::sync::Arc<RwLock<()>>,
}

/// The right to run one operation; dropping it frees the slot (waiters then look again).
pub struct Ticket {
    flights: std::sync::Arc<Flights>,
    key: Key,
    tx: watch::Sender<Option<BuildbotDbOp>>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut slot = self.flights.slot.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_some_and(|f| f.key == self.key) {
            *slot = None;
        }
    }
}

/// What [`BuildbotDb::enter`] found.
pub enum Entry {
    /// Finished before, or just now by the request this one waited for.
    Done(Box<BuildbotDbOp>),
    /// This request runs the operation.
    Run(Ticket),
}

/// Writes the operation's row while it runs (its tool's pid).
#[derive(Clone)]
pub struct Recorder {
    db: Db,
    op: BuildbotDbOp,
}

impl Recorder {
    /// The operation as recorded when it started.
    pub fn op(&self) -> BuildbotDbOp {
        self.op.clone()
    }

    pub async fn pid(&self, pid: Option<u32>) {
        let (op, db) = (self.op.clone(), self.db.clone());
        if let Err(e) = db.run(move |c| buildbot_db_ops::put(c, &op, pid)).await {
            tracing::warn!(error = %e, "cannot record the tool's pid");
        }
    }
}

/// A new operation, running since now.
pub fn begin(upgrade_id: &str, kind: DbOpKind) -> BuildbotDbOp {
    BuildbotDbOp {
        upgrade_id: upgrade_id.to_owned(),
        kind,
        state: DbOpState::Running,
        from_head: None,
        to_head: None,
        head_after: None,
        backup: None,
        message: format!("{} running", kind.as_str()),
        output: Vec::new(),
        started_at: now(),
        finished_at: None,
    }
}

/// `op` ended in `state`.
pub fn end(mut op: BuildbotDbOp, state: DbOpState, message: impl Into<String>) -> BuildbotDbOp {
    op.state = state;
    op.message = message.into();
    op.finished_at = Some(now());
    op
}

impl BuildbotDb {
    /// Takes the slot for (upgrade id, kind), or returns the finished operation.
    pub(super) async fn enter(
        &self,
        upgrade_id: &str,
        kind: DbOpKind,
    ) -> Result<Entry, BuildbotDbError> {
        check_id(upgrade_id)?;
        drop(self.flights.resolving.read().await);
        let key: Key = (upgrade_id.to_owned(), kind);
        loop {
            let id = upgrade_id.to_owned();
            let recorded = self
                .db
                .run(move |c| buildbot_db_ops::get(c, &id, kind))
                .await?;
            if let Some(r) = recorded
                && matches!(r.op.state, DbOpState::Done | DbOpState::AlreadyApplied)
            {
                return Ok(Entry::Done(Box::new(r.op)));
            }
            let mut wait = {
                let mut slot = self.flights.slot.lock().unwrap_or_else(|p| p.into_inner());
                match slot.as_ref() {
                    Some(f) if f.key == key => f.done.clone(),
                    Some(f) => {
                        return Err(BuildbotDbError::Busy(format!(
                            "another operation on the Buildbot database runs on this agent: \
                             {} of upgrade {}",
                            f.key.1.as_str(),
                            f.key.0
                        )));
                    }
                    None => {
                        let (tx, rx) = watch::channel(None);
                        *slot = Some(Flight {
                            key: key.clone(),
                            done: rx,
                        });
                        return Ok(Entry::Run(Ticket {
                            flights: self.flights.clone(),
                            key,
                            tx,
                        }));
                    }
                }
            };
            if let Ok(op) = wait.wait_for(Option::is_some).await
                && let Some(op) = op.clone()
            {
                return Ok(Entry::Done(Box::new(op)));
            }
            // The other request gave up before starting: look again.
        }
    }

    /// Records `op` as running and runs `body` in its own task; answers when it ended.
    pub(super) async fn start<F, Fut>(
        &self,
        ticket: Ticket,
        op: BuildbotDbOp,
        actor: Option<String>,
        body: F,
    ) -> Result<BuildbotDbOp, BuildbotDbError>
    where
        F: FnOnce(Recorder) -> Fut + Send + 'static,
        Fut: Future<Output = BuildbotDbOp> + Send + 'static,
    {
        let first = op.clone();
        self.db
            .run(move |c| buildbot_db_ops::put(c, &first, None))
            .await?;
        let kind = op.kind.as_str();
        tracing::info!(upgrade_id = %op.upgrade_id, kind, "buildbot db operation started");
        self.hub.publish_agent(
            "agent.buildbot_db",
            format!(
                "{kind} of the Buildbot database started ({})",
                op.upgrade_id
            ),
            serde_json::json!({"upgrade_id": op.upgrade_id, "kind": kind, "state": "running"}),
        );
        let recorder = Recorder {
            db: self.db.clone(),
            op,
        };
        let this = self.clone();
        let task = tokio::spawn(async move {
            let finished = body(recorder).await;
            this.record_end(&finished, actor.as_deref()).await;
            let _ = ticket.tx.send(Some(finished.clone()));
            drop(ticket);
            finished
        });
        task.await
            .map_err(|e| BuildbotDbError::Internal(format!("operation task failed: {e}")))
    }

    /// Writes the finished operation, its audit line and its event.
    pub(super) async fn record_end(&self, op: &BuildbotDbOp, actor: Option<&str>) {
        let kind = op.kind.as_str();
        let detail = format!("{}: {} ({})", op.upgrade_id, op.state.as_str(), op.message);
        let (stored, actor_owned, action) = (
            op.clone(),
            actor.map(str::to_owned),
            format!("buildbot_db.{kind}"),
        );
        let detail_for_db = detail.clone();
        let saved = self
            .db
            .run(move |c| {
                buildbot_db_ops::put(c, &stored, None)?;
                audit::append(c, actor_owned.as_deref(), &action, &detail_for_db)
            })
            .await;
        if let Err(e) = saved {
            tracing::error!(error = %e, "cannot record the end of a buildbot db operation");
        }
        tracing::info!(upgrade_id = %op.upgrade_id, kind, state = op.state.as_str(), message = %op.message, "buildbot db operation finished");
        self.hub.publish_agent(
            "agent.buildbot_db",
            format!("{kind} of the Buildbot database: {detail}"),
            serde_json::json!({"upgrade_id": op.upgrade_id, "kind": kind, "state": op.state.as_str(), "message": op.message}),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_application_names() {
        assert!(check_id("u-20261202.1_a").is_ok());
        for bad in ["", ".hidden", "a/b", "a b", &"x".repeat(101)] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            appname(DbOpKind::Upgrade, "u-1"),
            "bbctl-upgrade-master:u-1"
        );
    }
}
