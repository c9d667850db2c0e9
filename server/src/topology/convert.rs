//! Buildbot REST rows → `bbctl-api` wire types.

use std::collections::HashMap;

use bbctl_api::{AnalysisBuild, BuildInfo, BuildRequestInfo, FleetMaster, WorkerInfo};

use crate::buildbot::Snapshot;
use crate::buildbot::{Build, BuildRequest, Master, Worker};

pub fn worker(w: &Worker, snap: &Snapshot) -> WorkerInfo {
    WorkerInfo {
        workerid: w.workerid,
        name: w.name.clone(),
        connected_to: w.connected_to.iter().map(|m| m.masterid).collect(),
        paused: w.paused,
        pause_reason: w.pause_reason.clone(),
        builds: snap
            .builds
            .iter()
            .filter(|b| b.workerid == Some(w.workerid))
            .map(|b| b.buildid)
            .collect(),
    }
}

pub fn build(b: &Build, snap: &Snapshot) -> BuildInfo {
    BuildInfo {
        buildid: b.buildid,
        builderid: b.builderid,
        builder_name: snap.builder_names.get(&b.builderid).cloned(),
        number: b.number,
        workerid: b.workerid,
        worker_name: b.workerid.and_then(|id| {
            snap.workers
                .iter()
                .find(|w| w.workerid == id)
                .map(|w| w.name.clone())
        }),
        masterid: b.masterid,
        started_at: b.started_at,
        complete: b.complete,
        state_string: b.state_string.clone(),
        results: b.results,
    }
}

/// A build as `GET /v1/master/analysis` lists it; `names` are the builders' names by id.
pub fn analysis_build(b: &Build, names: &HashMap<i64, String>) -> AnalysisBuild {
    AnalysisBuild {
        buildid: b.buildid,
        builderid: b.builderid,
        builder: names.get(&b.builderid).cloned(),
        number: b.number,
        results: b.results,
        complete: b.complete,
        started_at: b.started_at,
        // Buildbot's whole seconds, read as a float.
        complete_at: b.complete_at.map(|t| t.floor() as i64),
    }
}

pub fn request(r: &BuildRequest) -> BuildRequestInfo {
    BuildRequestInfo {
        buildrequestid: r.buildrequestid,
        builderid: r.builderid,
        claimed: r.claimed,
        claimed_by_masterid: r.claimed_by_masterid,
        submitted_at: r.submitted_at,
    }
}

pub fn master(m: &Master) -> FleetMaster {
    FleetMaster {
        masterid: m.masterid,
        name: m.name.clone(),
        active: m.active,
        last_active: m.last_active,
    }
}

/// Workers connected to `masterid`.
pub fn workers_of(snap: &Snapshot, masterid: i64) -> Vec<WorkerInfo> {
    snap.workers
        .iter()
        .filter(|w| w.connected_to.iter().any(|m| m.masterid == masterid))
        .map(|w| worker(w, snap))
        .collect()
}

/// Builds running on `masterid`.
pub fn builds_of(snap: &Snapshot, masterid: i64) -> Vec<BuildInfo> {
    snap.builds
        .iter()
        .filter(|b| b.masterid == Some(masterid))
        .map(|b| build(b, snap))
        .collect()
}

/// Incomplete requests claimed by `masterid`.
pub fn requests_of(snap: &Snapshot, masterid: i64) -> Vec<BuildRequestInfo> {
    snap.requests
        .iter()
        .filter(|r| r.claimed && r.claimed_by_masterid == Some(masterid))
        .map(request)
        .collect()
}
