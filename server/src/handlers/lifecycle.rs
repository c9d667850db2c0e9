//! `POST /v1/master/{create,start,stop,reconfig}`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use bbctl_api::{OperationRequest, OperationResult, StopRequest};

use super::requester;
use crate::error::AppResult;
use crate::extract::OptionalJson;
use crate::master::lifecycle;
use crate::state::AppState;

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalJson(req): OptionalJson<OperationRequest>,
) -> AppResult<Json<OperationResult>> {
    Ok(Json(
        lifecycle::create(&state, requester(&headers, req.reason)).await?,
    ))
}

pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalJson(req): OptionalJson<OperationRequest>,
) -> AppResult<Json<OperationResult>> {
    Ok(Json(
        lifecycle::start(&state, requester(&headers, req.reason)).await?,
    ))
}

pub async fn stop(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalJson(req): OptionalJson<StopRequest>,
) -> AppResult<Json<OperationResult>> {
    Ok(Json(
        lifecycle::stop(&state, req.mode, requester(&headers, req.reason)).await?,
    ))
}

pub async fn reconfig(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalJson(req): OptionalJson<OperationRequest>,
) -> AppResult<Json<OperationResult>> {
    Ok(Json(
        lifecycle::reconfig(&state, requester(&headers, req.reason)).await?,
    ))
}
