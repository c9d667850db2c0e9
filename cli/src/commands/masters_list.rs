//! `bbctl masters list`: one row per master of the inventory and the fleet registry, from every
//! agent at once, then the rows of Buildbot's `masters` table no agent claims
//! ([`super::masters_unclaimed`]).

use bbctl_api::{MasterInfo, MasterState};

use super::masters_unclaimed;
use crate::cli::MastersListArgs;
use crate::client::ApiError;
use crate::ctx::Ctx;
use crate::exit::Exit;
use crate::inventory::{Target, TargetSource};
use crate::report::{MasterRow, Outcome, RegistryRow, Report, RowSource, RowState};

pub async fn run(args: &MastersListArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let answers = ctx.masters().await;
    let mut outcome = Outcome::ok(Report::Streamed);
    let mut rows = Vec::with_capacity(answers.len());
    for (target, answer) in answers {
        if let Err(err) = &answer {
            note_failure(&mut outcome, err);
        }
        rows.push(row(&target, answer));
    }
    let (extra, warning) = masters_unclaimed::rows(ctx, &rows, args.all).await;
    outcome.warnings.extend(warning);
    rows.extend(extra);
    outcome.report = Report::Masters(rows);
    Ok(outcome)
}

/// Records an agent that did not answer: unreachable → partial (3), error → failed (1).
pub fn note_failure(outcome: &mut Outcome, err: &ApiError) {
    let (level, exit) = if err.is_unreachable() {
        ("warning", Exit::Partial)
    } else {
        ("error", Exit::from(err).worst(Exit::Failed))
    };
    outcome.exit = outcome.exit.worst(exit);
    outcome.warnings.push(format!("{level}: {err}"));
}

/// The row of one agent's answer.
pub fn row(target: &Target, answer: Result<MasterInfo, ApiError>) -> MasterRow {
    let mut row = MasterRow {
        name: target.name.clone(),
        url: target.url.to_string(),
        state: RowState::Unreachable,
        standby: target.standby,
        active: None,
        config_label: None,
        config_sha256: None,
        buildbot_version: None,
        buildbot_executable: None,
        workers: None,
        builds: None,
        uptime_secs: None,
        masterid: None,
        pid: None,
        // Known from the registry even when the agent does not answer (so its Buildbot row is
        // claimed, not listed again as unclaimed).
        buildbot_name: target
            .registration
            .as_ref()
            .and_then(|r| r.buildbot_name.clone()),
        routing: None,
        routing_reason: None,
        error: None,
        master: None,
        source: Some(match target.source {
            TargetSource::Inventory => RowSource::Inventory,
            TargetSource::Registry => RowSource::Registry,
            TargetSource::Both => RowSource::Both,
        }),
        registry: target.registration.as_ref().map(|r| RegistryRow {
            url: r.url.clone(),
            heartbeat_age_secs: r.heartbeat_age_secs,
            silent: r.silent,
            stopped: r.stopped,
        }),
        masters_row: None,
        last_active_age_secs: None,
    };
    let info = match answer {
        Ok(info) => info,
        Err(err) => {
            row.state = if err.is_unreachable() {
                RowState::Unreachable
            } else {
                RowState::Error
            };
            row.error = Some(err.reason());
            return row;
        }
    };
    if target.name == target.url.as_str().trim_end_matches('/') {
        // An `--agent` target: the agent knows its own name.
        row.name = info.agent_name.clone();
    }
    row.state = state(info.state, target.standby, info.process.running);
    row.active = info.active;
    row.config_label = info.config.as_ref().map(|c| c.label.clone());
    row.config_sha256 = info.config.as_ref().map(|c| c.sha256.clone());
    row.buildbot_version = info.buildbot_version.clone();
    row.buildbot_executable = info.buildbot_executable.clone();
    row.workers = Some(info.workers.len());
    row.builds = Some(info.builds.len());
    row.uptime_secs = info.process.uptime_secs;
    row.masterid = info.masterid;
    row.pid = info.process.pid;
    row.buildbot_name = info.buildbot_name.clone().or(row.buildbot_name);
    row.routing = info.routing;
    row.routing_reason = info.routing_reason.clone();
    row.master = Some(info);
    row
}

fn state(state: MasterState, standby: bool, running: bool) -> RowState {
    if standby && !running && matches!(state, MasterState::Stopped | MasterState::Drained) {
        return RowState::Standby;
    }
    match state {
        MasterState::Stopped => RowState::Stopped,
        MasterState::Starting => RowState::Starting,
        MasterState::Running => RowState::Running,
        MasterState::Draining => RowState::Draining,
        MasterState::Cordoned => RowState::Cordoned,
        MasterState::Drained => RowState::Drained,
        MasterState::Stopping => RowState::Stopping,
        MasterState::Unhealthy => RowState::Unhealthy,
    }
}

#[cfg(test)]
mod tests {
    use super::state;
    use crate::report::RowState;
    use bbctl_api::MasterState;

    #[test]
    fn standby_shows_only_while_not_running() {
        assert_eq!(state(MasterState::Stopped, true, false), RowState::Standby);
        assert_eq!(state(MasterState::Running, true, true), RowState::Running);
        assert_eq!(state(MasterState::Stopped, false, false), RowState::Stopped);
    }
}
