//! The `config_versions` and `active_config` tables: staged configuration bundles (the files
//! themselves live under `<state_dir>/configs/<sha256>/`) with the Buildbot executable each runs
//! with, and the history of activations (which executable each made the master's).

use bbctl_api::CheckConfigResult;
use diesel::prelude::*;

use super::schema::{active_config, config_versions};
use super::{Conn, DbError, now, with_conn};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = config_versions)]
pub struct VersionRow {
    pub sha256: String,
    pub label: String,
    files: String,
    pub staged_at: f64,
    pub staged_by: Option<String>,
    pub reason: Option<String>,
    checkconfig: Option<String>,
    pub activated_at: Option<f64>,
    /// The resolved `buildbot` executable this version runs with; `None`: the agent's default.
    pub buildbot: Option<String>,
}

impl VersionRow {
    pub fn files(&self) -> Vec<String> {
        serde_json::from_str(&self.files).unwrap_or_default()
    }

    pub fn checkconfig(&self) -> Option<CheckConfigResult> {
        self.checkconfig
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = active_config)]
pub struct ActiveRow {
    pub id: i64,
    pub sha256: String,
    pub label: String,
    pub previous_sha256: Option<String>,
    pub backup_dir: Option<String>,
    pub activated_at: f64,
    /// The executable this activation made the master's; `None`: the agent's default.
    pub buildbot: Option<String>,
}

/// What a stage records besides the files' sha256.
pub struct NewVersion<'a> {
    pub label: &'a str,
    pub files: &'a [String],
    pub staged_by: Option<&'a str>,
    pub reason: Option<&'a str>,
    /// The resolved executable, `None` for the agent's default.
    pub buildbot: Option<&'a str>,
}

/// Inserts a staged version. Staging the same content again keeps the first row's label and
/// files but takes the new `buildbot` (the last stage wins); when that changes, the old
/// checkconfig result is dropped (it was for the other executable).
pub fn insert_version(
    conn: &mut Conn,
    sha256: &str,
    new: &NewVersion<'_>,
) -> Result<VersionRow, DbError> {
    let NewVersion {
        label,
        files,
        staged_by,
        reason,
        buildbot,
    } = *new;
    if let Some(existing) = get_version(conn, sha256)? {
        if existing.buildbot.as_deref() == buildbot {
            return Ok(existing);
        }
        with_conn!(conn, |c| diesel::update(
            config_versions::table.find(sha256)
        )
        .set((
            config_versions::buildbot.eq(buildbot),
            config_versions::checkconfig.eq(None::<String>),
        ))
        .execute(c))?;
        return get_version(conn, sha256)?.ok_or(DbError::Query(diesel::result::Error::NotFound));
    }
    let files = serde_json::to_string(files).map_err(|e| DbError::Malformed(e.to_string()))?;
    let values = (
        config_versions::sha256.eq(sha256),
        config_versions::label.eq(label),
        config_versions::files.eq(files),
        config_versions::staged_at.eq(now()),
        config_versions::staged_by.eq(staged_by),
        config_versions::reason.eq(reason),
        config_versions::buildbot.eq(buildbot),
    );
    with_conn!(conn, |c| diesel::insert_into(config_versions::table)
        .values(values)
        .execute(c))?;
    get_version(conn, sha256)?.ok_or(DbError::Query(diesel::result::Error::NotFound))
}

pub fn get_version(conn: &mut Conn, sha256: &str) -> Result<Option<VersionRow>, DbError> {
    let row = with_conn!(conn, |c| config_versions::table
        .find(sha256)
        .select(VersionRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}

/// Newest first.
pub fn list_versions(conn: &mut Conn) -> Result<Vec<VersionRow>, DbError> {
    let rows = with_conn!(conn, |c| config_versions::table
        .order((
            config_versions::staged_at.desc(),
            config_versions::sha256.asc()
        ))
        .select(VersionRow::as_select())
        .load(c))?;
    Ok(rows)
}

pub fn set_checkconfig(
    conn: &mut Conn,
    sha256: &str,
    result: &CheckConfigResult,
) -> Result<(), DbError> {
    let json = serde_json::to_string(result).map_err(|e| DbError::Malformed(e.to_string()))?;
    with_conn!(conn, |c| diesel::update(
        config_versions::table.find(sha256)
    )
    .set(config_versions::checkconfig.eq(Some(json)))
    .execute(c))?;
    Ok(())
}

/// One activation: `sha256` is now in the basedir, the files it replaced are kept in
/// `backup_dir`, and the master runs `buildbot` (`None`: the agent's default) from now on.
pub struct Activation<'a> {
    pub sha256: &'a str,
    pub label: &'a str,
    pub previous_sha256: Option<&'a str>,
    pub backup_dir: Option<&'a str>,
    pub buildbot: Option<&'a str>,
}

/// Records an activation.
pub fn record_activation(conn: &mut Conn, a: &Activation<'_>) -> Result<(), DbError> {
    let at = now();
    let sha256 = a.sha256;
    let values = (
        active_config::sha256.eq(sha256),
        active_config::label.eq(a.label),
        active_config::previous_sha256.eq(a.previous_sha256),
        active_config::backup_dir.eq(a.backup_dir),
        active_config::activated_at.eq(at),
        active_config::buildbot.eq(a.buildbot),
    );
    with_conn!(conn, |c| diesel::insert_into(active_config::table)
        .values(values)
        .execute(c))?;
    with_conn!(conn, |c| diesel::update(
        config_versions::table.find(sha256)
    )
    .set(config_versions::activated_at.eq(Some(at)))
    .execute(c))?;
    Ok(())
}

/// The latest activation, if any.
pub fn active(conn: &mut Conn) -> Result<Option<ActiveRow>, DbError> {
    let row = with_conn!(conn, |c| active_config::table
        .order(active_config::id.desc())
        .select(ActiveRow::as_select())
        .first(c)
        .optional())?;
    Ok(row)
}
