//! `POST /v1/buildbot-db/backup`: `pg_dump -Fc` of Buildbot's database into
//! `<backup_dir>/<upgrade_id>-<head>.dump` (written as `.tmp`, mode 0600, fsynced, renamed; its
//! sha256 and size recorded; only the newest `keep_backups` dumps kept), or the operator's
//! `[buildbot_db] backup_command`, whose last line of output is the backup's location.

use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bbctl_api::{BuildbotDbOp, DbBackup, DbBackupRequest, DbOpKind, DbOpState};
use sha2::{Digest, Sha256};

use super::ops::{Entry, Recorder, appname, begin, end};
use super::url::DbTarget;
use super::{BuildbotDb, BuildbotDbError, NO_PG_DUMP, free_bytes, tools};

/// How the backup is made.
enum How {
    PgDump { exe: PathBuf, version: String },
    Command(String),
}

impl BuildbotDb {
    pub async fn backup(
        &self,
        req: DbBackupRequest,
        actor: Option<String>,
    ) -> Result<BuildbotDbOp, BuildbotDbError> {
        let ticket = match self.enter(&req.upgrade_id, DbOpKind::Backup).await? {
            Entry::Done(op) => return Ok(*op),
            Entry::Run(t) => t,
        };
        let target = self.target()?;
        let snap = self.guarded(&target, &req.vouched_stopped).await?;
        let head = snap.head.clone().ok_or_else(|| {
            BuildbotDbError::Refused(
                "the database has no schema head (alembic_version): is it Buildbot's?".into(),
            )
        })?;
        let dir = self.settings.backup_dir.clone();
        let how = if req.use_backup_command {
            let cmd = self.settings.backup_command.clone().ok_or_else(|| {
                BuildbotDbError::Refused(
                    "no `[buildbot_db] backup_command` is configured on this agent".into(),
                )
            })?;
            How::Command(cmd)
        } else {
            let exe = tools::find(self.settings.pg_dump.as_deref(), "pg_dump")
                .ok_or_else(|| BuildbotDbError::Refused(NO_PG_DUMP.into()))?;
            let (version, major) = self.tool_version(&exe).await.ok_or_else(|| {
                BuildbotDbError::Refused(format!(
                    "{} --version does not say which version it is",
                    exe.display()
                ))
            })?;
            if let Some(server) = snap.server_major
                && major < server
            {
                return Err(BuildbotDbError::Refused(format!(
                    "pg_dump {version} ({}) is older than the server (PostgreSQL {}): set \
                     `[buildbot_db] pg_dump` to a pg_dump of version {server} or newer",
                    exe.display(),
                    snap.server_version.as_deref().unwrap_or("?"),
                )));
            }
            make_private_dir(&dir).map_err(|e| {
                BuildbotDbError::Refused(format!("backup_dir {}: {e}", dir.display()))
            })?;
            if let (Some(free), Some(size)) = (free_bytes(&dir), snap.size_bytes)
                && free < size
            {
                return Err(BuildbotDbError::Refused(format!(
                    "not enough space for the backup in {}: {free} bytes free, the database \
                     is {size} bytes",
                    dir.display()
                )));
            }
            How::PgDump { exe, version }
        };
        let mut op = begin(&req.upgrade_id, DbOpKind::Backup);
        op.from_head = Some(head.clone());
        let job = Job {
            target,
            dir,
            head,
            keep: self.settings.keep_backups,
            tmp: self.tmp_dir(),
        };
        self.start(ticket, op, actor, move |rec| async move {
            match how {
                How::PgDump { exe, version } => job.pg_dump(rec, &exe, &version).await,
                How::Command(cmd) => job.command(rec, &cmd).await,
            }
        })
        .await
    }
}

struct Job {
    target: DbTarget,
    dir: PathBuf,
    head: String,
    keep: usize,
    tmp: PathBuf,
}

