//! Configuration versions: staging uploaded bundles (kept under `<state_dir>/configs/<sha256>/`
//! for rollback), `checkconfig` in a scratch basedir, activation into the master's basedir, and
//! which version the basedir holds now — all behind the [`Configs`] service, which answers with
//! wire types or a [`ConfigsError`].
//!
//! Layout: `bundle` (what an upload is), `store` (bundles on disk and their rows), and one file
//! per use of the service: `versions` (stage, list, get), `check` (checkconfig), `active`
//! (what the basedir holds, activation), `scratch` (a staged version written out for
//! checkconfig or upgrade-master). Those four add methods to [`Configs`]; none of the
//! modules imports another's service methods, so they form no cycle.

pub mod active;
pub mod bundle;
pub mod check;
pub mod error;
pub mod scratch;
pub mod store;
pub mod versions;

use std::path::PathBuf;
use std::sync::Arc;

pub use bundle::UNMANAGED;
pub use error::ConfigsError;

use crate::config::AgentConfig;
use crate::db::Db;
use crate::events::EventHub;
use crate::master::MasterRuntime;
use crate::master::code::Code;
use crate::master::operation::Operations;
use crate::master::vars::VarsFile;

/// The configuration versions of the master this agent owns. Cheap to clone.
#[derive(Clone)]
pub struct Configs {
    store: store::Store,
    db: Db,
    /// The master's basedir, where activation writes.
    basedir: PathBuf,
    /// `<state_dir>`: `backups/`, `checkconfig/` and `tmp/` live under it.
    state_dir: PathBuf,
    vars: VarsFile,
    code: Code,
    ops: Operations,
    hub: EventHub,
    /// The version and schema caches of each Buildbot executable.
    runtime: Arc<MasterRuntime>,
}

impl Configs {
    /// The service for the agent of `config`; `runtime` holds the operation lock shared with
    /// the lifecycle operations, and the caches.
    pub fn new(config: &AgentConfig, db: Db, hub: EventHub, runtime: Arc<MasterRuntime>) -> Self {
        Configs {
            store: store::Store::new(config.configs_dir(), db.clone()),
            basedir: config.master.basedir.clone(),
            state_dir: config.state_dir.clone(),
            vars: VarsFile::new(config),
            code: Code::new(config.master.buildbot.clone(), db.clone(), runtime.clone()),
            ops: Operations::new(db.clone(), hub.clone(), runtime.op_lock.clone()),
            db,
            hub,
            runtime,
        }
    }

    /// Which Buildbot each version, and the master, runs.
    pub fn code(&self) -> &Code {
        &self.code
    }
}
