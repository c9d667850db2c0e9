//! `bbctl upgrade`: the documented multimaster upgrade as one command. Plan → pre-flight →
//! blue-green or rolling → verify → summary, every step journaled in the fleet store (through
//! any agent) before and after it runs, so `upgrade resume` finishes it from any machine and
//! `upgrade abort` rolls it back. The orchestration runs here, in the CLI; `--detach` re-runs
//! this binary in the background (`setsid`) on the journal. This module only dispatches.
//!
//! Where things are: [`start`] (a new upgrade up to its journal), [`plan`], [`preflight`],
//! [`buildbot`] (which Buildbot the new masters run; the schema classifier), [`migrate_plan`]
//! and [`migrate_preflight`] (what `migrate` adds to the plan and the pre-flight), [`coordinator`] (the agent
//! through which the fleet store is reached, and failing over to the next), [`lease`] (the fleet
//! lease, its run token and fencing epoch), [`journal`] (where the journal is kept; the document is
//! `report/upgrade.rs`), [`run`] (the step loop), [`steps`] (each strategy's steps and their
//! bodies), [`verify`] and [`schedulers`] (the last step), [`pause`] (an agent that stopped
//! answering), [`rollback`] (and [`rollback_migrate`] for `migrate`: the DB restore and the
//! point of no return), [`resume`] (`resume`, `abort`), [`status`] (`status`, `history`),
//! [`error`] (the one error of an upgrade and its exit codes).

mod buildbot;
mod canary_plan;
mod coordinator;
mod error;
mod gate;
mod journal;
pub(super) mod lease;
mod migrate_plan;
mod migrate_preflight;
mod pause;
mod plan;
mod preflight;
mod resume;
mod rollback;
mod rollback_migrate;
mod run;
mod start;
mod status;
mod steps;
mod verify;
mod verify_migrate;

use crate::cli::{UpgradeAction, UpgradeArgs};
use crate::ctx::Ctx;
use crate::exit::Failure;
use crate::report::Outcome;

pub async fn run(args: &UpgradeArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let result = match (std::env::var(resume::RESUME_ENV), &args.action) {
        // The detached child takes over the lease its parent took for this upgrade.
        (Ok(id), _) => resume::resume(Some(id), true, ctx).await,
        (_, Some(UpgradeAction::Status(a))) => status::status(a.id.clone(), ctx).await,
        (_, Some(UpgradeAction::Resume(a))) => resume::resume(a.id.clone(), a.take_over, ctx).await,
        (_, Some(UpgradeAction::Abort(a))) => resume::abort(a.id.clone(), a.restore_db, ctx).await,
        (_, Some(UpgradeAction::History)) => status::history(ctx).await,
        (_, Some(UpgradeAction::Promote(a))) => resume::promote(a.id.clone(), ctx).await,
        (_, None) => start::start(args, ctx).await,
    };
    result.map_err(|err| Failure::from(err).into())
}
