//! The shared application state handed to every handler and background task.

use std::sync::Arc;

use crate::buildbot::{BuildbotApi, RestClient};
use crate::config::AgentConfig;
use crate::db::Db;
use crate::drain::DrainRuntime;
use crate::events::EventHub;
use crate::master::MasterRuntime;
use crate::metrics::Metrics;

/// Cheap to clone: everything lives behind one `Arc`.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: AgentConfig,
    db: Db,
    hub: EventHub,
    rest: Arc<dyn BuildbotApi>,
    metrics: Metrics,
    master: MasterRuntime,
    drain: DrainRuntime,
}

impl AppState {
    /// State talking to the real Buildbot REST API at `config.master.rest_url`.
    pub fn new(config: AgentConfig, db: Db) -> Self {
        let rest = Arc::new(RestClient::new(&config.master.rest_url));
        Self::with_rest(config, db, rest)
    }

    /// State with a given REST implementation (tests substitute a fake).
    pub fn with_rest(config: AgentConfig, db: Db, rest: Arc<dyn BuildbotApi>) -> Self {
        let hub = EventHub::new(config.name.clone());
        AppState {
            inner: Arc::new(Inner {
                config,
                db,
                hub,
                rest,
                metrics: Metrics::default(),
                master: MasterRuntime::default(),
                drain: DrainRuntime::default(),
            }),
        }
    }

    pub fn config(&self) -> &AgentConfig {
        &self.inner.config
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    pub fn hub(&self) -> &EventHub {
        &self.inner.hub
    }

    pub fn rest(&self) -> &dyn BuildbotApi {
        self.inner.rest.as_ref()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn master(&self) -> &MasterRuntime {
        &self.inner.master
    }

    /// The drain's runtime side (load-balancer hook, current drain, its task).
    pub fn drain(&self) -> &DrainRuntime {
        &self.inner.drain
    }
}
