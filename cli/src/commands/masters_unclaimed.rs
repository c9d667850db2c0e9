//! The rows of Buildbot's `masters` table that no agent claims, for `masters list`: read from
//! one agent (`GET /v1/buildbot-db/masters`) and classed `stale-name` (inactive), `silent`
//! (active, `last_active` older than Buildbot's expiry by the database's clock), `running`
//! (active and fresh: a master without a bbctl agent) or `hidden` (by `masters prune`; listed
//! only with `--all`). A row is claimed when an agent reports its `masterid` or Buildbot name.
//! Agents without the endpoint (404) or without `[master] db_url` add nothing.

use bbctl_api::{ErrorCode, MastersTable};

use crate::client::ApiError;
use crate::ctx::Ctx;
use crate::report::{MasterRow, RowSource, RowState};

/// How many answering agents are asked, one after another, before giving up.
const TRIES: usize = 3;

/// The extra rows, and a warning when the table exists but could not be read.
pub async fn rows(
    ctx: &Ctx,
    agent_rows: &[MasterRow],
    all: bool,
) -> (Vec<MasterRow>, Option<String>) {
    match read(ctx, agent_rows).await {
        Ok(Some(table)) => (classify(&table, agent_rows, all), None),
        Ok(None) => (Vec::new(), None),
        Err(err) => (
            Vec::new(),
            Some(format!(
                "warning: Buildbot's masters table could not be read: {err}"
            )),
        ),
    }
}

/// The table from the first agent that answered `masters list` and serves it.
async fn read(ctx: &Ctx, agent_rows: &[MasterRow]) -> Result<Option<MastersTable>, ApiError> {
    let answered = ctx
        .targets()
        .iter()
        .zip(agent_rows)
        .filter(|(_, row)| row.master.is_some())
        .map(|(target, _)| target)
        .take(TRIES);
    let mut last = None;
    for target in answered {
        match ctx.client(target).masters_table().await {
            Ok(table) => return Ok(Some(table)),
            Err(err) if not_available(&err) => return Ok(None),
            Err(err) => last = Some(err),
        }
    }
    last.map_or(Ok(None), Err)
}

/// The agent has no such endpoint (an older agent: a bare 404) or no Buildbot database it can
/// read the table of (no `[master] db_url`, or not PostgreSQL: 422): nothing to list, nothing to
/// warn about. A database that does not answer (502) is worth a warning.
fn not_available(err: &ApiError) -> bool {
    matches!(err, ApiError::Protocol { .. })
        || matches!(
            err.code(),
            Some(
                ErrorCode::NotFound
                    | ErrorCode::BadRequest
                    | ErrorCode::Conflict
                    | ErrorCode::OperationFailed
            )
        )
}

/// The unclaimed rows, by id.
pub fn classify(table: &MastersTable, agent_rows: &[MasterRow], all: bool) -> Vec<MasterRow> {
    let claimed = |id: i64, name: &str| {
        agent_rows
            .iter()
            .any(|r| r.masterid == Some(id) || r.buildbot_name.as_deref() == Some(name))
    };
    let mut masters: Vec<_> = table
        .masters
        .iter()
        .filter(|m| !claimed(m.id, &m.name))
        .collect();
    masters.sort_by_key(|m| m.id);
    let mut rows = Vec::new();
    for m in masters {
        let age = m.last_active.map(|t| table.db_now - t);
        let state = if m.hidden {
            if !all {
                continue;
            }
            RowState::Hidden
        } else if !m.active {
            RowState::StaleName
        } else if age.is_none_or(|a| a > table.expire_after_secs) {
            RowState::Silent
        } else {
            RowState::Running
        };
        rows.push(MasterRow {
            name: m.name.clone(),
            url: String::new(),
            state,
            standby: false,
            active: Some(m.active),
            config_label: None,
            config_sha256: None,
            buildbot_version: None,
            buildbot_executable: None,
            workers: None,
            builds: None,
            uptime_secs: None,
            masterid: Some(m.id),
            pid: None,
            buildbot_name: Some(m.name.clone()),
            routing: None,
            routing_reason: None,
            error: None,
            master: None,
            source: Some(RowSource::Buildbot),
            registry: None,
            masters_row: Some(m.clone()),
            last_active_age_secs: age,
        });
    }
    rows
}

#[cfg(test)]
#[path = "masters_unclaimed_tests.rs"]
mod tests;
