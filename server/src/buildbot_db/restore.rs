//! `POST /v1/buildbot-db/restore`: the upgrade's backup, restored in ONE transaction: a prelude
//! that drops every relation of schema `public` (so tables a migration added go too), then
//! `pg_restore --no-owner --no-privileges -f -` of the dump, all piped into
//! `psql -X -q -v ON_ERROR_STOP=1` between `BEGIN` and a `COMMIT` sent only once pg_restore
//! succeeded. PostgreSQL DDL is transactional: the restore applies completely or leaves the
//! database as it was.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use bbctl_api::{BuildbotDbOp, DbBackup, DbOpKind, DbOpState, DbRestoreRequest};
use tokio::io::AsyncWriteExt;

use super::backup::sha256_file;
use super::ops::{Entry, Recorder, appname, begin, end};
use super::url::DbTarget;
use super::{BuildbotDb, BuildbotDbError, pg, tools};
use crate::db::buildbot_db_ops;

/// Drops every table, view, materialized view and sequence of schema `public`.
const PRELUDE: &str = "SET client_min_messages = warning;
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r','p','v','m','S','f')
  LOOP
    IF r.relkind IN ('r','p','f') THEN EXECUTE format('DROP TABLE IF EXISTS public.%I CASCADE', r.relname);
    ELSIF r.relkind = 'v' THEN EXECUTE format('DROP VIEW IF EXISTS public.%I CASCADE', r.relname);
    ELSIF r.relkind = 'm' THEN EXECUTE format('DROP MATERIALIZED VIEW IF EXISTS public.%I CASCADE', r.relname);
    ELSE EXECUTE format('DROP SEQUENCE IF EXISTS public.%I CASCADE', r.relname);
    END IF;
  END LOOP;
END $$;
";

impl BuildbotDb {
    pub async fn restore(
        &self,
        req: DbRestoreRequest,
        actor: Option<String>,
    ) -> Result<BuildbotDbOp, BuildbotDbError> {
        let ticket = match self.enter(&req.upgrade_id, DbOpKind::Restore).await? {
            Entry::Done(op) => return Ok(*op),
            Entry::Run(t) => t,
        };
        let target = self.target()?;
        let id = req.upgrade_id.clone();
        let recorded = self
            .db
            .run(move |c| buildbot_db_ops::get(c, &id, DbOpKind::Backup))
            .await?;
        let backup = recorded
            .filter(|r| r.op.state == DbOpState::Done)
            .and_then(|r| r.op.backup)
            .ok_or_else(|| BuildbotDbError::NoBackup(req.upgrade_id.clone()))?;
        let Some(expected) = backup.sha256.clone() else {
            return Err(BuildbotDbError::Refused(format!(
                "the backup of upgrade {} was made by the operator's backup_command ({}): \
                 restore it with the operator's own tools",
                req.upgrade_id, backup.location
            )));
        };
        let snap = self.guarded(&target, &req.vouched_stopped).await?;
        let file = PathBuf::from(&backup.location);
        let sum = {
            let f = file.clone();
            tokio::task::spawn_blocking(move || sha256_file(&f))
                .await
                .map_err(|e| BuildbotDbError::Internal(e.to_string()))?
        };
        let actual = match sum {
            Ok((_, sha)) => sha,
            Err(e) => {
                return Err(BuildbotDbError::NoBackup(format!(
                    "{} ({}: {e})",
                    req.upgrade_id, backup.location
                )));
            }
        };
        if actual != expected {
            return Err(BuildbotDbError::Checksum {
                location: backup.location.clone(),
                expected,
                actual,
            });
        }
        let missing = |name: &str| {
            BuildbotDbError::Refused(format!(
                "{name} not found (PATH, /usr/lib/postgresql/*/bin): set `[buildbot_db] {name}`"
            ))
        };
        let pg_restore = tools::find(self.settings.pg_restore.as_deref(), "pg_restore")
            .ok_or_else(|| missing("pg_restore"))?;
        let psql =
            tools::find(self.settings.psql.as_deref(), "psql").ok_or_else(|| missing("psql"))?;
        let mut op = begin(&req.upgrade_id, DbOpKind::Restore);
        op.from_head = snap.head.clone();
        op.to_head = Some(backup.head.clone());
        op.backup = Some(backup.clone());
        let job = Job {
            target,
            file,
            backup,
            pg_restore,
            psql,
        };
        self.start(ticket, op, actor, move |rec| job.run(rec)).await
    }
}

