//! Topology: this master (process, Buildbot identity, config, workers, builds, claimed
//! requests) and the fleet as it sees it through the shared DB.
//!
//! A REST failure does not fail `GET /v1/master`: the process part is still true, and the
//! failure is listed in `problems`. The narrower endpoints (workers, builds, …) answer 502.

pub mod convert;
pub mod orphans;
pub mod snapshot;

use bbctl_api::{
    BuildInfo, BuildRequestInfo, FleetView, MasterInfo, MasterState, ProcessInfo, WorkerInfo,
};

use crate::buildbot::Master;
use crate::configs;
use crate::error::{AppError, AppResult};
use crate::master::{identity, process};
use crate::state::AppState;
pub use snapshot::Snapshot;

/// The process part, from `twistd.pid` and `/proc`.
pub fn process_info(state: &AppState) -> ProcessInfo {
    match process::running_pid(&state.config().master.basedir) {
        Some(pid) => ProcessInfo {
            running: true,
            pid: Some(pid),
            uptime_secs: process::uptime_secs(pid),
        },
        None => ProcessInfo {
            running: false,
            pid: None,
            uptime_secs: None,
        },
    }
}

/// The agent's view of the master's state from the process and its Buildbot row.
pub fn master_state(state: &AppState, running: bool, row: Option<&Master>) -> MasterState {
    if let Some(phase) = state.master().phase() {
        return phase;
    }
    if let Some(d) = state.drain().snapshot() {
        if crate::drain::model::holds_master(d.phase) && running {
            return MasterState::Draining;
        }
        if d.phase == bbctl_api::DrainPhase::Drained && !running {
            return MasterState::Drained;
        }
    }
    match (running, row) {
        (false, _) => MasterState::Stopped,
        (true, Some(m)) if m.active => MasterState::Running,
        (true, _) => MasterState::Unhealthy,
    }
}

pub async fn master_info(state: &AppState) -> AppResult<MasterInfo> {
    let cfg = state.config();
    let proc = process_info(state);
    let mut problems = Vec::new();
    let snap = match Snapshot::fetch(state.rest()).await {
        Ok(s) => Some(s),
        Err(e) => {
            if proc.running {
                problems.push(e.to_string());
            }
            None
        }
    };
    let row = snap
        .as_ref()
        .and_then(|s| identity::find(&s.masters, &cfg.master.basedir, &state.master().identity))
        .cloned();
    if proc.running && crate::master::mq::lost_mq(&cfg.master.basedir) {
        problems.insert(0, crate::master::mq::LOST_MQ.to_owned());
    }
    if proc.running && snap.is_some() && row.is_none() {
        problems.push("the master is not (yet) listed in /api/v2/masters".into());
    }
    if proc.running && row.as_ref().is_some_and(|m| !m.active) {
        problems.push("the master process runs but Buildbot shows it inactive".into());
    }
    let (workers, builds, claimed) = match (&snap, &row) {
        (Some(s), Some(m)) => (
            convert::workers_of(s, m.masterid),
            convert::builds_of(s, m.masterid),
            convert::requests_of(s, m.masterid),
        ),
        _ => (Vec::new(), Vec::new(), Vec::new()),
    };
    if let Some(s) = &snap {
        let drain = state.drain().snapshot();
        let routing = if orphans::needs_routing(drain.as_ref()) {
            state.drain().lb().routing_state().await.ok()
        } else {
            None
        };
        problems.extend(orphans::problems(
            &cfg.name,
            drain.as_ref(),
            &s.workers,
            routing,
        ));
    }
    let last = configs::active::last_activation(state).await?;
    let config = configs::active::current_after(state, last.as_ref()).await?;
    let buildbot = crate::master::code::executable_after(state, last.as_ref());
    Ok(MasterInfo {
        agent_name: cfg.name.clone(),
        state: master_state(state, proc.running, row.as_ref()),
        buildbot_name: row.as_ref().map(|m| m.name.clone()),
        masterid: row.as_ref().map(|m| m.masterid),
        active: row.as_ref().map(|m| m.active),
        last_active: row.as_ref().and_then(|m| m.last_active),
        basedir: cfg.master.basedir.display().to_string(),
        rest_url: cfg.master.rest_url.clone(),
        process: proc,
        buildbot_version: state.master().versions.get(&buildbot).await,
        buildbot_db_head: state.master().schemas.get(&buildbot).await,
        buildbot_executable: Some(buildbot.display().to_string()),
        config,
        workers,
        builds,
        claimed_requests: claimed,
        drain: state.drain().snapshot(),
        problems,
    })
}

/// The snapshot and this master's id, or 502/409 when either is unavailable.
async fn snapshot_with_id(state: &AppState) -> AppResult<(Snapshot, i64)> {
    let snap = Snapshot::fetch(state.rest()).await?;
    let id = identity::find(
        &snap.masters,
        &state.config().master.basedir,
        &state.master().identity,
    )
    .map(|m| m.masterid)
    .ok_or_else(|| {
        AppError::conflict("this master is not (yet) known to Buildbot; start it first")
    })?;
    Ok((snap, id))
}

pub async fn workers(state: &AppState) -> AppResult<Vec<WorkerInfo>> {
    let (snap, id) = snapshot_with_id(state).await?;
    Ok(convert::workers_of(&snap, id))
}

pub async fn builds(state: &AppState) -> AppResult<Vec<BuildInfo>> {
    let (snap, id) = snapshot_with_id(state).await?;
    Ok(convert::builds_of(&snap, id))
}

pub async fn buildrequests(state: &AppState) -> AppResult<Vec<BuildRequestInfo>> {
    let (snap, id) = snapshot_with_id(state).await?;
    Ok(convert::requests_of(&snap, id))
}

pub async fn fleet(state: &AppState) -> AppResult<FleetView> {
    let snap = Snapshot::fetch(state.rest()).await?;
    Ok(FleetView {
        masters: snap.masters.iter().map(convert::master).collect(),
        workers: snap
            .workers
            .iter()
            .map(|w| convert::worker(w, &snap))
            .collect(),
        builds: snap
            .builds
            .iter()
            .map(|b| convert::build(b, &snap))
            .collect(),
        unclaimed_requests: snap.requests.iter().filter(|r| !r.claimed).count() as i64,
    })
}
