//! One look at the fleet for `workers rebalance`: every agent's `GET /v1/master`, turned into
//! what the plan needs (each master's workers, weight, and whether it takes part).

use std::collections::BTreeMap;

use bbctl_api::{MasterInfo, MasterState, RoutingState};

use super::plan::{MasterLoad, Plan, WorkerLoad};
use crate::client::AgentClient;
use crate::commands::master_names::MasterNames;
use crate::ctx::Ctx;
use crate::exit::{Exit, Failure};
use crate::inventory::Pin;
use crate::report::rebalance::BalanceRow;

pub struct Look {
    pub loads: Vec<MasterLoad>,
    /// Buildbot master names → inventory names.
    pub names: MasterNames,
    clients: BTreeMap<String, AgentClient>,
    /// Masters whose agent did not answer, with the error.
    silent: Vec<(String, String)>,
}

impl Look {
    pub async fn take(ctx: &Ctx) -> Look {
        let answers = ctx.masters().await;
        let names = MasterNames::from_answers(ctx, &answers);
        let (weights, _) = ctx.balance_rules();
        let mut look = Look {
            loads: Vec::new(),
            names,
            clients: BTreeMap::new(),
            silent: Vec::new(),
        };
        for (target, answer) in answers {
            let name = match &answer {
                Ok(info) => ctx.name_for(&target, &info.agent_name),
                Err(_) => target.name.clone(),
            };
            let weight = weights.get(&name).copied().unwrap_or(1.0);
            let load = match answer {
                Ok(info) => MasterLoad {
                    name: name.clone(),
                    out: out_of_play(&info),
                    weight,
                    workers: info
                        .workers
                        .iter()
                        .map(|w| WorkerLoad {
                            name: w.name.clone(),
                            idle: w.idle(),
                            paused: w.paused,
                        })
                        .collect(),
                },
                Err(err) if target.standby => MasterLoad {
                    name: name.clone(),
                    out: Some(format!("standby, its agent did not answer ({err})")),
                    weight,
                    workers: Vec::new(),
                },
                Err(err) => {
                    look.silent.push((name.clone(), err.to_string()));
                    MasterLoad {
                        name: name.clone(),
                        out: Some("its agent did not answer".to_owned()),
                        weight,
                        workers: Vec::new(),
                    }
                }
            };
            look.clients.insert(name, ctx.client(&target));
            look.loads.push(load);
        }
        look
    }

    pub fn client(&self, name: &str) -> Option<&AgentClient> {
        self.clients.get(name)
    }

    /// A pin that names a master the fleet does not have is a usage error (exit 2).
    pub fn check_pins(&self, pins: &[Pin]) -> Result<(), Failure> {
        for pin in pins {
            for m in &pin.masters {
                if !self.loads.iter().any(|l| &l.name == m) {
                    let known: Vec<&str> = self.loads.iter().map(|l| l.name.as_str()).collect();
                    return Err(Failure::usage(format!(
                        "the pin of `{}` names no master `{m}` (known: {})",
                        pin.workers,
                        known.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }

    /// Exit 3 when an agent did not answer: its master was left out of the plan.
    pub fn exit(&self) -> Exit {
        if self.silent.is_empty() {
            Exit::Ok
        } else {
            Exit::Partial
        }
    }

    pub fn warnings(&self) -> Vec<String> {
        self.silent
            .iter()
            .map(|(name, err)| {
                format!("warning: {name} left out (its workers neither counted nor moved): {err}")
            })
            .collect()
    }

    /// The balance as it stands, with each master's target in `plan`.
    pub fn rows(&self, plan: &Plan) -> Vec<BalanceRow> {
        self.loads
            .iter()
            .map(|l| BalanceRow {
                master: l.name.clone(),
                workers: (!self.silent.iter().any(|(n, _)| n == &l.name))
                    .then_some(l.workers.len()),
                target: plan.targets.get(&l.name).copied(),
                out: l.out.clone(),
            })
            .collect()
    }
}

/// Why a master neither gives nor takes workers, from its agent's answer; `None` when it does:
/// running, active in Buildbot, no drain or cordon, in the load balancer's rotation.
fn out_of_play(info: &MasterInfo) -> Option<String> {
    if !info.process.running {
        return Some("not running".to_owned());
    }
    match info.state {
        MasterState::Running => {}
        MasterState::Cordoned => return Some("cordoned".to_owned()),
        MasterState::Draining => return Some("draining".to_owned()),
        other => return Some(format!("{other:?}").to_lowercase()),
    }
    if info.active != Some(true) {
        return Some("not active in Buildbot".to_owned());
    }
    match info.routing {
        Some(RoutingState::Ready) => None,
        Some(RoutingState::Unmanaged) => {
            Some("no load-balancer hook: its workers cannot be moved".to_owned())
        }
        Some(other) => Some(format!(
            "out of the load balancer's rotation ({})",
            other.as_str()
        )),
        None => Some("routing unknown".to_owned()),
    }
}
