//! The fleet-store reads `masters list` makes, added to a [`FakeAgent`]: `GET /v1/fleet/agents`
//! (the registry), `GET /v1/fleet/store` and `GET /v1/buildbot-db/masters` (Buildbot's masters
//! table). Kept out of
//! fake_agent.rs's router (whose every route the contract test compares with the real agent):
//! an agent started with [`start`] serves them, others answer 404 as an older agent does.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bbctl_api::{FleetAgents, FleetStoreInfo, MasterState, MastersTable, RegisteredAgent};

use crate::fake_agent::{FakeAgent, rejected, router};

/// What the extra routes answer; `None` is a bare 404.
#[derive(Default)]
pub struct Store {
    pub agents: Option<FleetAgents>,
    pub store: Option<FleetStoreInfo>,
    pub masters: Option<MastersTable>,
    /// `GET /v1/fleet/agents` calls served.
    pub registry_reads: usize,
}

pub type Shared = Arc<Mutex<Store>>;

/// A fake agent that also serves `store`.
pub fn start(name: &str, masterid: i64, state: MasterState, store: Shared) -> FakeAgent {
    FakeAgent::start_with(name, masterid, state, move |s| {
        router(s).merge(
            Router::new()
                .route("/v1/fleet/agents", get(agents))
                .route("/v1/fleet/store", get(store_info))
                .route("/v1/buildbot-db/masters", get(masters))
                .with_state(store),
        )
    })
}

/// A registry row heard from `heartbeat_age` seconds before `db_now` (1000).
pub fn agent(name: &str, url: &str, heartbeat_age: f64, stopped: bool) -> RegisteredAgent {
    RegisteredAgent {
        name: name.into(),
        url: url.into(),
        standby: false,
        agent_version: "0.1.0".into(),
        api_version: "2".into(),
        buildbot_name: Some(format!("host:/srv/{name}")),
        host: "host".into(),
        started_at: 500.0,
        heartbeat_at: 1000.0 - heartbeat_age,
        stopped_at: stopped.then_some(990.0),
    }
}

pub fn registry(agents: Vec<RegisteredAgent>) -> FleetAgents {
    FleetAgents {
        fleet: "test".into(),
        db_now: 1000.0,
        silent_after_secs: 30.0,
        agents,
    }
}

async fn agents(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    let mut s = s.lock().unwrap();
    s.registry_reads += 1;
    match &s.agents {
        Some(a) => Json(a.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn store_info(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    match &s.lock().unwrap().store {
        Some(info) => Json(info.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn masters(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = rejected(&headers) {
        return r;
    }
    match &s.lock().unwrap().masters {
        Some(m) => Json(m.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
