//! `POST /v1/master/{create,start,stop,reconfig}`: the [`Lifecycle`] service; a start goes
//! through the [`Drains`] service, which puts a drained master back in rotation once it runs
//! (`crate::drain::routing`).

use axum::Json;
use axum::extract::State;
use bbctl_api::{OperationRequest, OperationResult, StartRequest, StopRequest};

use super::RequestedBy;
use crate::drain::Drains;
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
    State(drains): State<Drains>,
    by: RequestedBy,
    OptionalJson(req): OptionalJson<StartRequest>,
) -> AppResult<Json<OperationResult>> {
    let who = by.with_reason(req.reason);
    Ok(Json(
        drains.start_master(who, req.keep_out_of_rotation).await?,
    ))
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
