//! `upgrade status [ID]` and `upgrade history`: the journals kept on the coordinator, returned as
//! data (`output/upgrade.rs` renders them; `-o json` prints the journal documents).

use super::error::UpgradeError;
use super::journal::{self, Store};
use super::lease;
use crate::ctx::Ctx;
use crate::report::{Outcome, Report};

/// The journal `id` (default: the newest).
pub async fn status(id: Option<String>, ctx: &Ctx) -> Result<Outcome, UpgradeError> {
    let (_, j) = Store::find(ctx, id, false).await?;
    Ok(Outcome::ok(Report::Upgrade(Box::new(j))))
}

/// Every journal the coordinator keeps, newest first.
pub async fn history(ctx: &Ctx) -> Result<Outcome, UpgradeError> {
    let client = lease::coordinator(ctx)?;
    let journals = client
        .upgrade_list()
        .await?
        .iter()
        .filter_map(|r| journal::decode(&client, r).ok())
        .collect();
    Ok(Outcome::ok(Report::Upgrades(journals)))
}
