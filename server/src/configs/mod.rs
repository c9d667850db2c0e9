//! Configuration versions: staging uploaded bundles (kept under `<state_dir>/configs/<sha256>/`
//! for rollback), `checkconfig` in a scratch basedir, activation into the master's basedir, and
//! which version the basedir holds now.

pub mod active;
pub mod bundle;
pub mod check;
pub mod store;

/// The label of a configuration found in the basedir that the agent never staged.
pub const UNMANAGED: &str = "unmanaged";
