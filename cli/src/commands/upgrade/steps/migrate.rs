//! migrate (across a DB schema change): every old master stops claiming at once (a graceful
//! stop: it finishes its running builds, then exits; new requests wait in the DB), bbctl waits
//! until every old process is gone, the coordinator's agent backs the DB up, the first new
//! master's agent runs `buildbot upgrade-master` once with the new code, then the new masters
//! start ([`super::start_new`], which marks the point of no return) and verify checks the head.
//! Every body looks before it acts: the agents' DB operations are keyed by the upgrade id, so a
//! resumed step gets the recorded result instead of doing it twice.

use std::time::Duration;

use bbctl_api::{
    BuildbotDbOp, DbBackupRequest, DbOpKind, DbOpState, DbUpgradeRequest, MasterState, StopMode,
    StopRequest,
};

use crate::commands::upgrade::error::UpgradeError;
use crate::commands::upgrade::lease;
use crate::commands::upgrade::run::Runner;
use crate::output::upgrade::backup_line;
use crate::report::upgrade::{BackupRecord, Journal, Migration, Plan, StepKind};
use crate::time::now_secs;

/// How long a `POST /v1/master/stop` (graceful) is waited for: it answers only once the master
/// exited, so quiesce sends it and then looks at the state instead.
const STOP_SENT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time between two looks while waiting for the old masters to exit: the window lasts until
/// bbctl sees them gone, so a look costs one cheap `GET /v1/master` per old master.
const POLL: Duration = Duration::from_millis(250);
/// A backup is bounded by this (a 200 MB DB took 6 s).
const BACKUP_TIMEOUT: Duration = Duration::from_secs(3600);

/// quiesce, wait_stopped (all old masters), backup, migrate, start_new × every new slot.
pub fn steps(plan: &Plan) -> Vec<StepKind> {
    let mut steps = vec![
        StepKind::Quiesce {
            masters: plan.old.clone(),
        },
        StepKind::WaitStopped {
            masters: plan.old.clone(),
        },
        StepKind::Backup,
        StepKind::Migrate,
    ];
    steps.extend(
        plan.new
            .iter()
            .map(|m| StepKind::StartNew { master: m.clone() }),
    );
    steps
}

/// The journal's migration block (a migrate journal always has one).
pub fn migration(j: &mut Journal) -> Result<&mut Migration, UpgradeError> {
    j.migration.as_mut().ok_or_else(|| {
        UpgradeError::failed("a migrate journal without its migration block", vec![])
    })
}