struct Job {
    target: DbTarget,
    file: PathBuf,
    backup: DbBackup,
    pg_restore: PathBuf,
    psql: PathBuf,
}

impl Job {
    async fn run(self, rec: Recorder) -> BuildbotDbOp {
        let mut op = rec.op();
        let app = appname(DbOpKind::Restore, &op.upgrade_id);
        let ran = pipe(
            &self.pg_restore,
            &self.psql,
            &self.file,
            &self.target,
            &app,
            &rec,
        )
        .await;
        let cleanup =
            pg::terminate_own(&self.target, vec![app], std::time::Duration::from_secs(60)).await;
        let (ok, lines) = match ran {
            Ok(v) => v,
            Err(e) => (false, vec![e.to_string()]),
        };
        op.output = lines
            .into_iter()
            .map(|l| match self.target.password() {
                Some(p) if !p.is_empty() => l.replace(p, "xxxx"),
                _ => l,
            })
            .collect();
        let head = match pg::read_head(&self.target).await {
            Ok(h) => h,
            Err(e) => return end(op, DbOpState::Failed, e),
        };
        op.head_after = head.clone();
        let shown = head.as_deref().unwrap_or("none").to_owned();
        let orphans = match cleanup {
            Err(e) => format!("; {e}"),
            Ok(_) => String::new(),
        };
        if ok && head.as_deref() == Some(self.backup.head.as_str()) {
            let msg = format!(
                "restored {} (sha256 {}): head {shown}{orphans}",
                self.backup.location,
                self.backup.sha256.as_deref().unwrap_or("?")
            );
            end(op, DbOpState::Done, msg)
        } else if !ok && head == op.from_head {
            let last = op.output.last().cloned().unwrap_or_default();
            end(
                op,
                DbOpState::NotApplied,
                format!(
                    "restore failed, the database is as it was (head {shown}): {last}{orphans}"
                ),
            )
        } else {
            end(
                op,
                DbOpState::Failed,
                format!(
                    "restore ended with head {shown}, the backup's is {}{orphans}",
                    self.backup.head
                ),
            )
        }
    }
}

/// `{ prelude; pg_restore -f - FILE; } | psql -1`: whether both succeeded, and their output.
async fn pipe(
    pg_restore: &Path,
    psql: &Path,
    file: &Path,
    target: &DbTarget,
    app: &str,
    rec: &Recorder,
) -> std::io::Result<(bool, Vec<String>)> {
    let conninfo = target.conninfo(&[]);
    let mut restore = tokio::process::Command::new(pg_restore)
        .args(["--no-owner", "--no-privileges", "-f", "-"])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut sql = tokio::process::Command::new(psql);
    sql.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--dbname", &conninfo])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in tools::pg_env(target, app) {
        sql.env(k, v);
    }
    let mut sql = sql.spawn()?;
    rec.pid(sql.id()).await;
    let mut stdin = sql
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("psql stdin"))?;
    let mut dump = restore
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("pg_restore stdout"))?;
    // An explicit transaction, committed only once pg_restore succeeded: were psql's `-1`
    // used, a pg_restore that failed early would commit the prelude (every table dropped).
    let feed = async {
        stdin.write_all(b"BEGIN;\n").await?;
        stdin.write_all(PRELUDE.as_bytes()).await?;
        tokio::io::copy(&mut dump, &mut stdin).await?;
        std::io::Result::Ok(())
    };
    // psql stops reading at the first error (ON_ERROR_STOP): a broken pipe is then expected.
    let fed = feed.await;
    let restored = restore.wait_with_output().await?;
    let commit = if fed.is_ok() && restored.status.success() {
        stdin.write_all(b"COMMIT;\n").await
    } else {
        Ok(())
    };
    let _ = stdin.shutdown().await;
    drop(stdin);
    let loaded = sql.wait_with_output().await?;
    let mut lines: Vec<String> = Vec::new();
    for out in [&restored.stderr, &loaded.stdout, &loaded.stderr] {
        lines.extend(String::from_utf8_lossy(out).lines().map(str::to_owned));
    }
    for e in [fed.as_ref().err(), commit.as_ref().err()]
        .into_iter()
        .flatten()
    {
        if loaded.status.success() {
            lines.push(format!("feeding psql: {e}"));
        }
    }
    let ok = restored.status.success() && loaded.status.success() && fed.is_ok() && commit.is_ok();
    Ok((ok, lines))
}
