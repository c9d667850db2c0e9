//! `GET /v1/version`.

use axum::Json;
use axum::extract::State;
use bbctl_api::{API_VERSION, VersionInfo};

use crate::state::AppState;

pub async fn get(State(state): State<AppState>) -> Json<VersionInfo> {
    Json(VersionInfo {
        api_version: API_VERSION.to_owned(),
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        agent_name: state.config().name.clone(),
    })
}
