//! `upgrade status [ID]` and `upgrade history`: the journals kept in the fleet store, read
//! through any agent that reaches it, returned as data (`output/upgrade.rs` renders them; `-o
//! json` prints the journal documents).

use super::coordinator::Coordinator;
use super::error::UpgradeError;
use super::journal::{self, Store};
use crate::ctx::Ctx;
use crate::report::{Outcome, Report};

/// The journal `id` (default: the newest).
pub async fn status(id: Option<String>, ctx: &Ctx) -> Result<Outcome, UpgradeError> {
    let (_, j) = Store::find(ctx, id, false).await?;
    Ok(Outcome::ok(Report::Upgrade(Box::new(j))))
}

/// Every journal the store keeps, newest first.
pub async fn history(ctx: &Ctx) -> Result<Outcome, UpgradeError> {
    let coord = Coordinator::locate(ctx).await?;
    let journals = journal::list(&coord).await?;
    Ok(Outcome::ok(Report::Upgrades(journals)))
}
