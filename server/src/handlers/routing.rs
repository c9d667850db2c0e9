//! `GET /v1/routing` and `POST /v1/routing/resume`: whether the load balancer routes new worker
//! connections to this master, and putting it back in rotation. A drain leaves a drained master
//! out of rotation on purpose (docs/drain.md); when the slot's master is started again — the
//! rolling upgrade's "switch config, start, gate", or a rollback restarting an old master —
//! something must route workers to it again. This is that call. It refuses while a drain holds
//! the master (cancel the drain instead) or while no master runs here (it would route workers
//! to a closed port).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::actor;
use crate::db::audit;
use crate::error::{AppError, AppResult};
use crate::lb::LbError;
use crate::master::process;
use crate::state::AppState;

pub async fn get(State(state): State<AppState>) -> AppResult<Json<Value>> {
    let lb = state.drain().lb();
    let routing = lb.routing_state().await.map_err(lb_error)?;
    Ok(Json(json!({"hook": lb.kind(), "routing": routing})))
}

pub async fn resume(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Json<Value>> {
    if state.drain().holds_master() {
        return Err(AppError::conflict(
            "a drain holds this master out of service: cancel it (DELETE /v1/drain) instead",
        ));
    }
    if process::running_pid(&state.config().master.basedir).is_none() {
        return Err(AppError::conflict(
            "the master is not running: start it before routing workers to it",
        ));
    }
    let lb = state.drain().lb();
    let before = lb.routing_state().await.map_err(lb_error)?;
    lb.resume_routing().await.map_err(lb_error)?;
    let after = lb.routing_state().await.map_err(lb_error)?;
    let who = actor(&headers);
    let note = format!(
        "load balancer ({}): routing {before:?} -> {after:?}",
        lb.kind()
    );
    state
        .db()
        .run(move |c| audit::append(c, who.as_deref(), "routing_resume", &note))
        .await?;
    Ok(Json(
        json!({"hook": lb.kind(), "before": before, "routing": after}),
    ))
}

fn lb_error(err: LbError) -> AppError {
    match err {
        LbError::NotConfigured => AppError::conflict(err.to_string()),
        other => AppError::upstream(other.to_string()),
    }
}
