//! Buildbot's own database (`[master] db_url`) and the three operations of a schema-changing
//! upgrade (`bbctl upgrade --strategy migrate`, docs/api.md): a backup (`pg_dump -Fc` or the
//! operator's command), one `buildbot upgrade-master` with the new code in a scratch basedir,
//! and an atomic restore — all behind the [`BuildbotDb`] service, which answers with wire types
//! or a [`BuildbotDbError`] and knows no HTTP.
//!
//! Layout: `url` (the SQLAlchemy URL → libpq), `pg` (queries as Buildbot's DB user), `guard`
//! (the pure rule "no master is using the database"), `tools` (the external programs), `ops`
//! (recording, one at a time, idempotent by (upgrade id, kind), in their own task), `recover`
//! (the resolution of an operation an agent restart interrupted), and one file per operation:
//! `backup`, `upgrade`, `restore`. The hygiene of Buildbot's `masters` table (docs/masters.md):
//! `masters_table` (the rows and what references them), `gone` (the pure rule "this master's
//! process is gone"), `expire` (its housekeeping by Buildbot's own code, `expire.py`), `prune`.

pub mod backup;
pub mod error;
pub mod expire;
pub mod gone;
pub mod guard;
pub mod masters_table;
pub mod ops;
pub mod pg;
pub mod prune;
pub mod recover;
pub mod restore;
pub mod tools;
pub mod upgrade;
pub mod url;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bbctl_api::{BuildbotDbInfo, BuildbotDbOp};
pub use error::BuildbotDbError;

use crate::config::{AgentConfig, BuildbotDbConfig};
use crate::configs::Configs;
use crate::db::{Db, buildbot_db_ops};
use crate::events::EventHub;
use crate::master::MasterRuntime;
use crate::master::vars::VarsFile;
use crate::secret::DbUrl;
use url::{Backend, DbTarget};

/// The Buildbot DB of the master this agent owns. Cheap to clone.
#[derive(Clone)]
pub struct BuildbotDb {
    db_url: Option<DbUrl>,
    settings: BuildbotDbConfig,
    state_dir: PathBuf,
    db: Db,
    hub: EventHub,
    configs: Configs,
    runtime: Arc<MasterRuntime>,
    /// This agent's name and its master's basedir: which `masters` row is its own (expire).
    agent_name: String,
    master_basedir: PathBuf,
    vars: VarsFile,
    flights: Arc<ops::Flights>,
    /// `pg_dump --version` per executable, once found: `GET /v1/buildbot-db` is polled (verify
    /// asks every second), and a version does not change under a running agent.
    tool_versions: Arc<std::sync::Mutex<HashMap<PathBuf, (String, u32)>>>,
}

impl BuildbotDb {
    pub fn new(
        config: &AgentConfig,
        db: Db,
        hub: EventHub,
        configs: Configs,
        runtime: Arc<MasterRuntime>,
    ) -> Self {
        BuildbotDb {
            db_url: config.master.db_url.clone(),
            settings: config.buildbot_db.clone(),
            state_dir: config.state_dir.clone(),
            db,
            hub,
            configs,
            runtime,
            agent_name: config.name.clone(),
            master_basedir: config.master.basedir.clone(),
            vars: VarsFile::new(config),
            flights: Arc::default(),
            tool_versions: Arc::default(),
        }
    }

    /// The configured URL, parsed; any backend.
    fn target_any(&self) -> Result<DbTarget, BuildbotDbError> {
        let url = self.db_url.as_ref().ok_or(BuildbotDbError::NoDbUrl)?;
        DbTarget::parse(url.as_str()).map_err(|e| BuildbotDbError::BadUrl(e.reason))
    }

    /// The configured URL, which must name a PostgreSQL database.
    fn target(&self) -> Result<DbTarget, BuildbotDbError> {
        let t = self.target_any()?;
        match t.backend {
            Backend::Postgresql => Ok(t),
            ref other => Err(BuildbotDbError::NotPostgres(other.as_str().to_owned())),
        }
    }