impl Job {
    async fn pg_dump(self, rec: Recorder, exe: &Path, version: &str) -> BuildbotDbOp {
        let op = rec.op();
        let file = self
            .dir
            .join(format!("{}-{}.dump", op.upgrade_id, self.head));
        let tmp = file.with_extension("dump.tmp");
        let out = match std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(f) => f,
            Err(e) => {
                return end(
                    op,
                    DbOpState::NotApplied,
                    format!("cannot write {}: {e}", tmp.display()),
                );
            }
        };
        let conninfo = self.target.conninfo(&[]);
        let env = tools::pg_env(&self.target, &appname(DbOpKind::Backup, &op.upgrade_id));
        let args = ["-Fc", "--dbname", conninfo.as_str()];
        let running = match tools::spawn(exe, &args, &env, Some(out), &self.tmp) {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return end(op, DbOpState::NotApplied, e.to_string());
            }
        };
        rec.pid(running.pid()).await;
        let finished = match running.wait(None).await {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return end(op, DbOpState::NotApplied, format!("pg_dump: {e}"));
            }
        };
        let mut op = op;
        op.output = finished.lines(self.target.password());
        if !finished.success() {
            let _ = std::fs::remove_file(&tmp);
            let last = op.output.last().cloned().unwrap_or_default();
            return end(
                op,
                DbOpState::NotApplied,
                format!("pg_dump failed (exit {:?}): {last}", finished.exit_code),
            );
        }
        let sealed = tokio::task::spawn_blocking({
            let (tmp, file, dir, keep) = (tmp.clone(), file.clone(), self.dir.clone(), self.keep);
            move || seal(&tmp, &file, &dir, keep)
        })
        .await;
        let (size, sha256) = match sealed {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                let _ = std::fs::remove_file(&tmp);
                return end(
                    op,
                    DbOpState::NotApplied,
                    format!("{}: {e}", file.display()),
                );
            }
            Err(e) => return end(op, DbOpState::NotApplied, e.to_string()),
        };
        let location = file.display().to_string();
        op.head_after = Some(self.head.clone());
        op.backup = Some(DbBackup {
            location: location.clone(),
            size_bytes: Some(size),
            sha256: Some(sha256),
            head: self.head.clone(),
            tool: format!("pg_dump {version}"),
        });
        end(
            op,
            DbOpState::Done,
            format!(
                "backup of head {} written to {location} ({size} bytes)",
                self.head
            ),
        )
    }

    async fn command(self, rec: Recorder, cmd: &str) -> BuildbotDbOp {
        let mut op = rec.op();
        let t = &self.target;
        let mut env = tools::pg_env(t, &appname(DbOpKind::Backup, &op.upgrade_id));
        let mut add = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                env.push((k.to_owned(), v));
            }
        };
        add("BBCTL_BACKUP_ID", Some(op.upgrade_id.clone()));
        add("BBCTL_DB_HEAD", Some(self.head.clone()));
        add("BBCTL_DB_HOST", t.effective_host().map(str::to_owned));
        add("BBCTL_DB_PORT", t.port.map(|p| p.to_string()));
        add("BBCTL_DB_USER", t.user.clone());
        add("BBCTL_DB_NAME", Some(t.database.clone()));
        add("BBCTL_DB_PASSWORD", t.password().map(str::to_owned));
        add("PGHOST", t.effective_host().map(str::to_owned));
        add("PGPORT", t.port.map(|p| p.to_string()));
        add("PGUSER", t.user.clone());
        add("PGDATABASE", Some(t.database.clone()));
        let sh = Path::new("/bin/sh");
        let finished = match tools::spawn(sh, &["-c", cmd], &env, None, &self.tmp) {
            Ok(r) => r.wait(None).await,
            Err(e) => Err(e),
        };
        let finished = match finished {
            Ok(f) => f,
            Err(e) => return end(op, DbOpState::NotApplied, format!("backup_command: {e}")),
        };
        op.output = finished.lines(t.password());
        let location = finished
            .stdout
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .map(str::to_owned);
        match location {
            Some(location) if finished.success() => {
                op.head_after = Some(self.head.clone());
                op.backup = Some(DbBackup {
                    location: location.clone(),
                    size_bytes: None,
                    sha256: None,
                    head: self.head.clone(),
                    tool: "backup_command".into(),
                });
                end(
                    op,
                    DbOpState::Done,
                    format!("backup_command saved head {} at {location}", self.head),
                )
            }
            Some(_) => end(
                op,
                DbOpState::NotApplied,
                format!("backup_command failed (exit {:?})", finished.exit_code),
            ),
            None => end(
                op,
                DbOpState::NotApplied,
                "backup_command printed no location (its last line of output is the backup's \
                 location)",
            ),
        }
    }
}

/// `dir` with mode 0700 (backups hold build logs and secrets).
fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// fsync, rename into place, fsync the directory; drops the oldest dumps beyond `keep`.
/// Returns the size and sha256 of the dump.
fn seal(tmp: &Path, file: &Path, dir: &Path, keep: usize) -> std::io::Result<(u64, String)> {
    std::fs::File::open(tmp)?.sync_all()?;
    std::fs::rename(tmp, file)?;
    std::fs::File::open(dir)?.sync_all()?;
    let (size, sha) = sha256_file(file)?;
    prune(dir, file, keep);
    Ok((size, sha))
}

/// Size and sha256 (hex) of `path`.
pub fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    let hex = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((size, hex))
}

/// Keeps the newest `keep` `*.dump` files of `dir` (and always `current`).
fn prune(dir: &Path, current: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut dumps: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "dump") && p != current)
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    dumps.sort();
    let extra = (dumps.len() + 1).saturating_sub(keep);
    for (_, p) in dumps.into_iter().take(extra) {
        if let Err(e) = std::fs::remove_file(&p) {
            tracing::warn!(path = %p.display(), error = %e, "cannot remove an old backup");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_keeps_the_newest_dumps_private() {
        let dir = tempfile::tempdir().unwrap();
        make_private_dir(dir.path()).unwrap();
        for (i, name) in ["a.dump", "b.dump", "c.dump", "notes.txt"]
            .iter()
            .enumerate()
        {
            let p = dir.path().join(name);
            std::fs::write(&p, "x").unwrap();
            let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(i as u64);
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        let tmp = dir.path().join("new.dump.tmp");
        std::fs::write(&tmp, "hello").unwrap();
        let file = dir.path().join("new.dump");
        let (size, sha) = seal(&tmp, &file, dir.path(), 2).unwrap();
        assert_eq!(size, 5);
        assert_eq!(
            sha,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["c.dump", "new.dump", "notes.txt"]);
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
