//! An operation a previous agent process left `running` (it died or was killed during it) is
//! resolved at start, before any other is served: the tool's process group is killed if it is
//! still there, the agent's own backends of that operation are terminated, and the head read
//! after says what happened (upgrade: `to_head` → `done`, `from_head` → `not_applied`, else
//! `failed`; an interrupted backup is `not_applied` and its partial dump removed).

use std::future::Future;
use std::time::Duration;

use bbctl_api::{BuildbotDbOp, DbOpKind, DbOpState};
use tokio::sync::OwnedRwLockWriteGuard;

use super::ops::{appname, end};
use super::{BuildbotDb, pg, tools};
use crate::db::buildbot_db_ops;

impl BuildbotDb {
    /// Closes the gate now and returns the task that resolves the operations a previous agent
    /// process left running (requests wait until it is done). Call once, at start.
    pub fn resolve_interrupted(&self) -> impl Future<Output = ()> + Send + 'static {
        let gate: Option<OwnedRwLockWriteGuard<()>> =
            self.flights.resolving.clone().try_write_owned().ok();
        let this = self.clone();
        async move {
            let _gate = gate;
            let running = match this.db.run(buildbot_db_ops::running).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read interrupted buildbot db operations");
                    return;
                }
            };
            for rec in running {
                let op = this.resolve_one(rec.op, rec.pid).await;
                this.record_end(&op, Some("bbctl-agent (restart)")).await;
            }
        }
    }

    async fn resolve_one(&self, op: BuildbotDbOp, pid: Option<u32>) -> BuildbotDbOp {
        const WHY: &str = "the agent restarted during the operation";
        let needle = match op.kind {
            DbOpKind::Backup => "pg_dump",
            DbOpKind::Upgrade => "upgrade-master",
            DbOpKind::Restore => "psql",
        };
        if let Some(pid) = pid
            && tools::kill_group_if(pid, needle)
        {
            tracing::warn!(pid, "killed the tool an interrupted operation left running");
        }
        if op.kind == DbOpKind::Backup {
            self.remove_partial_dumps(&op.upgrade_id);
        }
        let target = match self.target() {
            Ok(t) => t,
            Err(e) => return end(op, DbOpState::Failed, format!("{WHY}; {e}")),
        };
        let names = vec![appname(op.kind, &op.upgrade_id)];
        if let Err(e) = pg::terminate_own(&target, names, Duration::from_secs(60)).await {
            return end(op, DbOpState::Failed, format!("{WHY}; {e}"));
        }
        let head = match pg::read_head(&target).await {
            Ok(h) => h,
            Err(e) => return end(op, DbOpState::Failed, format!("{WHY}; {e}")),
        };
        let mut op = op;
        op.head_after = head.clone();
        resolve_by_head(op, WHY)
    }
}

impl BuildbotDb {
    /// The `<upgrade_id>-*.dump.tmp` files an interrupted backup left in `backup_dir`.
    fn remove_partial_dumps(&self, upgrade_id: &str) {
        let prefix = format!("{upgrade_id}-");
        let Ok(entries) = std::fs::read_dir(&self.settings.backup_dir) else {
            return;
        };
        for path in entries.flatten().map(|e| e.path()) {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with(&prefix) && name.ends_with(".dump.tmp") {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// The state of an interrupted operation from the head read after it.
fn resolve_by_head(op: BuildbotDbOp, why: &str) -> BuildbotDbOp {
    let head = op.head_after.clone();
    let shown = head.as_deref().unwrap_or("none").to_owned();
    match op.kind {
        DbOpKind::Backup => end(
            op,
            DbOpState::NotApplied,
            format!("{why}: no backup was written"),
        ),
        DbOpKind::Upgrade | DbOpKind::Restore => {
            let target = match op.kind {
                DbOpKind::Restore => op.backup.as_ref().map(|b| b.head.clone()),
                _ => op.to_head.clone(),
            };
            if head.is_some() && head == target {
                end(
                    op,
                    DbOpState::Done,
                    format!("{why}; the head is {shown}: applied"),
                )
            } else if head.is_some() && head == op.from_head {
                end(
                    op,
                    DbOpState::NotApplied,
                    format!("{why}; the head is still {shown}: not applied"),
                )
            } else {
                end(
                    op,
                    DbOpState::Failed,
                    format!("{why}; the head is {shown}: unknown state, restore the backup"),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bbctl_api::DbBackup;

    use super::*;
    use crate::buildbot_db::ops::begin;

    fn op(kind: DbOpKind, from: &str, to: &str, after: Option<&str>) -> BuildbotDbOp {
        let mut o = begin("u-1", kind);
        o.from_head = Some(from.into());
        o.to_head = Some(to.into());
        o.head_after = after.map(str::to_owned);
        o
    }

    #[test]
    fn an_interrupted_operation_is_judged_by_the_head() {
        let up = |after| resolve_by_head(op(DbOpKind::Upgrade, "066", "067", after), "x").state;
        assert_eq!(up(Some("067")), DbOpState::Done);
        assert_eq!(up(Some("066")), DbOpState::NotApplied);
        assert_eq!(up(Some("065")), DbOpState::Failed);
        assert_eq!(up(None), DbOpState::Failed);
        let mut restore = op(DbOpKind::Restore, "067", "066", Some("066"));
        restore.backup = Some(DbBackup {
            location: "/b".into(),
            size_bytes: None,
            sha256: None,
            head: "066".into(),
            tool: "pg_dump 15".into(),
        });
        assert_eq!(resolve_by_head(restore, "x").state, DbOpState::Done);
        let backup = resolve_by_head(op(DbOpKind::Backup, "066", "066", Some("066")), "x");
        assert_eq!(backup.state, DbOpState::NotApplied);
        assert!(backup.finished_at.is_some());
    }
}
