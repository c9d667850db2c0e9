//! The fleet as the shared DB shows it (`GET /v1/fleet` of one reachable agent), with Buildbot
//! master ids mapped to inventory names: each agent's `GET /v1/master` tells its master's id,
//! else its Buildbot name (`host:basedir`), which the fleet view maps to an id. Shared by
//! `workers list` and `builds list`.

use std::collections::HashMap;

use bbctl_api::{FleetView, MasterInfo};

use crate::client::ApiError;
use crate::ctx::Ctx;
use crate::exit::{Exit, Failure};
use crate::inventory::Target;
use crate::report::{Outcome, Report};

pub struct Fleet {
    pub view: FleetView,
    names: HashMap<i64, String>,
}

impl Fleet {
    /// The fleet view with the inventory's masters: `(inventory name, what its agent said)`.
    fn new(view: FleetView, known: &[(String, MasterInfo)]) -> Fleet {
        let mut names = HashMap::new();
        for (name, info) in known {
            let by_buildbot_name = || {
                let buildbot_name = info.buildbot_name.as_deref()?;
                let row = view.masters.iter().find(|m| m.name == buildbot_name)?;
                Some(row.masterid)
            };
            if let Some(id) = info.masterid.or_else(by_buildbot_name) {
                names.insert(id, name.clone());
            }
        }
        Fleet { view, names }
    }

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
/// did not answer. When no agent gives the view, the error lists why, agent by agent: exit 3
/// only when none answered at all, 1 when one answered with an error (such as a refused token).
pub async fn load(ctx: &Ctx) -> anyhow::Result<(Fleet, Outcome)> {
    load_from(ctx, ctx.masters().await).await
}

/// [`load`] from answers of `ctx.masters()` the caller already has.
pub async fn load_from(
    ctx: &Ctx,
    answers: Vec<(Target, Result<MasterInfo, ApiError>)>,
) -> anyhow::Result<(Fleet, Outcome)> {
    let mut outcome = Outcome::ok(Report::Streamed);
    let mut known = Vec::new();
    let mut reachable = Vec::new();
    let mut failures = Vec::new();
    for (target, answer) in answers {
        match answer {
            Ok(info) => {
                known.push((ctx.name_for(&target, &info.agent_name), info));
                reachable.push(target);
            }
            Err(err) => {
                super::masters_list::note_failure(&mut outcome, &err);
                failures.push(err);
            }
        }
    }
    for target in &reachable {
        match ctx.client(target).fleet().await {
            Ok(view) => return Ok((Fleet::new(view, &known), outcome)),
            Err(err) => failures.push(err),
        }
    }
    Err(unavailable(&failures).into())
}

/// Why no agent gave the fleet view, one line per agent.
fn unavailable(failures: &[ApiError]) -> Failure {
    let none_answered = failures.iter().all(ApiError::is_unreachable);
    let (exit, mut message) = if none_answered {
        (
            Exit::Partial,
            "no agent answered; the fleet view is unavailable".to_string(),
        )
    } else {
        (
            Exit::Failed,
            "the fleet view is unavailable: no agent gave it".to_string(),
        )
    };
    for err in failures {
        message.push_str("\n  ");
        message.push_str(&err.to_string());
    }
    Failure { exit, message }
}

/// Checks a `--master` filter against the inventory (unknown name → usage error).
pub async fn check_filter(ctx: &Ctx, master: Option<&str>) -> anyhow::Result<()> {
    if let Some(name) = master {
        ctx.resolve(name).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(value: serde_json::Value) -> MasterInfo {
        let mut base = serde_json::json!({
            "agent_name": "master-3", "state": "running", "buildbot_name": null,
            "masterid": null, "active": true, "last_active": 1, "basedir": "/srv/m3",
            "rest_url": "http://127.0.0.1:8010/",
            "process": {"running": true, "pid": 1, "uptime_secs": 1.0},
            "buildbot_version": null, "config": null, "workers": [], "builds": [],
            "claimed_requests": [], "drain": null,
        });
        for (k, v) in value.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap_or_else(|e| panic!("{e}: fix the test's MasterInfo"))
    }

    fn view() -> FleetView {
        serde_json::from_value(serde_json::json!({
            "masters": [
                {"masterid": 3, "name": "host:/srv/m3", "active": true, "last_active": 1},
                {"masterid": 7, "name": "other:/srv/x", "active": true, "last_active": 1},
            ],
            "workers": [], "builds": [], "unclaimed_requests": 0, "claimed_requests": [],
            "services": [],
        }))
        .unwrap_or_else(|e| panic!("{e}: fix the test's FleetView"))
    }

    #[test]
    fn masters_are_named_by_inventory_name_whatever_the_agent_calls_itself() {
        // The agent calls itself `master-3`; the inventory says `m3`.
        let by_id = Fleet::new(
            view(),
            &[("m3".into(), info(serde_json::json!({"masterid": 3})))],
        );
        assert_eq!(by_id.master_name(3), "m3");
        // No master id from the agent (not known to Buildbot when it was asked): its Buildbot
        // name still maps it.
        let by_name = Fleet::new(
            view(),
            &[(
                "m3".into(),
                info(serde_json::json!({"buildbot_name": "host:/srv/m3"})),
            )],
        );
        assert_eq!(by_name.master_name(3), "m3");
        // Outside the inventory: Buildbot's name, else the id.
        assert_eq!(by_name.master_name(7), "other:/srv/x");
        assert_eq!(by_name.master_name(9), "masterid:9");
    }

    #[test]
    fn a_refused_token_is_not_no_agent_answered() {
        let refused = ApiError::from_answer(
            "m1",
            401,
            br#"{"error":{"code":"unauthorized","message":"missing or wrong bearer token"}}"#,
        );
        let down = || ApiError::Unreachable {
            agent: "m2".into(),
            detail: "connection refused".into(),
        };
        let failure = unavailable(&[refused, down()]);
        assert_eq!(failure.exit, Exit::Failed);
        assert!(
            failure.message.starts_with(
                "the fleet view is unavailable: no agent gave it\n  token refused by agent m1: \
                 missing or wrong bearer token"
            ),
            "{}",
            failure.message
        );
        assert!(
            failure
                .message
                .ends_with("\n  m2: unreachable (connection refused)")
        );
        let failure = unavailable(&[down()]);
        assert_eq!(failure.exit, Exit::Partial);
        assert!(failure.message.starts_with("no agent answered"));
    }
}
