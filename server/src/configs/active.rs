//! Activation of a staged bundle into the master's basedir (each file written atomically, the
//! files it replaces kept under `<state_dir>/backups/`), and which configuration the basedir
//! holds now.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bbctl_api::{ActiveConfig, OperationResult};

use super::Configs;
use super::bundle::{Bundle, UNMANAGED, sha256_of};
use super::error::ConfigsError;
use super::store::short;
use crate::db::configs::{self, ActiveRow, VersionRow};
use crate::fsutil::write_atomic;
use crate::master::code::check_switch;
use crate::master::operation::{FailureKind, OpFailure, OpSuccess, Requester};
use crate::master::process;

impl Configs {
    /// The configuration in the basedir now: the last activated version if its files are still
    /// there unchanged; else the staged version whose content equals the basedir's master.cfg;
    /// else `unmanaged` with the sha of that master.cfg; `None` without a master.cfg.
    pub async fn current(&self) -> Result<Option<ActiveConfig>, ConfigsError> {
        let last = self.last_activation().await?;
        self.current_after(last.as_ref()).await
    }

    /// The last activation recorded in the state DB, if any: what [`Configs::current_after`]
    /// and `Code::after` start from, read once when both are wanted.
    pub async fn last_activation(&self) -> Result<Option<ActiveRow>, ConfigsError> {
        Ok(self.db.run(configs::active).await?)
    }

    /// [`Configs::current`], with the last activation already read.
    pub async fn current_after(
        &self,
        last: Option<&ActiveRow>,
    ) -> Result<Option<ActiveConfig>, ConfigsError> {
        let Ok(master_cfg) = std::fs::read(self.basedir.join("master.cfg")) else {
            return Ok(None);
        };
        if let Some(last) = last {
            let row = self.store.find(&last.sha256).await.ok().flatten();
            let files = row.map(|r| r.files()).unwrap_or_default();
            if !files.is_empty()
                && sha_in_dir(&self.basedir, &files).as_deref() == Some(last.sha256.as_str())
            {
                return Ok(Some(ActiveConfig {
                    sha256: last.sha256.clone(),
                    label: last.label.clone(),
                }));
            }
        }
        let sha = sha256_of([("master.cfg", master_cfg.as_slice())]);
        let label = match self.store.find(&sha).await {
            Ok(Some(row)) => row.label,
            _ => UNMANAGED.to_owned(),
        };
        Ok(Some(ActiveConfig { sha256: sha, label }))
    }

    /// Writes a staged version into the basedir; does not restart or reconfig the master.
    /// `buildbot` (validated), else the version's Buildbot executable, becomes the master's;
    /// switching it while the master runs is refused ([`ConfigsError::Switch`]).
    pub async fn activate(
        &self,
        sha256: &str,
        buildbot: Option<&str>,
        who: Requester,
    ) -> Result<OperationResult, ConfigsError> {
        let row = self.store.row(sha256).await?;
        let bundle = self.store.load(&row)?;
        // What the activation records: the executable named here, else the version's (None: the
        // agent's `master.buildbot`).
        let recorded = match buildbot {
            Some(spec) => Some(self.code.resolve(spec).await?.display().to_string()),
            None => row.buildbot.clone(),
        };
        let guard = self.ops.lock()?;
        let wanted = self.code.or_default(recorded.as_deref());
        let last = self.last_activation().await?;
        check_switch(
            process::running_pid(&self.basedir),
            &self.code.after(last.as_ref()),
            &wanted,
        )?;
        let plan = Plan {
            previous: self.current_after(last.as_ref()).await?,
            row,
            bundle,
            recorded,
            wanted,
        };
        let this = self.clone();
        let done = self.ops.run(guard, "activate", who, async move {
            this.write_activation(plan).await
        });
        Ok(done.await?)
    }

    async fn write_activation(&self, plan: Plan) -> Result<OpSuccess, OpFailure> {
        let Plan {
            row,
            bundle,
            recorded,
            wanted,
            previous,
        } = plan;
        let basedir = &self.basedir;
        let failed = |m: String| OpFailure::failed(m);
        if !basedir.is_dir() {
            return Err(failed(format!(
                "basedir {} does not exist",
                basedir.display()
            )));
        }
        let backup = self.state_dir.join("backups").join(format!(
            "{}-{}",
            crate::db::now() as u64,
            previous.as_ref().map_or("none", |p| short(&p.sha256))
        ));
        let mut backed_up = Vec::new();
        for path in bundle.files.keys() {
            if let Ok(old) = std::fs::read(basedir.join(path)) {
                write_atomic(&backup.join(path), &old)
                    .map_err(|e| failed(format!("cannot back up {path}: {e}")))?;
                backed_up.push(path.clone());
            }
        }
        for (path, content) in &bundle.files {
            write_atomic(&basedir.join(path), content)
                .map_err(|e| failed(format!("cannot write {path} into the basedir: {e}")))?;
        }
        let (sha, label) = (row.sha256.clone(), row.label.clone());
        let prev_sha = previous.as_ref().map(|p| p.sha256.clone());
        let backup_dir = (!backed_up.is_empty()).then(|| backup.display().to_string());
        self.db
            .run(move |c| {
                configs::record_activation(
                    c,
                    &configs::Activation {
                        sha256: &sha,
                        label: &label,
                        previous_sha256: prev_sha.as_deref(),
                        backup_dir: backup_dir.as_deref(),
                        buildbot: recorded.as_deref(),
                    },
                )
            })
            .await
            .map_err(|e| OpFailure::new(FailureKind::Internal, e.to_string()))?;
        self.hub.publish_agent(
            "agent.config",
            format!(
                "configuration {} ({}) activated",
                short(&row.sha256),
                row.label
            ),
            serde_json::json!({
                "action": "activated", "sha256": row.sha256, "label": row.label,
                "previous": previous, "buildbot": wanted.display().to_string(),
            }),
        );
        Ok(OpSuccess {
            message: format!(
                "activated {} ({}, buildbot {}); reconfig or restart the master to load it",
                row.sha256,
                row.label,
                wanted.display()
            ),
            log_lines: backed_up
                .iter()
                .map(|p| format!("replaced {p} (backup kept)"))
                .collect(),
        })
    }
}

/// What one activation writes and records, decided before it runs.
struct Plan {
    row: VersionRow,
    bundle: Bundle,
    /// The executable recorded with the activation; `None`: the agent's default.
    recorded: Option<String>,
    /// The executable the master runs after it.
    wanted: PathBuf,
    /// What the basedir held before.
    previous: Option<ActiveConfig>,
}

/// The bundle sha of `files` as they are in `dir`, if all exist.
fn sha_in_dir(dir: &Path, files: &[String]) -> Option<String> {
    let mut contents = BTreeMap::new();
    for f in files {
        contents.insert(f.as_str(), std::fs::read(dir.join(f)).ok()?);
    }
    Some(sha256_of(contents.iter().map(|(p, c)| (*p, c.as_slice()))))
}
