//! Topology: `GET /v1/master`, `/v1/master/workers`, `/v1/master/builds`,
//! `/v1/master/buildrequests`, `/v1/fleet` — the [`Topology`] service. `GET /v1/master` also
//! says what the master runs, which the [`Configs`] service knows.

use axum::Json;
use axum::extract::State;
use bbctl_api::{BuildInfo, BuildRequestInfo, FleetView, MasterInfo, WorkerInfo};

use crate::configs::Configs;
use crate::error::AppResult;
use crate::topology::{Running, Topology};

pub async fn get(
    State(topology): State<Topology>,
    State(configs): State<Configs>,
) -> AppResult<Json<MasterInfo>> {
    let last = configs.last_activation().await?;
    let running = Running {
        config: configs.current_after(last.as_ref()).await?,
        executable: configs.code().after(last.as_ref()),
    };
    Ok(Json(topology.master_info(running).await))
}

pub async fn workers(State(topology): State<Topology>) -> AppResult<Json<Vec<WorkerInfo>>> {
    Ok(Json(topology.workers().await?))
}

pub async fn builds(State(topology): State<Topology>) -> AppResult<Json<Vec<BuildInfo>>> {
    Ok(Json(topology.builds().await?))
}

pub async fn buildrequests(
    State(topology): State<Topology>,
) -> AppResult<Json<Vec<BuildRequestInfo>>> {
    Ok(Json(topology.buildrequests().await?))
}

pub async fn fleet(State(topology): State<Topology>) -> AppResult<Json<FleetView>> {
    Ok(Json(topology.fleet().await?))
}
