//! `POST /v1/buildbot-db/masters/expire`: a dead master's housekeeping, now, by Buildbot's own
//! code (`expire.py`, run with the Python of the master's Buildbot) — never SQL written here.
//!
//! Buildbot 4.x releases a crashed master's claimed build requests only when a master of the
//! same name starts again: the expiry another master runs after 10 minutes deletes claims
//! `WHERE masterid = <the calling master>` (db/buildrequests.py), which matches none of the
//! dead master's (docs/masters.md). The helper takes the dead master's id as its own so that
//! the same code matches them, and publishes `buildrequests.<id>.unclaimed` on the fleet's
//! WAMP router so the live masters start them at once.
//!
//! Refused (409) unless [`gone::judge`] proves the process gone; 404 for an unknown id.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bbctl_api::{ExpireMasterRequest, ExpireMasterResult};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::gone::{self, Facts, Process};
use super::masters_table::read_with_sessions;
use super::{BuildbotDb, BuildbotDbError};
use crate::configs::scratch::ScratchBasedir;
use crate::db::{audit, configs};
use crate::master::process::running_pid;

/// The helper, run as `python3 -c`.
const HELPER: &str = include_str!("expire.py");
const RESULT_PREFIX: &str = "bbctl-expire-result: ";
/// The whole helper (imports, DB setup, housekeeping, publishing) may take this long.
const HELPER_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the helper waits for the WAMP router.
const MQ_TIMEOUT_SECS: u64 = 15;

/// What the helper prints.
#[derive(Debug, Deserialize)]
struct HelperResult {
    masterid: i64,
    name: String,
    was_active: bool,
    builds_retried: Vec<i64>,
    requests_returned: Vec<i64>,
    still_claimed: Vec<i64>,
    schedulers_released: i64,
    notified: bool,
    mq_problem: Option<String>,
    buildbot_version: String,
}

impl BuildbotDb {
    pub async fn expire_master(
        &self,
        req: ExpireMasterRequest,
        actor: Option<String>,
    ) -> Result<ExpireMasterResult, BuildbotDbError> {
        let target = self.target()?;
        let (table, sessions) = read_with_sessions(&target)
            .await
            .map_err(BuildbotDbError::Unreachable)?;
        let row = table
            .masters
            .iter()
            .find(|m| m.id == req.masterid)
            .ok_or(BuildbotDbError::NoSuchMaster(req.masterid))?;
        let process = self.process_of(row.id, &row.name);
        let mut evidence = gone::judge(&Facts {
            row,
            db_now: table.db_now,
            process,
            sessions: &sessions,
            host_gone: req.host_gone,
        })
        .map_err(BuildbotDbError::NotGone)?;
        let scratch = self.expire_config().await?;
        let buildbot = match &scratch {
            Some(s) => s.buildbot.clone(),
            None => self.configs.code().active().await?,
        };
        let input = serde_json::json!({
            "db_url": self.db_url.as_ref().map(|u| u.as_str()).unwrap_or_default(),
            "app_name": format!("bbctl-expire:{}", req.masterid),
            "masterid": req.masterid,
            "config_dir": scratch.as_ref().map(|s| s.dir.path().display().to_string()),
            "mq_timeout": MQ_TIMEOUT_SECS,
        });
        let vars = scratch.as_ref().map(|s| s.vars_file.clone());
        let out = run_helper(
            &buildbot,
            &input.to_string(),
            vars.as_deref(),
            target.password(),
        )
        .await?;
        if !out.still_claimed.is_empty() {
            return Err(BuildbotDbError::Internal(format!(
                "Buildbot's housekeeping left requests {:?} claimed by master {}",
                out.still_claimed, out.masterid
            )));
        }
        if let Some(p) = &out.mq_problem {
            evidence.push(format!(
                "the live masters were not told ({p}): they take the requests at their next trigger"
            ));
        }
        let result = ExpireMasterResult {
            masterid: out.masterid,
            name: out.name,
            was_active: out.was_active,
            builds_retried: out.builds_retried,
            requests_returned: out.requests_returned,
            schedulers_released: out.schedulers_released,
            evidence,
            notified: out.notified,
            buildbot_version: out.buildbot_version,
            agent_retired: None,
        };
        let detail = format!(
            "master {} ({}){}: {} build(s) retried, requests {:?} returned",
            result.masterid,
            result.name,
            if req.host_gone { ", --host-gone" } else { "" },
            result.builds_retried.len(),
            result.requests_returned
        );
        self.db
            .run(move |c| audit::append(c, actor.as_deref(), "buildbot_db.expire_master", &detail))
            .await?;
        Ok(result)
    }

