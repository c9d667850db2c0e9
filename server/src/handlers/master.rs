//! Topology: `GET /v1/master`, `/v1/master/workers`, `/v1/master/builds`,
//! `/v1/master/buildrequests`, `/v1/fleet`.

use axum::Json;
use axum::extract::State;
use bbctl_api::{BuildInfo, BuildRequestInfo, FleetView, MasterInfo, WorkerInfo};

use crate::error::AppResult;
use crate::state::AppState;
use crate::topology;

pub async fn get(State(state): State<AppState>) -> AppResult<Json<MasterInfo>> {
    Ok(Json(topology::master_info(&state).await?))
}

pub async fn workers(State(state): State<AppState>) -> AppResult<Json<Vec<WorkerInfo>>> {
    Ok(Json(topology::workers(&state).await?))
}

pub async fn builds(State(state): State<AppState>) -> AppResult<Json<Vec<BuildInfo>>> {
    Ok(Json(topology::builds(&state).await?))
}

pub async fn buildrequests(
    State(state): State<AppState>,
) -> AppResult<Json<Vec<BuildRequestInfo>>> {
    Ok(Json(topology::buildrequests(&state).await?))
}

pub async fn fleet(State(state): State<AppState>) -> AppResult<Json<FleetView>> {
    Ok(Json(topology::fleet(&state).await?))
}
