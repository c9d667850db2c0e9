//! The master this agent owns: its process, its log, its lifecycle operations (the
//! [`lifecycle::Lifecycle`] service), whether it is ready for work (`readiness`), what the agent
//! remembers about it between requests ([`MasterRuntime`]: transient phase, Buildbot master id,
//! versions) and which Buildbot executable it runs (`code`).

pub mod code;
pub mod identity;
pub mod lifecycle;
pub mod log_signals;
pub mod logs;
pub mod mq;
pub mod operation;
pub mod per_exe;
pub mod process;
pub mod readiness;
pub mod schema;
pub mod vars;
pub mod version;

use std::sync::{Arc, Mutex};

use bbctl_api::MasterState;

/// In-memory runtime state of the master; the durable part is in the state DB.
#[derive(Default)]
pub struct MasterRuntime {
    /// Held for the whole of a lifecycle operation (`operation::Operations`): one at a time.
    pub op_lock: Arc<tokio::sync::Mutex<()>>,
    /// `Starting` / `Stopping` while such an operation runs.
    phase: Mutex<Option<MasterState>>,
    /// This master's id and name in Buildbot, once found in `/api/v2/masters`.
    pub identity: identity::IdentityCache,
    pub versions: version::VersionCache,
    /// The DB schema head of each Buildbot executable asked about.
    pub schemas: schema::SchemaCache,
}

impl MasterRuntime {
    pub fn phase(&self) -> Option<MasterState> {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_phase(&self, phase: Option<MasterState>) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = phase;
    }
}
