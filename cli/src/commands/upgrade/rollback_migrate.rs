//! Rollback of a `migrate` upgrade (after a failed backup, migration or gate, or
//! `bbctl upgrade abort`). What it does depends on where the upgrade got to ([`decide`], pure):
//!
//! * before `migrate` ran, or it did not apply (the DB head is still the old one): the old
//!   masters start again on their previous configuration and Buildbot; nothing is restored;
//! * the migration applied (or failed half-way) and no new master has entered the rotation yet
//!   (`migration.committed_at` unset): the new masters are stopped, the coordinator restores the
//!   backup, then the old masters start;
//! * after `committed_at`: no automatic restore — a restore would lose what the new masters built
//!   and re-run those requests with build numbers reused (observed). Only `abort --restore-db`
//!   does it, saying so.
//!
//! It looks before it acts: the DB head is read from the coordinator's agent.

use std::time::Duration;

use bbctl_api::{DbOpState, DbRestoreRequest, OperationRequest, StopMode, StopRequest};

use super::error::UpgradeError;
use super::lease;
use super::plan::Target;
use super::run::Runner;
use crate::report::upgrade::{Journal, StepKind, StepState};
use crate::time::now_secs;

/// How long a restore may take (a 200 MB DB took 5.6 s).
const RESTORE_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long an old master still finishing its builds after its graceful stop is waited for
/// before the rollback gives up on starting it (it says so).
const STOPPING_WAIT: Duration = Duration::from_secs(1800);

/// What a migrate rollback does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The migration never ran: old masters start again.
    BeforeMigration,
    /// It ran and the DB is still at the old head: old masters start again.
    NotApplied,
    /// New masters stopped, the backup restored, old masters started.
    Restore,
    /// The DB changed but there is no backup bbctl can restore (`--no-backup`,
    /// `--backup-command`): nothing is done automatically.
    CannotRestore,
    /// A new master has been in rotation: no automatic restore.
    PastPointOfNoReturn,
    /// The DB head could not be read and the journal does not say: nothing is done.
    Unknown,
}

/// Decides from the journal, the DB head read now (`None`: unreadable) and `--restore-db`.
pub fn decide(j: &Journal, db_head: Option<&str>, restore_db: bool) -> Decision {
    let Some(m) = &j.migration else {
        return Decision::BeforeMigration;
    };
    if m.committed_at.is_some() && !restore_db {
        return Decision::PastPointOfNoReturn;
    }
    let migrate_started = j
        .steps
        .iter()
        .any(|s| s.kind == StepKind::Migrate && s.state != StepState::Pending);
    let changed = match db_head {
        Some(head) => head != m.from_head,
        None if !migrate_started => false,
        None => match m.migrate_state.as_deref() {
            Some("not_applied") => false,
            Some(_) => true,
            None => return Decision::Unknown,
        },
    };
    match (changed, migrate_started) {
        (false, false) => Decision::BeforeMigration,
        (false, true) => Decision::NotApplied,
        (true, _) if m.no_backup || m.backup_command || m.backup.is_none() => {
            Decision::CannotRestore
        }
        (true, _) => Decision::Restore,
    }
}

/// What a migrate rollback did.
pub struct Outcome {
    pub decision: Decision,
    /// The journal's headline: `rolled back: …`, or why not.
    pub headline: String,
    pub done: Vec<String>,
    pub problems: Vec<String>,
}

