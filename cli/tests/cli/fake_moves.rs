//! The fake agent's `POST /v1/workers/{name}/move`, answering like the real one
//! (`server/src/drain/moves.rs`): the same checks in the same order, the same messages. A moved
//! worker lands on the agent of `lands_on` with the fewest workers (a load balancer's
//! leastconn).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bbctl_api::*;

use super::{Shared, body, error, rejected};

pub async fn move_worker(
    State(s): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let req: MoveRequest = match body(&bytes) {
        Ok(req) => req,
        Err(r) => return *r,
    };
    if req
        .timeout_secs
        .is_some_and(|t| !(t.is_finite() && (1.0..=600.0).contains(&t)))
    {
        return error(
            ErrorCode::BadRequest,
            "timeout_secs must be a number from 1 to 600",
        );
    }
    let mut s = s.lock().unwrap();
    if s.drain.as_ref().is_some_and(|d| d.phase.holds_master()) {
        return error(
            ErrorCode::Conflict,
            "a drain or cordon holds this master: it hands its workers off itself (`bbctl drain \
             status`)",
        );
    }
    if !s.master.process.running {
        return error(ErrorCode::Conflict, "the master is not running");
    }
    s.move_requests.push((name.clone(), req));
    let from = s.master.buildbot_name.clone().unwrap_or_default();
    let Some(at) = s.master.workers.iter().position(|w| w.name == name) else {
        let known = s.fleet.workers.iter().any(|w| w.name == name)
            || s.lands_on.iter().any(|o| {
                o.lock()
                    .unwrap()
                    .master
                    .workers
                    .iter()
                    .any(|w| w.name == name)
            });
        return if known {
            error(
                ErrorCode::Conflict,
                &format!("worker `{name}` is not attached to this master"),
            )
        } else {
            error(
                ErrorCode::NotFound,
                &format!("Buildbot knows no worker `{name}`"),
            )
        };
    };
    let w = &s.master.workers[at];
    let skipped = |outcome: MoveOutcome, why: &str| MoveResult {
        worker: name.clone(),
        outcome,
        from_master: from.clone(),
        to_master: None,
        closed_at: None,
        attached_elsewhere_at: None,
        seconds: 0.0,
        message: format!("worker {name} not moved: {why}"),
    };
    if !w.builds.is_empty() {
        let r = skipped(
            MoveOutcome::Busy,
            "it runs a build here (or one is being started here); a busy worker is never \
             interrupted",
        );
        return Json(r).into_response();
    }
    if w.paused {
        let r = skipped(
            MoveOutcome::Paused,
            "it is paused (by an operator) and does no work",
        );
        return Json(r).into_response();
    }
    let Some(dest) = s
        .lands_on
        .iter()
        .min_by_key(|o| o.lock().unwrap().master.workers.len())
        .cloned()
    else {
        let r = MoveResult {
            outcome: MoveOutcome::NotSeenElsewhere,
            closed_at: Some(1_700_000_000.0),
            seconds: 30.0,
            message: format!(
                "worker {name}'s connection was closed but it was not seen on another active master within 30 s"
            ),
            ..skipped(MoveOutcome::NotSeenElsewhere, "")
        };
        return Json(r).into_response();
    };
    let mut w = s.master.workers.remove(at);
    let mut d = dest.lock().unwrap();
    let to = d.master.buildbot_name.clone().unwrap_or_default();
    w.connected_to = d.master.masterid.into_iter().collect();
    d.master.workers.push(w);
    let r = MoveResult {
        worker: name.clone(),
        outcome: MoveOutcome::Moved,
        from_master: from.clone(),
        to_master: Some(to.clone()),
        closed_at: Some(1_700_000_000.0),
        attached_elsewhere_at: Some(1_700_000_001.2),
        seconds: 1.2,
        message: format!("worker {name} moved from {from} to {to} in 1.2 s"),
    };
    Json(r).into_response()
}
