//! Activation of a staged bundle into the master's basedir (each file written atomically, the
//! files it replaces kept under `<state_dir>/backups/`), and which configuration the basedir
//! holds now.

use std::collections::BTreeMap;
use std::path::Path;

use bbctl_api::{ActiveConfig, ErrorCode, OperationResult};

use super::bundle::sha256_of;
use super::{UNMANAGED, store};
use crate::db::configs::{self, ActiveRow};
use crate::error::AppResult;
use crate::fsutil::write_atomic;
use crate::master::operation::{self, OpFailure, OpSuccess, Requester};
use crate::master::{code, process};
use crate::state::AppState;

/// The configuration in the basedir now: the last activated version if its files are still
/// there unchanged; else the staged version whose content equals the basedir's master.cfg; else
/// `unmanaged` with the sha of that master.cfg; `None` without a master.cfg.
pub async fn current(state: &AppState) -> AppResult<Option<ActiveConfig>> {
    current_after(state, last_activation(state).await?.as_ref()).await
}

/// The last activation recorded in the state DB, if any: what [`current_after`] and
/// [`code::executable_after`] start from, read once when both are wanted.
pub async fn last_activation(state: &AppState) -> AppResult<Option<ActiveRow>> {
    Ok(state.db().run(configs::active).await?)
}

/// [`current`], with the last activation already read.
pub async fn current_after(
    state: &AppState,
    last: Option<&ActiveRow>,
) -> AppResult<Option<ActiveConfig>> {
    let basedir = state.config().master.basedir.clone();
    let Ok(master_cfg) = std::fs::read(basedir.join("master.cfg")) else {
        return Ok(None);
    };
    if let Some(last) = last {
        let row = store::get_row(state, &last.sha256).await.ok();
        let files = row.map(|r| r.files()).unwrap_or_default();
        if !files.is_empty()
            && sha_in_dir(&basedir, &files).as_deref() == Some(last.sha256.as_str())
        {
            return Ok(Some(ActiveConfig {
                sha256: last.sha256.clone(),
                label: last.label.clone(),
            }));
        }
    }
    let sha = sha256_of([("master.cfg", master_cfg.as_slice())]);
    let label = match store::get_row(state, &sha).await {
        Ok(row) => row.label,
        Err(_) => UNMANAGED.to_owned(),
    };
    Ok(Some(ActiveConfig { sha256: sha, label }))
}

/// The bundle sha of `files` as they are in `dir`, if all exist.
fn sha_in_dir(dir: &Path, files: &[String]) -> Option<String> {
    let mut contents = BTreeMap::new();
    for f in files {
        contents.insert(f.as_str(), std::fs::read(dir.join(f)).ok()?);
    }
    Some(sha256_of(contents.iter().map(|(p, c)| (*p, c.as_slice()))))
}

/// `POST /v1/configs/{sha256}/activate`. Does not restart or reconfig the master. `buildbot`
/// (validated: 422), else the version's Buildbot executable, becomes the master's; switching it
/// while the master runs is refused (409).
pub async fn activate(
    state: &AppState,
    sha256: &str,
    buildbot: Option<&str>,
    who: Requester,
) -> AppResult<OperationResult> {
    let row = store::get_row(state, sha256).await?;
    let bundle = store::load_bundle(state, &row)?;
    // What the activation records: the executable named here, else the version's (None: the
    // agent's `master.buildbot`).
    let recorded = match buildbot {
        Some(spec) => Some(code::resolve(state, spec).await?.display().to_string()),
        None => row.buildbot.clone(),
    };
    let guard = operation::lock(state)?;
    let wanted = code::or_default(state, recorded.as_deref());
    let last = last_activation(state).await?;
    code::check_switch(
        process::running_pid(&state.config().master.basedir),
        &code::executable_after(state, last.as_ref()),
        &wanted,
    )?;
    let previous = current_after(state, last.as_ref()).await?;
    let st = state.clone();
    operation::run(state, guard, "activate", who, async move {
        let cfg = st.config();
        let basedir = &cfg.master.basedir;
        let failed = |m: String| OpFailure::new(ErrorCode::OperationFailed, m);
        if !basedir.is_dir() {
            return Err(failed(format!(
                "basedir {} does not exist",
                basedir.display()
            )));
        }
        let backup = cfg.state_dir.join("backups").join(format!(
            "{}-{}",
            crate::db::now() as u64,
            previous
                .as_ref()
                .map_or("none", |p| store::short(&p.sha256))
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
        st.db()
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
            .map_err(|e| OpFailure::new(ErrorCode::Internal, e.to_string()))?;
        st.hub().publish_agent(
            "agent.config",
            format!(
                "configuration {} ({}) activated",
                store::short(&row.sha256),
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
    })
    .await
}
