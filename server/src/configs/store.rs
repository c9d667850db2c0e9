//! Staged bundles on disk (`<state_dir>/configs/<sha256>/<path>`, written to a temporary
//! directory and renamed into place) and their rows in the state DB.

use std::path::{Path, PathBuf};

use bbctl_api::{ConfigVersion, ErrorCode, StageConfigRequest};

use super::active;
use super::bundle::{Bundle, BundleError, validate_label};
use crate::db::audit;
use crate::db::configs::{self, VersionRow};
use crate::error::{AppError, AppResult};
use crate::fsutil::write_atomic;
use crate::master::code;
use crate::state::AppState;

impl From<BundleError> for AppError {
    fn from(e: BundleError) -> Self {
        match e {
            BundleError::TooLarge => AppError::new(ErrorCode::PayloadTooLarge, e.to_string()),
            _ => AppError::bad_request(e.to_string()),
        }
    }
}

pub fn bundle_dir(state: &AppState, sha256: &str) -> PathBuf {
    state.config().configs_dir().join(sha256)
}

/// Validates, stores and records a bundle; staging identical content again returns the
/// existing version (with the new `buildbot`, see [`configs::insert_version`]). A `buildbot`
/// that does not resolve to a working executable is refused (422) before anything is stored.
pub async fn stage(
    state: &AppState,
    req: StageConfigRequest,
    actor: Option<String>,
) -> AppResult<ConfigVersion> {
    validate_label(&req.label)?;
    let bundle = Bundle::from_upload(&req.files)?;
    let buildbot = match &req.buildbot {
        Some(spec) => Some(code::resolve(state, spec).await?.display().to_string()),
        None => None,
    };
    let sha = bundle.sha256();
    let dir = bundle_dir(state, &sha);
    if !dir.is_dir() {
        write_bundle_dir(&dir, &bundle).map_err(AppError::internal)?;
    }
    let (paths, label, reason) = (bundle.paths(), req.label.clone(), req.reason.clone());
    let sha2 = sha.clone();
    let row = state
        .db()
        .run(move |c| {
            let row = configs::insert_version(
                c,
                &sha2,
                &configs::NewVersion {
                    label: &label,
                    files: &paths,
                    staged_by: actor.as_deref(),
                    reason: reason.as_deref(),
                    buildbot: buildbot.as_deref(),
                },
            )?;
            audit::append(
                c,
                actor.as_deref(),
                "config.stage",
                &format!("{sha2} ({label})"),
            )?;
            Ok(row)
        })
        .await?;
    tracing::info!(sha256 = %sha, label = %row.label, "configuration staged");
    state.hub().publish_agent(
        "agent.config",
        format!("configuration {} ({}) staged", short(&sha), row.label),
        serde_json::json!({"action": "staged", "sha256": sha, "label": row.label}),
    );
    to_wire(state, row).await
}

/// Writes the bundle into a fresh temporary directory next to `dir`, then renames it to `dir`.
fn write_bundle_dir(dir: &Path, bundle: &Bundle) -> std::io::Result<()> {
    let parent = dir
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent"))?;
    std::fs::create_dir_all(parent)?;
    let tmp = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(parent)?;
    for (path, content) in &bundle.files {
        write_atomic(&tmp.path().join(path), content)?;
    }
    let tmp_path = tmp.keep();
    if let Err(e) = std::fs::rename(&tmp_path, dir) {
        let _ = std::fs::remove_dir_all(&tmp_path);
        // A concurrent stage of the same content won the race: that is fine.
        if !dir.is_dir() {
            return Err(e);
        }
    }
    Ok(())
}

/// Reads a staged bundle back from disk.
pub fn load_bundle(state: &AppState, row: &VersionRow) -> AppResult<Bundle> {
    let dir = bundle_dir(state, &row.sha256);
    let mut files = std::collections::BTreeMap::new();
    for path in row.files() {
        let content = std::fs::read(dir.join(&path)).map_err(|e| {
            AppError::internal(format!("staged file {path} of {}: {e}", row.sha256))
        })?;
        files.insert(path, content);
    }
    Ok(Bundle { files })
}

pub async fn get_row(state: &AppState, sha256: &str) -> AppResult<VersionRow> {
    let sha = sha256.to_owned();
    state
        .db()
        .run(move |c| configs::get_version(c, &sha))
        .await?
        .ok_or_else(|| AppError::not_found(format!("no staged configuration {sha256}")))
}

pub async fn get(state: &AppState, sha256: &str) -> AppResult<ConfigVersion> {
    let row = get_row(state, sha256).await?;
    to_wire(state, row).await
}

pub async fn list(state: &AppState) -> AppResult<Vec<ConfigVersion>> {
    let rows = state.db().run(configs::list_versions).await?;
    let active = active::current(state).await?.map(|a| a.sha256);
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(wire(state, row, active.as_deref()).await);
    }
    Ok(out)
}

async fn to_wire(state: &AppState, row: VersionRow) -> AppResult<ConfigVersion> {
    let active = active::current(state).await?.map(|a| a.sha256);
    Ok(wire(state, row, active.as_deref()).await)
}

async fn wire(state: &AppState, row: VersionRow, active_sha: Option<&str>) -> ConfigVersion {
    let exe = code::of_version(state, &row);
    ConfigVersion {
        buildbot_version: state.master().versions.get(&exe).await,
        buildbot_db_head: state.master().schemas.get(&exe).await,
        buildbot: Some(exe.display().to_string()),
        active: active_sha == Some(row.sha256.as_str()),
        files: row.files(),
        checkconfig: row.checkconfig(),
        staged_at: row.staged_at as i64,
        label: row.label,
        sha256: row.sha256,
    }
}

pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
