//! The fleet as the shared DB shows it (`GET /v1/fleet` of one reachable agent), with Buildbot
//! master ids mapped to inventory names (each agent's `GET /v1/master` tells its master id).
//! Shared by `workers list` and `builds list`.

use std::collections::HashMap;

use bbctl_api::FleetView;

use crate::ctx::Ctx;
use crate::exit::{Exit, Failure};
use crate::report::{Outcome, Report};

pub struct Fleet {
    pub view: FleetView,
    names: HashMap<i64, String>,
}

impl Fleet {
    /// The name to show for a master id: inventory name, else Buildbot's name, else `masterid:N`.
    pub fn master_name(&self, masterid: i64) -> String {
        if let Some(name) = self.names.get(&masterid) {
            return name.clone();
        }
        self.view
            .masters
            .iter()
            .find(|m| m.masterid == masterid)
            .map_or_else(|| format!("masterid:{masterid}"), |m| m.name.clone())
    }
}

/// Loads the fleet view; the outcome carries the warnings and partial exit code of agents that
/// did not answer.
pub async fn load(ctx: &Ctx) -> anyhow::Result<(Fleet, Outcome)> {
    let answers = ctx
        .fan_out(|client| async move { client.master().await })
        .await;
    let mut outcome = Outcome::ok(Report::Streamed);
    let mut names = HashMap::new();
    let mut reachable = Vec::new();
    for (target, answer) in answers {
        match answer {
            Ok(info) => {
                let row = super::masters_list::row(&target, Ok(info.clone()));
                if let Some(id) = info.masterid {
                    names.insert(id, row.name);
                }
                reachable.push(target);
            }
            Err(err) => super::masters_list::note_failure(&mut outcome, &err),
        }
    }
    let mut last_error = None;
    for target in &reachable {
        match ctx.client(target).fleet().await {
            Ok(view) => return Ok((Fleet { view, names }, outcome)),
            Err(err) => last_error = Some(err),
        }
    }
    match last_error {
        Some(err) => Err(err.into()),
        None => Err(Failure {
            exit: Exit::Partial,
            message: "no agent answered; the fleet view is unavailable".to_string(),
        }
        .into()),
    }
}

/// Checks a `--master` filter against the inventory (unknown name → usage error).
pub async fn check_filter(ctx: &Ctx, master: Option<&str>) -> anyhow::Result<()> {
    if let Some(name) = master {
        ctx.resolve(name).await?;
    }
    Ok(())
}
