//! The shared application state handed to every handler and background task.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::buildbot::{BuildbotApi, RestClient};
use crate::buildbot_db::BuildbotDb;
use crate::config::AgentConfig;
use crate::configs::Configs;
use crate::db::Db;
use crate::drain::Drains;
use crate::events::EventHub;
use crate::fleet_store::FleetStore;
use crate::fleet_store::fence::Fence;
use crate::lb::{LbStatus, LoadBalancerHook};
use crate::master::MasterRuntime;
use crate::master::lifecycle::Lifecycle;
use crate::metrics::Metrics;
use crate::topology::{ThisMaster, Topology};

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
    metrics: Arc<Metrics>,
    master: Arc<MasterRuntime>,
    drain: Drains,
    /// The load-balancer hook as readers see it (routing state, settings check).
    lb: LbStatus,
    topology: Topology,
    /// The domain services handlers call (`State<Lifecycle>` and so on, see `FromRef` below).
    lifecycle: Lifecycle,
    configs: Configs,
    /// The fleet store (lease, journals, registry, hidden masters) and the fence over it.
    fleet_store: FleetStore,
    fence: Fence,
    buildbot_db: BuildbotDb,
}

impl AppState {
    /// State talking to the real Buildbot REST API at `config.master.rest_url`.
    pub fn new(config: AgentConfig, db: Db) -> Self {
        let rest = Arc::new(RestClient::new(
            &config.master.rest_url,
            config.master.rest_auth.clone(),
        ));
        Self::with_rest(config, db, rest)
    }

    /// State with a given REST implementation (tests substitute a fake).
    pub fn with_rest(config: AgentConfig, db: Db, rest: Arc<dyn BuildbotApi>) -> Self {
        let hub = EventHub::new(config.name.clone());
        let master = Arc::new(MasterRuntime::default());
        let lifecycle = Lifecycle::new(
            &config,
            db.clone(),
            hub.clone(),
            rest.clone(),
            master.clone(),
        );
        let configs = Configs::new(&config, db.clone(), hub.clone(), master.clone());
        let fleet_store = FleetStore::new(&config).with_audit(db.clone());
        let fence = Fence::new(db.clone(), fleet_store.clone());
        let buildbot_db = BuildbotDb::new(
            &config,
            db.clone(),
            hub.clone(),
            configs.clone(),
            master.clone(),
        );
        let this = ThisMaster {
            agent: config.name.clone(),
            basedir: config.master.basedir.clone(),
            rest_url: config.master.rest_url.clone(),
        };
        let drain = Drains::new(
            this.clone(),
            db.clone(),
            hub.clone(),
            rest.clone(),
            master.clone(),
            lifecycle.clone(),
        );
        let lb = LbStatus::default();
        let events = hub.clone();
        let topology = Topology::new(
            this,
            rest.clone(),
            master.clone(),
            Arc::new(drain.clone()),
            lb.clone(),
            Arc::new(move || events.last_seq()),
        );
        AppState {
            inner: Arc::new(Inner {
                config,
                db,
                hub,
                rest,
                metrics: Arc::default(),
                master,
                drain,
                lb,
                topology,
                lifecycle,
                configs,
                fleet_store,
                fence,
                buildbot_db,
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

    /// The Buildbot REST client, for a task or service that keeps it.
    pub fn rest_handle(&self) -> Arc<dyn BuildbotApi> {
        self.inner.rest.clone()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn master(&self) -> &MasterRuntime {
        &self.inner.master
    }

    /// The master's runtime state, for a task that keeps it (the registry heartbeat).
    pub fn master_handle(&self) -> Arc<MasterRuntime> {
        self.inner.master.clone()
    }

    /// The fleet store (`[fleet]`): lease, journals, registry, hidden masters.
    pub fn fleet_store(&self) -> &FleetStore {
        &self.inner.fleet_store
    }

    /// The drain service (load-balancer hook, current drain, its task).
    pub fn drain(&self) -> &Drains {
        &self.inner.drain
    }

    /// The load-balancer hook as readers see it (`/readyz`, `GET /v1/master`, `GET /v1/routing`).
    pub fn lb(&self) -> &LbStatus {
        &self.inner.lb
    }

    /// Sets the load-balancer hook, once, for the drain service and the readers.
    pub fn set_lb(&self, hook: Arc<dyn LoadBalancerHook>) {
        self.inner.drain.set_lb(hook.clone());
        self.inner.lb.set(hook);
    }
}

/// The HTTP metrics middleware takes the registry alone.
impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.inner.metrics.clone()
    }
}

impl FromRef<AppState> for Lifecycle {
    fn from_ref(state: &AppState) -> Self {
        state.inner.lifecycle.clone()
    }
}

impl FromRef<AppState> for Configs {
    fn from_ref(state: &AppState) -> Self {
        state.inner.configs.clone()
    }
}

impl FromRef<AppState> for Drains {
    fn from_ref(state: &AppState) -> Self {
        state.inner.drain.clone()
    }
}

impl FromRef<AppState> for LbStatus {
    fn from_ref(state: &AppState) -> Self {
        state.inner.lb.clone()
    }
}

impl FromRef<AppState> for Topology {
    fn from_ref(state: &AppState) -> Self {
        state.inner.topology.clone()
    }
}

impl FromRef<AppState> for FleetStore {
    fn from_ref(state: &AppState) -> Self {
        state.inner.fleet_store.clone()
    }
}

impl FromRef<AppState> for Fence {
    fn from_ref(state: &AppState) -> Self {
        state.inner.fence.clone()
    }
}

impl FromRef<AppState> for BuildbotDb {
    fn from_ref(state: &AppState) -> Self {
        state.inner.buildbot_db.clone()
    }
}
