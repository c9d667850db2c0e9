//! `POST /v1/master/{create,start,stop,reconfig}`: the [`Lifecycle`] service.

use axum::Json;
use axum::extract::State;
use bbctl_api::{OperationRequest, OperationResult, StopRequest};

use super::RequestedBy;
use crate::error::AppResult;
use crate::extract::OptionalJson;
use crate::master::lifecycle::Lifecycle;

pub async fn create(
    State(lifecycle): State<Lifecycle>,
    by: RequestedBy,
    OptionalJson(req): OptionalJson<OperationRequest>,
) -> AppResult<Json<OperationResult>> {
    Ok(Json(lifecycle.create(by.with_reason(req.reason)).await?))
}

pub async fn start(
    State(lifecycle): State<Lifecycle>,
    by: RequestedBy,
    OptionalJson(req): OptionalJson<OperationRequest>,
) -> AppResult<Json<OperationResult>> {
    Ok(Json(lifecycle.start(by.with_reason(req.reason)).await?))
}

pub async fn stop(
    State(lifecycle): State<Lifecycle>,
    by: RequestedBy,
    OptionalJson(req): OptionalJson<StopRequest>,
) -> AppResult<Json<OperationResult>> {
    Ok(Json(
        lifecycle.stop(req.mode, by.with_reason(req.reason)).await?,
    ))
}

pub async fn reconfig(
    State(lifecycle): State<Lifecycle>,
    by: RequestedBy,
    OptionalJson(req): OptionalJson<OperationRequest>,
) -> AppResult<Json<OperationResult>> {
    Ok(Json(lifecycle.reconfig(by.with_reason(req.reason)).await?))
}