impl Runner<'_> {
    /// Rolls a migrate upgrade back as [`decide`] says; records the restore in `j`.
    pub async fn rollback_migrate(&self, j: &mut Journal, restore_db: bool) -> Outcome {
        let head = match lease::coordinator(self.ctx) {
            Ok(c) => c.buildbot_db().await.ok().and_then(|i| i.db_head),
            Err(_) => None,
        };
        let decision = decide(j, head.as_deref(), restore_db);
        let mut done = Vec::new();
        let mut problems = Vec::new();
        let headline = match &decision {
            Decision::PastPointOfNoReturn => {
                return Outcome {
                    decision,
                    headline: "past the point of no return: a new master has been in rotation \
                               since the migration, so no automatic restore (it would re-run \
                               what the new masters built); fix the new masters and \
                               `bbctl upgrade resume`, or `bbctl upgrade abort --restore-db`"
                        .into(),
                    done,
                    problems,
                };
            }
            Decision::CannotRestore | Decision::Unknown => {
                let why = if decision == Decision::Unknown {
                    "the DB schema head cannot be read"
                } else {
                    "the DB was migrated and bbctl has no backup it can restore"
                };
                problems.push(format!(
                    "{why}: the old masters are not started (they refuse a migrated DB); restore \
                     the DB by hand, then `bbctl upgrade abort`"
                ));
                return Outcome {
                    decision,
                    headline: format!("not rolled back: {why}"),
                    done,
                    problems,
                };
            }
            Decision::BeforeMigration => "before migration".to_string(),
            Decision::NotApplied => "migration not applied".to_string(),
            Decision::Restore => String::new(),
        };
        let request = OperationRequest {
            reason: Some(format!("rollback of upgrade {}", j.id)),
        };
        self.stop_new_masters(j, &request, &mut done, &mut problems)
            .await;
        let headline = if decision == Decision::Restore {
            match self.restore(j).await {
                Ok(line) => {
                    done.push(line.clone());
                    line
                }
                Err(err) => {
                    problems.push(err.to_string());
                    problems.extend(err.lines());
                    return Outcome {
                        decision,
                        headline: format!("not rolled back: the restore failed: {err}"),
                        done,
                        problems,
                    };
                }
            }
        } else {
            headline
        };
        for m in &j.old {
            match self.start_old(j, m, &request).await {
                Ok(Some(line)) => done.push(line),
                Ok(None) => {}
                Err(err) => problems.push(format!("{m}: {err}")),
            }
        }
        Outcome {
            decision,
            headline: format!("rolled back: {headline}"),
            done,
            problems,
        }
    }

    /// Stops (immediately: nothing has been routed to them) the masters running the new target.
    async fn stop_new_masters(
        &self,
        j: &Journal,
        request: &OperationRequest,
        done: &mut Vec<String>,
        problems: &mut Vec<String>,
    ) {
        let new = Target {
            sha256: Some(&j.config_sha256),
            buildbot: j.buildbot.as_deref(),
        };
        for m in &j.new {
            let Ok(client) = self.client(m) else { continue };
            let info = match client.master().await {
                Ok(info) => info,
                Err(err) => {
                    problems.push(err.to_string());
                    continue;
                }
            };
            if !info.process.running || !Target::of(&info).runs(new) {
                continue;
            }
            let stop = StopRequest {
                mode: StopMode::Immediate,
                reason: request.reason.clone(),
            };
            match client
                .with_timeout(Duration::from_secs(60))
                .stop(&stop)
                .await
            {
                Ok(_) => done.push(format!("{m}: new master stopped")),
                Err(err) => problems.push(err.to_string()),
            }
        }
    }

    /// Restores the upgrade's backup on the coordinator.
    async fn restore(&self, j: &mut Journal) -> Result<String, UpgradeError> {
        let client = lease::coordinator(self.ctx)?.with_timeout(RESTORE_TIMEOUT);
        let request = DbRestoreRequest {
            upgrade_id: j.id.clone(),
            vouched_stopped: self.vouched_stopped(j).await?,
            reason: Some(format!("rollback of upgrade {}", j.id)),
        };
        let op = client.buildbot_db_restore(&request).await?;
        if op.state != DbOpState::Done {
            return Err(UpgradeError::failed(
                format!("restore {}: {}", op.state.as_str(), op.message),
                op.output,
            ));
        }
        let Some(m) = j.migration.as_mut() else {
            return Err(UpgradeError::failed("no migration block", vec![]));
        };
        m.restored_at = Some(now_secs());
        let (location, sha) = m.backup.as_ref().map_or(("?".into(), None), |b| {
            (b.location.clone(), b.sha256.clone())
        });
        Ok(format!(
            "DB restored from {location}{}",
            sha.map_or(String::new(), |s| format!(" (sha256 {s})"))
        ))
    }

    /// Starts an old master again on its previous configuration and Buildbot, once its graceful
    /// stop (which cannot be cancelled) has ended.
    async fn start_old(
        &self,
        j: &Journal,
        m: &str,
        request: &OperationRequest,
    ) -> Result<Option<String>, UpgradeError> {
        let client = self.client(m)?;
        let until = tokio::time::Instant::now() + STOPPING_WAIT;
        loop {
            let info = client.master().await?;
            if !info.process.running {
                break;
            }
            let previous = Target {
                sha256: j.previous_sha256.get(m).map(String::as_str),
                buildbot: j.previous_buildbot.get(m).map(String::as_str),
            };
            if Target::of(&info).runs(previous) && info.state != bbctl_api::MasterState::Stopping {
                return Ok(None);
            }
            if tokio::time::Instant::now() >= until {
                return Err(UpgradeError::failed(
                    "still finishing its builds after its graceful stop; start it with \
                     `bbctl start` once it has exited",
                    vec![],
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        self.restore_old(j, m, false, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::upgrade::{BackupRecord, Migration, Step, StrategyName};

    fn journal(migrate: StepState, committed: bool) -> Journal {
        let value = serde_json::json!({
            "id": "up-1", "requested_by": "me@host", "reason": "t", "strategy": "migrate",
            "config_label": "v2", "config_sha256": "abc", "config_files": [],
            "options": {"deadline_secs": null, "force_after_deadline": false, "min_serving": 1,
                "batch": 1},
            "old": ["m1"], "new": ["m2"], "batches": [], "previous_sha256": {}, "steps": [],
            "phase": "running", "started_at": 1.0, "finished_at": null, "message": null,
        });
        let mut j: Journal = serde_json::from_value(value).unwrap();
        j.strategy = StrategyName::Migrate;
        let mut step = Step::pending(StepKind::Migrate);
        step.state = migrate;
        j.steps = vec![Step::pending(StepKind::Backup), step];
        j.migration = Some(Migration {
            from_head: "066".into(),
            to_head: "067".into(),
            backup: Some(BackupRecord {
                agent: "m1".into(),
                location: "/b/up-1-066.dump".into(),
                size_bytes: Some(1),
                sha256: Some("ab".into()),
                head: "066".into(),
                tool: "pg_dump 15".into(),
                took_secs: None,
                at: None,
            }),
            committed_at: committed.then_some(5.0),
            ..Migration::default()
        });
        j
    }

    #[test]
    fn rollback_follows_the_step_reached_and_the_point_of_no_return() {
        use Decision::*;
        let pending = journal(StepState::Pending, false);
        assert_eq!(decide(&pending, Some("066"), false), BeforeMigration);
        assert_eq!(decide(&pending, None, false), BeforeMigration);
        let failed = journal(StepState::Failed, false);
        assert_eq!(decide(&failed, Some("066"), false), NotApplied);
        assert_eq!(decide(&failed, Some("067"), false), Restore);
        assert_eq!(decide(&failed, None, false), Unknown);
        let committed = journal(StepState::Done, true);
        assert_eq!(decide(&committed, Some("067"), false), PastPointOfNoReturn);
        assert_eq!(decide(&committed, Some("067"), true), Restore);
        let mut no_backup = journal(StepState::Done, false);
        no_backup.migration.as_mut().unwrap().no_backup = true;
        assert_eq!(decide(&no_backup, Some("067"), false), CannotRestore);
        let mut said = journal(StepState::Failed, false);
        said.migration.as_mut().unwrap().migrate_state = Some("not_applied".into());
        assert_eq!(decide(&said, None, false), NotApplied);
    }
}
