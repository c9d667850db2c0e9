//! The fleet-wide calls: where the agent keeps the fleet's control state, the agent registry,
//! Buildbot's `masters` table and its hygiene — and the [`Fence`] every mutating call carries
//! while this run holds the fleet lease.

use bbctl_api::{
    ExpireMasterRequest, ExpireMasterResult, FenceToken, FleetAgents, FleetStoreInfo, MastersTable,
    PruneMastersRequest, PruneMastersResult,
};

use super::{AgentClient, ApiError};

/// The fleet-lease epoch that every mutating call carries while this run holds the lease
/// ([`bbctl_api::LEASE_EPOCH_HEADER`]). One cell is shared by every client a command builds
/// ([`crate::ctx::Ctx::fence`]): set it when the lease is taken, and every later call of every
/// client is fenced.
#[derive(Debug, Clone, Default)]
pub struct Fence(std::sync::Arc<std::sync::RwLock<Option<FenceToken>>>);

impl Fence {
    pub fn set(&self, token: FenceToken) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(token);
    }

    pub fn clear(&self) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub fn get(&self) -> Option<FenceToken> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn header(&self) -> Option<reqwest::header::HeaderValue> {
        let token = self.get()?;
        reqwest::header::HeaderValue::from_str(&token.to_string()).ok()
    }
}

impl AgentClient {
    /// `GET /v1/fleet/store`: where this agent keeps the fleet's control state.
    pub async fn fleet_store(&self) -> Result<FleetStoreInfo, ApiError> {
        self.call(reqwest::Method::GET, "/v1/fleet/store", None::<&()>)
            .await
    }

    /// `GET /v1/fleet/agents`: the agent registry.
    pub async fn fleet_agents(&self) -> Result<FleetAgents, ApiError> {
        self.call(reqwest::Method::GET, "/v1/fleet/agents", None::<&()>)
            .await
    }

    /// `GET /v1/buildbot-db/masters`: Buildbot's `masters` rows and what references them.
    pub async fn masters_table(&self) -> Result<MastersTable, ApiError> {
        self.call(reqwest::Method::GET, "/v1/buildbot-db/masters", None::<&()>)
            .await
    }

    /// `POST /v1/buildbot-db/masters/expire`: a dead master's housekeeping, now.
    pub async fn expire_master(
        &self,
        req: &ExpireMasterRequest,
    ) -> Result<ExpireMasterResult, ApiError> {
        self.call(
            reqwest::Method::POST,
            "/v1/buildbot-db/masters/expire",
            Some(req),
        )
        .await
    }

    /// `POST /v1/buildbot-db/masters/prune`: hide rows nothing references.
    pub async fn prune_masters(
        &self,
        req: &PruneMastersRequest,
    ) -> Result<PruneMastersResult, ApiError> {
        self.call(
            reqwest::Method::POST,
            "/v1/buildbot-db/masters/prune",
            Some(req),
        )
        .await
    }
}
