//! `POST /v1/buildbot-db/upgrade`: one `buildbot upgrade-master` with the new code, in a scratch
//! basedir holding the staged configuration (and the vars file, as checkconfig has it) plus a
//! generated `buildbot.tac`; the master's own basedir is never touched.
//!
//! Buildbot runs every migration in one transaction, ignores every signal but SIGKILL while it
//! migrates, and leaves its backend behind when killed: after the run (or the kill at the
//! timeout) the agent terminates its own `bbctl-upgrade-master:<id>` backends, waits until they
//! are gone, then reads the head: the new head is `done`, the old one `not_applied` (safe to
//! retry), anything else `failed` (restore the backup).

use std::path::PathBuf;
use std::time::Duration;

use bbctl_api::{BuildbotDbOp, DbOpKind, DbOpState, DbUpgradeRequest, VARS_FILE_ENV};

use super::ops::{Entry, Recorder, appname, begin, end};
use super::url::DbTarget;
use super::{BuildbotDb, BuildbotDbError, pg, tools};
use crate::configs::scratch::ScratchBasedir;

const DEFAULT_TIMEOUT_SECS: f64 = 1800.0;

/// The `buildbot.tac` of the scratch basedir (what `buildbot create-master` writes, minus logs).
const TAC: &str = "import os\n\
from twisted.application import service\n\
from buildbot.master import BuildMaster\n\
basedir = os.path.abspath(os.path.dirname(__file__))\n\
configfile = 'master.cfg'\n\
application = service.Application('buildmaster')\n\
m = BuildMaster(basedir, configfile, None)\n\
m.setServiceParent(application)\n";

impl BuildbotDb {
    pub async fn upgrade(
        &self,
        req: DbUpgradeRequest,
        actor: Option<String>,
    ) -> Result<BuildbotDbOp, BuildbotDbError> {
        let timeout = req.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if !(timeout.is_finite() && timeout > 0.0 && timeout <= 86_400.0) {
            return Err(BuildbotDbError::BadTimeout);
        }
        let ticket = match self.enter(&req.upgrade_id, DbOpKind::Upgrade).await? {
            Entry::Done(op) => return Ok(*op),
            Entry::Run(t) => t,
        };
        let target = self.target()?;
        let snap = self.guarded(&target, &req.vouched_stopped).await?;
        let mut op = begin(&req.upgrade_id, DbOpKind::Upgrade);
        op.from_head = Some(req.from_head.clone());
        op.to_head = Some(req.to_head.clone());
        if snap.head.as_deref() == Some(req.to_head.as_str()) {
            op.head_after = snap.head.clone();
            let done = end(
                op,
                DbOpState::AlreadyApplied,
                format!("the database is already at {}: nothing to do", req.to_head),
            );
            return self
                .start(ticket, done.clone(), actor, |_| async move { done })
                .await;
        }
        if snap.head.as_deref() != Some(req.from_head.as_str()) {
            let shown = snap.head.as_deref().unwrap_or("none");
            return Err(BuildbotDbError::HeadMismatch {
                message: format!(
                    "the database is at schema head {shown}, not {} (the upgrade's start) nor {} \
                     (its end)",
                    req.from_head, req.to_head
                ),
                db_head: snap.head,
            });
        }
        let scratch = self
            .configs
            .scratch_basedir(&req.config_sha256, "upgrade-master", "upgrade-")
            .await?;
        let buildbot = match &req.buildbot {
            Some(spec) => self.configs.code().resolve(spec).await?,
            None => scratch.buildbot.clone(),
        };
        if let Some(code) = self.runtime.schemas.get(&buildbot).await
            && code != req.to_head
        {
            return Err(BuildbotDbError::Refused(format!(
                "{} migrates to schema head {code}, not {}",
                buildbot.display(),
                req.to_head
            )));
        }
        let job = Job {
            target,
            scratch,
            buildbot,
            timeout: Duration::from_secs_f64(timeout),
            tmp: self.tmp_dir(),
        };
        self.start(ticket, op, actor, move |rec| job.run(rec)).await
    }
}

