//! Staged bundles on disk (`<state_dir>/configs/<sha256>/<path>`, written to a temporary
//! directory and renamed into place) and their rows in the state DB. Knows nothing of the
//! basedir: which version is active is `super::active`'s business.

use std::path::{Path, PathBuf};

use super::bundle::Bundle;
use super::error::ConfigsError;
use crate::db::configs::{self, NewVersion, VersionRow};
use crate::db::{Db, DbError, audit};
use crate::fsutil::write_atomic;

/// A staged version before it is recorded: what the upload said besides its files.
pub struct Staging {
    pub label: String,
    pub reason: Option<String>,
    /// The resolved executable; `None` for the agent's default.
    pub buildbot: Option<String>,
    pub actor: Option<String>,
}

#[derive(Clone)]
pub struct Store {
    /// `<state_dir>/configs`.
    dir: PathBuf,
    db: Db,
}

impl Store {
    pub fn new(dir: PathBuf, db: Db) -> Self {
        Store { dir, db }
    }

    pub fn bundle_dir(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    /// Stores `bundle` (unless its directory exists already) and records it with an audit
    /// entry; staging identical content again returns the existing row (with the new
    /// `buildbot`, see [`configs::insert_version`]).
    pub async fn stage(&self, bundle: &Bundle, s: Staging) -> Result<VersionRow, ConfigsError> {
        let sha = bundle.sha256();
        let dir = self.bundle_dir(&sha);
        if !dir.is_dir() {
            write_bundle_dir(&dir, bundle)
                .map_err(|e| ConfigsError::storage(format!("staging {sha}"), e))?;
        }
        let paths = bundle.paths();
        let row = self
            .db
            .run(move |c| {
                let row = configs::insert_version(
                    c,
                    &sha,
                    &NewVersion {
                        label: &s.label,
                        files: &paths,
                        staged_by: s.actor.as_deref(),
                        reason: s.reason.as_deref(),
                        buildbot: s.buildbot.as_deref(),
                    },
                )?;
                let detail = format!("{sha} ({})", s.label);
                audit::append(c, s.actor.as_deref(), "config.stage", &detail)?;
                Ok(row)
            })
            .await?;
        Ok(row)
    }

    /// Reads a staged bundle back from disk.
    pub fn load(&self, row: &VersionRow) -> Result<Bundle, ConfigsError> {
        let dir = self.bundle_dir(&row.sha256);
        let mut files = std::collections::BTreeMap::new();
        for path in row.files() {
            let content = std::fs::read(dir.join(&path)).map_err(|e| {
                ConfigsError::storage(format!("staged file {path} of {}", row.sha256), e)
            })?;
            files.insert(path, content);
        }
        Ok(Bundle { files })
    }

    /// The row of a staged version, if there is one.
    pub async fn find(&self, sha256: &str) -> Result<Option<VersionRow>, DbError> {
        let sha = sha256.to_owned();
        self.db.run(move |c| configs::get_version(c, &sha)).await
    }

    /// The row of a staged version; [`ConfigsError::NotStaged`] without one.
    pub async fn row(&self, sha256: &str) -> Result<VersionRow, ConfigsError> {
        self.find(sha256)
            .await?
            .ok_or_else(|| ConfigsError::NotStaged(sha256.to_owned()))
    }

    /// Every staged version, newest first.
    pub async fn rows(&self) -> Result<Vec<VersionRow>, DbError> {
        self.db.run(configs::list_versions).await
    }
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

/// The first 12 characters of a sha, as events and backups name a version.
pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
