//! Whether the master is ready for work, and if not why: the rules behind `GET /readyz`, which
//! load balancers with health checks follow. Ready means the process runs, Buildbot lists it
//! active, it has not lost its message queue, no lifecycle operation is under way, no drain
//! holds it out of service, and the load-balancer settings work (`crate::lb::check`).

use std::path::Path;

use bbctl_api::MasterState;

use super::{MasterRuntime, identity, mq, process};
use crate::buildbot::BuildbotApi;
use crate::lb::LbStatus;

/// The verdict: ready when no reason speaks against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Why the master is not ready, most urgent first; empty when it is.
    pub reasons: Vec<String>,
    /// A drain holds the master out of service.
    pub draining: bool,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.reasons.is_empty()
    }

    /// `ready`, `draining` or `not_ready`.
    pub fn status(&self) -> &'static str {
        if self.is_ready() {
            "ready"
        } else if self.draining {
            "draining"
        } else {
            "not_ready"
        }
    }
}

/// What Buildbot says about this master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// Its REST API did not answer (the error, as said).
    Unreachable(String),
    NotListed,
    Listed {
        active: bool,
    },
}

/// What readiness is judged from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub running: bool,
    /// Asked only while the process runs.
    pub listing: Option<Listing>,
    /// Fault 8 (docs/faults.md): the process lives on after losing the WAMP router.
    pub lost_mq: bool,
    pub phase: Option<MasterState>,
    pub draining: bool,
    /// Why the load-balancer settings do not work (yet), from `crate::lb::check`.
    pub lb_problem: Option<String>,
}

/// Looks at the master in `basedir` (process, log, Buildbot's REST API) and at the load
/// balancer (`lb`), and judges them; `draining` is whether a drain holds the master.
pub async fn assess(
    basedir: &Path,
    rest: &dyn BuildbotApi,
    runtime: &MasterRuntime,
    draining: bool,
    lb: &LbStatus,
) -> Readiness {
    let running = process::running_pid(basedir).is_some();
    let listing = if running {
        Some(match rest.masters().await {
            Err(e) => Listing::Unreachable(e.to_string()),
            Ok(masters) => match identity::find(&masters, basedir, &runtime.identity) {
                None => Listing::NotListed,
                Some(m) => Listing::Listed { active: m.active },
            },
        })
    } else {
        None
    };
    judge(Facts {
        running,
        listing,
        lost_mq: running && mq::lost_mq(basedir),
        phase: runtime.phase(),
        draining,
        lb_problem: lb.check().await.err(),
    })
}

/// The rules.
pub fn judge(facts: Facts) -> Readiness {
    let mut reasons = Vec::new();
    if facts.lost_mq {
        reasons.push(mq::LOST_MQ.to_owned());
    }
    if !facts.running {
        reasons.push("the master process is not running".to_owned());
    }
    match facts.listing {
        Some(Listing::Unreachable(e)) => reasons.push(e),
        Some(Listing::NotListed) => {
            reasons.push("the master is not listed in /api/v2/masters".into())
        }
        Some(Listing::Listed { active: false }) => {
            reasons.push("the master is not active in Buildbot".into())
        }
        Some(Listing::Listed { active: true }) | None => {}
    }
    if let Some(phase) = facts.phase {
        reasons.push(format!("lifecycle operation in progress: {phase:?}").to_lowercase());
    }
    if facts.draining {
        reasons.push(
            "a drain holds this master out of service (`bbctl drain status` shows it)".into(),
        );
    }
    if let Some(problem) = facts.lb_problem {
        reasons.push(problem);
    }
    Readiness {
        reasons,
        draining: facts.draining,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            running: true,
            listing: Some(Listing::Listed { active: true }),
            lost_mq: false,
            phase: None,
            draining: false,
            lb_problem: None,
        }
    }

    #[test]
    fn a_running_active_master_is_ready() {
        let r = judge(facts());
        assert!(r.is_ready());
        assert_eq!(r.status(), "ready");
    }

    #[test]
    fn each_rule_gives_its_reason_most_urgent_first() {
        let stopped = judge(Facts {
            running: false,
            listing: None,
            ..facts()
        });
        assert_eq!(stopped.reasons, ["the master process is not running"]);
        assert_eq!(stopped.status(), "not_ready");
        let lost = judge(Facts {
            lost_mq: true,
            listing: Some(Listing::Listed { active: false }),
            ..facts()
        });
        assert_eq!(
            lost.reasons,
            [mq::LOST_MQ, "the master is not active in Buildbot"]
        );
        let starting = judge(Facts {
            listing: Some(Listing::NotListed),
            phase: Some(MasterState::Starting),
            ..facts()
        });
        assert_eq!(
            starting.reasons,
            [
                "the master is not listed in /api/v2/masters",
                "lifecycle operation in progress: starting"
            ]
        );
    }

    #[test]
    fn load_balancer_settings_that_do_not_work_make_the_master_not_ready() {
        let problem = "bad setting `load_balancer.server`: HAProxy backend `b` has no server `x`";
        let r = judge(Facts {
            lb_problem: Some(problem.into()),
            ..facts()
        });
        assert_eq!(r.status(), "not_ready");
        assert_eq!(r.reasons, [problem]);
    }

    #[test]
    fn a_drain_makes_the_master_draining() {
        let r = judge(Facts {
            draining: true,
            ..facts()
        });
        assert_eq!(r.status(), "draining");
        assert_eq!(
            r.reasons,
            ["a drain holds this master out of service (`bbctl drain status` shows it)"]
        );
    }
}
