//! `GET /v1/fleet/store` (where this agent keeps the fleet's control state, and whether it
//! answers) and `GET /v1/fleet/agents` (the agent registry), from the [`FleetStore`].

use axum::Json;
use axum::extract::State;
use bbctl_api::{FleetAgents, FleetStoreInfo};

use crate::error::AppResult;
use crate::fleet_store::FleetStore;

pub async fn store(State(store): State<FleetStore>) -> Json<FleetStoreInfo> {
    Json(store.info().await)
}

pub async fn agents(State(store): State<FleetStore>) -> AppResult<Json<FleetAgents>> {
    Ok(Json(store.agents().await?))
}