struct Job {
    target: DbTarget,
    scratch: ScratchBasedir,
    buildbot: PathBuf,
    timeout: Duration,
    tmp: PathBuf,
}

impl Job {
    async fn run(self, rec: Recorder) -> BuildbotDbOp {
        let mut op = rec.op();
        let dir = self.scratch.dir.path().to_path_buf();
        if let Err(e) = std::fs::write(dir.join("buildbot.tac"), TAC) {
            return end(op, DbOpState::NotApplied, format!("scratch basedir: {e}"));
        }
        let app = appname(DbOpKind::Upgrade, &op.upgrade_id);
        let mut env = tools::pg_env(&self.target, &app);
        // The password travels in PGPASSWORD only for the PostgreSQL tools; master.cfg has its own.
        env.retain(|(k, _)| k != "PGPASSWORD");
        env.push((
            VARS_FILE_ENV.to_owned(),
            self.scratch.vars_file.display().to_string(),
        ));
        let target_arg = dir.display().to_string();
        let args = ["upgrade-master", target_arg.as_str()];
        let finished = match tools::spawn(&self.buildbot, &args, &env, None, &self.tmp) {
            Ok(running) => {
                rec.pid(running.pid()).await;
                running.wait(Some(self.timeout)).await
            }
            Err(e) => Err(e),
        };
        let finished = match finished {
            Ok(f) => f,
            Err(e) => return end(op, DbOpState::NotApplied, e.to_string()),
        };
        op.output = finished.lines(self.target.password());
        let cleanup = pg::terminate_own(&self.target, vec![app], Duration::from_secs(120)).await;
        let head = pg::read_head(&self.target).await;
        let ran = if finished.timed_out {
            format!("upgrade-master killed after {:?}", self.timeout)
        } else {
            format!("upgrade-master exited {:?}", finished.exit_code)
        };
        let head = match head {
            Ok(h) => h,
            Err(e) => return end(op, DbOpState::Failed, format!("{ran}; {e}")),
        };
        op.head_after = head.clone();
        let orphans = match &cleanup {
            Ok(pids) if pids.is_empty() => String::new(),
            Ok(pids) => format!("; its orphaned backend {pids:?} was terminated"),
            Err(e) => format!("; {e}"),
        };
        let migrated = migrated_db(&op.output);
        let wrong_db = migrated
            .as_ref()
            .is_some_and(|t| t.key() != self.target.key());
        let shown = head.as_deref().unwrap_or("none");
        if wrong_db {
            let other = migrated.map(|t| t.to_string()).unwrap_or_default();
            return end(
                op,
                DbOpState::Failed,
                format!(
                    "{ran}, but the configuration migrated {other}, not {}: check master.cfg's \
                     db_url{orphans}",
                    self.target
                ),
            );
        }
        if head == op.to_head && finished.success() {
            let msg = format!(
                "schema {} → {shown}{orphans}",
                op.from_head.as_deref().unwrap_or("?")
            );
            end(op, DbOpState::Done, msg)
        } else if head == op.from_head && cleanup.is_ok() {
            end(
                op,
                DbOpState::NotApplied,
                format!("{ran}; the head is still {shown}: not applied{orphans}"),
            )
        } else {
            end(
                op,
                DbOpState::Failed,
                format!("{ran}; the head is {shown}: restore the backup{orphans}"),
            )
        }
    }
}

/// The database named by upgrade-master's `upgrading database (URL)` line.
fn migrated_db(output: &[String]) -> Option<DbTarget> {
    let line = output.iter().find_map(|l| {
        let rest = l.split_once("upgrading database (")?.1;
        Some(rest[..rest.rfind(')')?].to_owned())
    })?;
    DbTarget::parse(&line).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrated_database_is_read_from_the_output() {
        let out: Vec<String> = [
            "checking basedir",
            "upgrading database (postgresql+psycopg2://buildbot:xxxx@127.0.0.1:5432/buildbot)",
            "upgrade complete",
        ]
        .map(String::from)
        .to_vec();
        let t = migrated_db(&out).unwrap();
        assert_eq!(t.key(), "127.0.0.1:5432/buildbot");
        assert!(migrated_db(&out[..1]).is_none());
    }
}