    /// Whether row (`id`, `name`) is this agent's master, and its pid if it runs.
    fn process_of(&self, id: i64, name: &str) -> Process {
        let own = match self.runtime.identity.get() {
            Some((own_id, _)) => own_id == id,
            None => name.ends_with(&format!(":{}", self.master_basedir.display())),
        };
        if own {
            Process::Own {
                agent: self.agent_name.clone(),
                pid: running_pid(&self.master_basedir),
            }
        } else {
            Process::Elsewhere
        }
    }

    /// The active configuration in a scratch basedir (its master.cfg names the message queue):
    /// the activated version, else a copy of the basedir's `master.cfg` (and its top-level
    /// `.py` files) with the agent's vars file; `None` when there is neither.
    async fn expire_config(&self) -> Result<Option<ScratchBasedir>, BuildbotDbError> {
        if let Some(active) = self.db.run(configs::active).await? {
            let scratch = self
                .configs
                .scratch_basedir(&active.sha256, "expire", "expire-")
                .await?;
            return Ok(Some(scratch));
        }
        let cfg = self.master_basedir.join("master.cfg");
        if !cfg.is_file() {
            return Ok(None);
        }
        let buildbot = self.configs.code().active().await?;
        let root = self.state_dir.join("expire");
        let copy = |e: std::io::Error| {
            BuildbotDbError::Internal(format!("expire scratch basedir {}: {e}", root.display()))
        };
        std::fs::create_dir_all(&root).map_err(copy)?;
        let dir = tempfile::Builder::new()
            .prefix("expire-")
            .tempdir_in(&root)
            .map_err(copy)?;
        for entry in std::fs::read_dir(&self.master_basedir).map_err(copy)? {
            let path = entry.map_err(copy)?.path();
            let wanted = path.file_name().is_some_and(|n| n == "master.cfg")
                || path.extension().is_some_and(|e| e == "py");
            if wanted && path.is_file() {
                std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).map_err(copy)?;
            }
        }
        let vars_file = self.vars.write_into(dir.path()).map_err(copy)?;
        Ok(Some(ScratchBasedir {
            dir,
            vars_file,
            buildbot,
        }))
    }
}

/// The Python next to `buildbot` (a venv's `bin/`).
fn python_of(buildbot: &Path) -> Result<PathBuf, BuildbotDbError> {
    buildbot
        .parent()
        .into_iter()
        .flat_map(|bin| [bin.join("python3"), bin.join("python")])
        .find(|p| p.is_file())
        .ok_or_else(|| {
            BuildbotDbError::Refused(format!(
                "no python next to {}: the housekeeping runs with the Buildbot's own Python",
                buildbot.display()
            ))
        })
}

async fn run_helper(
    buildbot: &Path,
    input: &str,
    vars_file: Option<&Path>,
    secret: Option<&str>,
) -> Result<HelperResult, BuildbotDbError> {
    let python = python_of(buildbot)?;
    let mut cmd = tokio::process::Command::new(&python);
    cmd.args(["-c", HELPER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(v) = vars_file {
        cmd.env(bbctl_api::VARS_FILE_ENV, v);
    }
    let fail = |e: std::io::Error| {
        BuildbotDbError::Internal(format!("cannot run {}: {e}", python.display()))
    };
    let mut child = cmd.spawn().map_err(fail)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).await.map_err(fail)?;
    }
    let out = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            BuildbotDbError::Internal(format!(
                "the housekeeping helper did not finish in {HELPER_TIMEOUT:?}"
            ))
        })?
        .map_err(fail)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let found = stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_PREFIX))
        .and_then(|json| serde_json::from_str::<HelperResult>(json).ok());
    match found {
        Some(r) => Ok(r),
        None => {
            let mut err = String::from_utf8_lossy(&out.stderr).into_owned();
            if let Some(p) = secret.filter(|p| !p.is_empty()) {
                err = err.replace(p, "xxxx");
            }
            let tail: Vec<&str> = err.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(BuildbotDbError::Internal(format!(
                "Buildbot's housekeeping failed ({}): {}",
                out.status,
                tail.join(" | ")
            )))
        }
    }
}