    /// `GET /v1/buildbot-db`: what the database and this agent's tools look like now. Parts that
    /// cannot be read are named in `problems`.
    pub async fn info(&self) -> Result<BuildbotDbInfo, BuildbotDbError> {
        let target = self.target_any()?;
        let mut problems = Vec::new();
        let code_head = match self.configs.code().active().await {
            Ok(exe) => self.runtime.schemas.get(&exe).await,
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };
        let pg_dump = tools::find(self.settings.pg_dump.as_deref(), "pg_dump");
        let pg_dump_version = match &pg_dump {
            Some(exe) => self.tool_version(exe).await.map(|(v, _)| v),
            None => None,
        };
        let mut info = BuildbotDbInfo {
            backend: target.backend.as_str().to_owned(),
            db: target.to_string(),
            db_key: target.key(),
            server_version: None,
            db_head: None,
            code_head,
            size_bytes: None,
            masters: Vec::new(),
            sessions: Vec::new(),
            unclaimed_requests: None,
            backup_dir: self.settings.backup_dir.display().to_string(),
            free_bytes: free_bytes(&self.settings.backup_dir),
            backup_command: self.settings.backup_command.is_some(),
            pg_dump_version,
            problems: Vec::new(),
        };
        if target.backend != Backend::Postgresql {
            problems.push(BuildbotDbError::NotPostgres(info.backend.clone()).to_string());
        } else {
            if pg_dump.is_none() {
                problems.push(NO_PG_DUMP.to_owned());
            }
            match pg::snapshot(&target).await {
                Ok((snap, more)) => {
                    info.server_version = snap.server_version;
                    info.db_head = snap.head;
                    info.size_bytes = snap.size_bytes;
                    info.masters = snap.masters;
                    info.sessions = snap.sessions;
                    info.unclaimed_requests = snap.unclaimed_requests;
                    problems.extend(more);
                }
                Err(e) => problems.push(e),
            }
        }
        info.problems = problems;
        Ok(info)
    }

    /// `GET /v1/buildbot-db/ops/{upgrade_id}`: oldest first, `[]` when none.
    pub async fn ops(&self, upgrade_id: &str) -> Result<Vec<BuildbotDbOp>, BuildbotDbError> {
        ops::check_id(upgrade_id)?;
        let id = upgrade_id.to_owned();
        Ok(self
            .db
            .run(move |c| buildbot_db_ops::of_upgrade(c, &id))
            .await?)
    }

    /// One look at the database; refused (409) while a master or a foreign session uses it.
    async fn guarded(
        &self,
        target: &DbTarget,
        vouched_stopped: &[String],
    ) -> Result<pg::Snapshot, BuildbotDbError> {
        let (snap, _) = pg::snapshot(target)
            .await
            .map_err(BuildbotDbError::Unreachable)?;
        if let Some(p) = &snap.guard_problem {
            return Err(BuildbotDbError::Unreachable(format!(
                "cannot tell whether a master uses the database: {p}"
            )));
        }
        let now = crate::db::now() as i64;
        guard::judge(&snap.masters, &snap.sessions, vouched_stopped, now).map_err(|r| {
            BuildbotDbError::InUse {
                message: guard::describe(&r),
                refusal: Box::new(r),
            }
        })?;
        Ok(snap)
    }

    /// [`tools::version`] of `exe`, asked once per executable (a failure is asked again).
    async fn tool_version(&self, exe: &Path) -> Option<(String, u32)> {
        let known = self.tool_versions.lock().unwrap().get(exe).cloned();
        if known.is_some() {
            return known;
        }
        let found = tools::version(exe).await?;
        self.tool_versions
            .lock()
            .unwrap()
            .insert(exe.to_path_buf(), found.clone());
        Some(found)
    }

    /// `<state_dir>/tmp`: the tools' output files.
    fn tmp_dir(&self) -> PathBuf {
        self.state_dir.join("tmp")
    }
}

const NO_PG_DUMP: &str =
    "pg_dump not found (PATH, /usr/lib/postgresql/*/bin): set `[buildbot_db] pg_dump`";

/// Free bytes of the file system holding `dir` (or its nearest existing parent).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let existing = dir.ancestors().find(|d| d.exists())?;
    let st = nix::sys::statvfs::statvfs(existing).ok()?;
    Some(st.blocks_available() as u64 * st.fragment_size() as u64)
}
