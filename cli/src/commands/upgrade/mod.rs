//! `bbctl upgrade`: the documented multimaster upgrade as one command. Plan → pre-flight →
//! blue-green or rolling → verify → summary, every step journaled on the coordinator agent
//! before and after it runs ([`journal`]), so `upgrade resume` finishes it from any machine and
//! `upgrade abort` rolls it back. The orchestration runs here, in the CLI; `--detach` re-runs
//! this binary in the background (`setsid`) on the journal.

mod bluegreen;
mod code;
mod journal;
mod pause;
mod plan;
mod preflight;
mod rollback;
mod rolling;
mod run;
mod schedulers;
mod start;
mod status;
mod verify;

pub use run::execute;

use crate::cli::{UpgradeAction, UpgradeArgs};
use crate::client::{AgentClient, ApiError};
use crate::ctx::Ctx;
use crate::exit::{Exit, Failure};
use crate::output::upgrade::Emitter;
use crate::report::Outcome;

/// Set by `--detach` for the background process: resume this upgrade instead of starting one.
pub const RESUME_ENV: &str = "BBCTL_UPGRADE_RESUME_ID";

/// A failure with its exit code and the lines that explain it.
#[derive(Debug)]
pub struct Fail {
    pub exit: Exit,
    pub message: String,
    pub lines: Vec<String>,
}

impl Fail {
    pub fn refused(message: impl Into<String>, lines: Vec<String>) -> Fail {
        Fail {
            exit: Exit::Refused,
            message: message.into(),
            lines,
        }
    }
    pub fn failed(message: impl Into<String>, lines: Vec<String>) -> Fail {
        Fail {
            exit: Exit::Failed,
            message: message.into(),
            lines,
        }
    }
    pub fn usage(message: impl Into<String>) -> Fail {
        Fail {
            exit: Exit::Usage,
            message: message.into(),
            lines: vec![],
        }
    }
    pub fn from_api(err: ApiError) -> Fail {
        let lines = bluegreen::log_lines(&err);
        let exit = if err.exit() == Exit::Refused {
            Exit::Refused
        } else {
            Exit::Failed
        };
        Fail {
            exit,
            message: err.to_string(),
            lines,
        }
    }
    fn into_error(self) -> anyhow::Error {
        let mut message = self.message;
        for line in &self.lines {
            message.push_str("\n  ");
            message.push_str(line);
        }
        Failure {
            exit: self.exit,
            message,
        }
        .into()
    }
}

/// How a step failed: a gate (→ rollback), a drain deadline (→ exit 4), an agent that does not
/// answer (→ pause, then retry: [`pause`]), anything else (→ the upgrade stops, resumable).
#[derive(Debug)]
pub enum StepFail {
    Gate(Fail),
    Deadline(String),
    Unreachable { agent: String, fail: Fail },
    Other(Fail),
}

impl StepFail {
    fn api(err: ApiError) -> StepFail {
        match err.unreachable_agent().map(str::to_owned) {
            Some(agent) => StepFail::Unreachable {
                agent,
                fail: Fail::from_api(err),
            },
            None => StepFail::Other(Fail::from_api(err)),
        }
    }
    fn message(&self) -> &str {
        match self {
            StepFail::Gate(f) | StepFail::Other(f) | StepFail::Unreachable { fail: f, .. } => {
                &f.message
            }
            StepFail::Deadline(m) => m,
        }
    }
    fn into_fail(self) -> Fail {
        match self {
            StepFail::Gate(f) | StepFail::Other(f) | StepFail::Unreachable { fail: f, .. } => f,
            StepFail::Deadline(m) => Fail {
                exit: Exit::DeadlinePassed,
                message: m,
                lines: vec![],
            },
        }
    }
}

/// Runs the steps of one upgrade.
pub struct Runner<'a> {
    ctx: &'a Ctx,
    emitter: Emitter,
}

impl Runner<'_> {
    fn client(&self, name: &str) -> Result<AgentClient, StepFail> {
        self.ctx
            .targets()
            .iter()
            .find(|t| t.name == name)
            .map(|t| self.ctx.client(t))
            .ok_or_else(|| StepFail::Other(Fail::usage(format!("{name} is not in the inventory"))))
    }
}

pub async fn run(args: &UpgradeArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    if let Ok(id) = std::env::var(RESUME_ENV) {
        return status::resume(Some(id), ctx).await;
    }
    match &args.action {
        Some(UpgradeAction::Status(a)) => status::status(a.id.clone(), ctx).await,
        Some(UpgradeAction::Resume(a)) => status::resume(a.id.clone(), ctx).await,
        Some(UpgradeAction::Abort(a)) => status::abort(a.id.clone(), ctx).await,
        Some(UpgradeAction::History) => status::history(ctx).await,
        None => start::start(args, ctx).await.map_err(Fail::into_error),
    }
}

/// The coordinator: the first non-standby master of the inventory by name.
pub fn coordinator(ctx: &Ctx) -> Result<AgentClient, Fail> {
    let mut targets: Vec<_> = ctx.targets().iter().filter(|t| !t.standby).collect();
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    targets
        .first()
        .map(|t| ctx.client(t))
        .ok_or_else(|| Fail::usage("the inventory has no non-standby master to coordinate on"))
}