impl Runner<'_> {
    /// Graceful stop of every old master at once; a master already stopped or stopping is left
    /// alone. Records the build requests claimed then.
    pub(super) async fn quiesce(
        &self,
        j: &mut Journal,
        masters: &[String],
    ) -> Result<String, UpgradeError> {
        if migration(j)?.window.stopped_claiming_at.is_none() {
            // What the old masters hold before they stop, read through one that still runs.
            for m in masters {
                if let Ok(fleet) = self.client(m)?.fleet().await {
                    let w = &mut migration(j)?.window;
                    w.claimed_at_quiesce = fleet
                        .claimed_requests
                        .iter()
                        .map(|r| r.buildrequestid)
                        .collect();
                    w.unclaimed_at_quiesce = Some(fleet.unclaimed_requests);
                    break;
                }
            }
            migration(j)?.window.stopped_claiming_at = Some(now_secs());
        }
        let request = StopRequest {
            mode: StopMode::Graceful,
            reason: Some(format!("upgrade {} (migrate): {}", j.id, j.reason)),
        };
        let answers = futures_util::future::join_all(masters.iter().map(|m| {
            let request = &request;
            async move {
                let client = self.client(m)?;
                let info = client.master().await?;
                if !info.process.running {
                    return Ok(format!("{m} already stopped"));
                }
                if info.state == MasterState::Stopping {
                    return Ok(format!("{m} already stopping"));
                }
                // The answer comes when the master exited; not waiting for it is the point.
                match client.with_timeout(STOP_SENT_TIMEOUT).stop(request).await {
                    Ok(_) => return Ok(format!("{m} stopped")),
                    Err(err) if err.is_unreachable() => {}
                    Err(err) => return Err(UpgradeError::Agent(err)),
                }
                let info = client.master().await?;
                if info.process.running && info.state != MasterState::Stopping {
                    return Err(UpgradeError::failed(
                        format!("{m} did not begin its graceful stop ({:?})", info.state),
                        info.problems,
                    ));
                }
                Ok::<_, UpgradeError>(format!("{m} stopping"))
            }
        }))
        .await;
        let mut done = Vec::new();
        for answer in answers {
            done.push(answer?);
        }
        Ok(format!(
            "{}; no old master claims new builds (requests wait in the DB)",
            done.join(", ")
        ))
    }

    /// Follows the old masters until every process is gone; past `--deadline` stops the rest
    /// immediately with `--force-after-deadline` (their builds are re-queued), else ends with
    /// exit 4 (resumable).
    pub(super) async fn wait_stopped(
        &self,
        j: &mut Journal,
        masters: &[String],
    ) -> Result<String, UpgradeError> {
        let since = migration(j)?
            .window
            .stopped_claiming_at
            .unwrap_or_else(now_secs);
        let mut last_said = String::new();
        loop {
            let mut running = Vec::new();
            for m in masters {
                let info = self.client(m)?.master().await?;
                // `Stopping`: the process may be gone while the agent's stop operation still
                // holds its lifecycle lock (a start now would be refused as "in progress").
                if info.process.running || info.state == MasterState::Stopping {
                    let builds = info.builds.iter().filter(|b| !b.complete).count();
                    running.push((m.clone(), builds));
                }
            }
            if running.is_empty() {
                migration(j)?
                    .window
                    .all_stopped_at
                    .get_or_insert(now_secs());
                return Ok(format!("every old master stopped ({})", masters.join(", ")));
            }
            let said = running
                .iter()
                .map(|(m, b)| format!("{m} ({b} build(s) running)"))
                .collect::<Vec<_>>()
                .join(", ");
            if said != last_said {
                self.emitter.emit(
                    "step_progress",
                    Some(
                        &StepKind::WaitStopped {
                            masters: masters.to_vec(),
                        }
                        .label(),
                    ),
                    &format!("waiting for {said} to finish and exit"),
                    serde_json::Value::Null,
                );
                last_said = said;
            }
            if let Some(deadline) = j.options.deadline_secs
                && now_secs() >= since + deadline
            {
                if !j.options.force_after_deadline {
                    return Err(UpgradeError::DeadlinePassed(format!(
                        "the deadline passed with {} still running",
                        running
                            .iter()
                            .map(|(m, _)| m.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                let stop = StopRequest {
                    mode: StopMode::Immediate,
                    reason: Some(format!("upgrade {}: deadline passed", j.id)),
                };
                for (m, _) in &running {
                    let client = self.client(m)?.with_timeout(Duration::from_secs(60));
                    client.stop(&stop).await?;
                }
                continue;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The Buildbot names of every slot whose agent says its master does not run: the agent's
    /// guard accepts their `masters` rows still saying active (a crashed master's does).
    pub(crate) async fn vouched_stopped(&self, j: &Journal) -> Result<Vec<String>, UpgradeError> {
        let mut names = Vec::new();
        for m in j
            .old
            .iter()
            .chain(j.new.iter().filter(|m| !j.old.contains(m)))
        {
            let info = self.client(m)?.master().await?;
            if !info.process.running
                && let Some(name) = info.buildbot_name
            {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// Records the requests waiting in the DB (every old master is stopped: they wait through
    /// the window), then backs the DB up on the coordinator (or records `--no-backup`). A
    /// refusal or a failure rolls back: nothing is migrated yet.
    pub(super) async fn backup(&self, j: &mut Journal) -> Result<String, UpgradeError> {
        if migration(j)?.window.pending_at_backup.is_none() {
            let info = lease::coordinator(self.ctx)?.buildbot_db().await?;
            migration(j)?.window.pending_at_backup = info.unclaimed_requests;
        }
        let m = migration(j)?;
        if m.no_backup {
            return Ok("backup: none (--no-backup)".into());
        }
        if let Some(b) = &m.backup {
            return Ok(backup_line(b));
        }
        let use_backup_command = m.backup_command;
        let client = lease::coordinator(self.ctx)?.with_timeout(BACKUP_TIMEOUT);
        let request = DbBackupRequest {
            upgrade_id: j.id.clone(),
            vouched_stopped: self.vouched_stopped(j).await?,
            use_backup_command,
            reason: Some(format!("upgrade {}: {}", j.id, j.reason)),
        };
        let op = match client.buildbot_db_backup(&request).await {
            Ok(op) => op,
            Err(err) if err.is_unreachable() => return Err(err.into()),
            Err(err) => {
                return Err(UpgradeError::gate(
                    format!("backup refused: {}", err.reason()),
                    err.log_lines(),
                ));
            }
        };
        match (op.state, &op.backup) {
            (DbOpState::Done, Some(backup)) => {
                let record = BackupRecord {
                    agent: client.name().to_string(),
                    location: backup.location.clone(),
                    size_bytes: backup.size_bytes,
                    sha256: backup.sha256.clone(),
                    head: backup.head.clone(),
                    tool: backup.tool.clone(),
                    took_secs: op.finished_at.map(|f| f - op.started_at),
                    at: op.finished_at,
                };
                let text = backup_line(&record);
                migration(j)?.backup = Some(record);
                Ok(text)
            }
            _ => Err(UpgradeError::gate(
                format!("backup {}: {}", op.state.as_str(), op.message),
                op.output,
            )),
        }
    }

    /// `upgrade-master` once, on the first new master's agent. Looks first: an upgrade this
    /// upgrade already asked for (bbctl killed mid-call) is joined or taken as it ended.
    pub(super) async fn migrate(&self, j: &mut Journal) -> Result<String, UpgradeError> {
        let m = migration(j)?.clone();
        let client = self.client(&m.migrate_agent)?;
        let earlier = client
            .buildbot_db_ops(&j.id)
            .await?
            .into_iter()
            .rfind(|op| op.kind == DbOpKind::Upgrade);
        let op = match earlier {
            Some(op) if matches!(op.state, DbOpState::Done | DbOpState::AlreadyApplied) => op,
            Some(op) if op.state == DbOpState::Failed => op,
            // Running: the POST joins it; not applied (interrupted): safe to run again.
            _ => {
                let request = DbUpgradeRequest {
                    upgrade_id: j.id.clone(),
                    config_sha256: j.config_sha256.clone(),
                    buildbot: j.buildbot.clone(),
                    from_head: m.from_head.clone(),
                    to_head: m.to_head.clone(),
                    vouched_stopped: self.vouched_stopped(j).await?,
                    timeout_secs: Some(m.timeout_secs),
                    reason: Some(format!("upgrade {}: {}", j.id, j.reason)),
                };
                let slow = client.with_timeout(Duration::from_secs_f64(m.timeout_secs + 120.0));
                match slow.buildbot_db_upgrade(&request).await {
                    Ok(op) => op,
                    Err(err) if err.is_unreachable() => return Err(err.into()),
                    Err(err) => {
                        return Err(UpgradeError::gate(
                            format!("migration refused: {}", err.reason()),
                            err.log_lines(),
                        ));
                    }
                }
            }
        };
        record_migrate(migration(j)?, &op);
        match op.state {
            DbOpState::Done | DbOpState::AlreadyApplied => Ok(format!(
                "DB schema {} -> {} ({}{})",
                m.from_head,
                m.to_head,
                op.state.as_str(),
                op.finished_at
                    .map_or(String::new(), |f| format!(", {:.1} s", f - op.started_at))
            )),
            DbOpState::NotApplied => Err(UpgradeError::gate(
                format!("migration not applied: {}", op.message),
                op.output,
            )),
            DbOpState::Failed | DbOpState::Running => Err(UpgradeError::gate(
                format!("migration failed: {}", op.message),
                op.output,
            )),
        }
    }
}

/// What the migrate operation did, into the journal.
fn record_migrate(m: &mut Migration, op: &BuildbotDbOp) {
    m.migrate_state = Some(op.state.as_str().to_string());
    m.migrate_output = op.output.clone();
    if matches!(op.state, DbOpState::Done | DbOpState::AlreadyApplied) {
        m.applied_at = op.finished_at.or(Some(now_secs()));
    }
}
