//! `bbctl upgrade`: the documented multimaster upgrade as one command. Plan → pre-flight →
//! blue-green or rolling → verify → summary, every step journaled on the coordinator agent
//! before and after it runs ([`journal`]), so `upgrade resume` finishes it from any machine and
//! `upgrade abort` rolls it back. The orchestration runs here, in the CLI; `--detach` re-runs
//! this binary in the background (`setsid`) on the journal.

mod bluegreen;
mod journal;
mod pause;
mod plan;
mod preflight;
mod rollback;
mod rolling;
mod schedulers;
mod status;
mod verify;

use std::collections::BTreeMap;

use crate::cli::{UpgradeAction, UpgradeArgs};
use crate::client::{AgentClient, ApiError};
use crate::ctx::Ctx;
use crate::exit::{Exit, Failure};
use crate::output::upgrade::Emitter;
use crate::report::{Outcome, Report};
use crate::time::now_secs;
use journal::{Journal, Options, Phase, Step, StepKind, StepState, Store};

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
        match pause::unreachable_agent(&err) {
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
        None => start(args, ctx).await.map_err(Fail::into_error),
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

fn requested_by() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

async fn start(args: &UpgradeArgs, ctx: &Ctx) -> Result<Outcome, Fail> {
    let id = format!("up-{}-{}", now_secs() as u64, std::process::id());
    let emitter = Emitter {
        json: ctx.format == crate::cli::OutputFormat::Json,
        id: id.clone(),
    };
    let path = args
        .new_config
        .as_deref()
        .expect("clap requires --new-config");
    let (label, files) = preflight::read_bundle(path)?;
    let slots = preflight::gather(ctx).await?;
    preflight::refuse_active_drains(&slots)?;
    let facts: Vec<plan::SlotFacts> = slots
        .iter()
        .map(|(t, _, info)| plan::SlotFacts {
            name: t.name.clone(),
            standby: t.standby,
            running: info.process.running,
            config_sha256: info.config.as_ref().map(|c| c.sha256.clone()),
            buildbot: info.buildbot_executable.clone(),
        })
        .collect();
    let old_code: Vec<(&str, Option<&str>)> = facts
        .iter()
        .filter(|f| f.running)
        .map(|f| (f.name.as_str(), f.buildbot.as_deref()))
        .collect();
    let code = preflight::target_code(args.buildbot.as_deref(), &old_code)?;
    let target = plan::Target {
        sha256: None,
        buildbot: code.as_deref(),
    };
    let plan0 = plan::plan(&facts, args.strategy, args.batch, args.min_serving, target);
    status::show_plan(&emitter, &plan0, &label);
    if args.dry_run {
        let exit = if plan0.feasible() {
            Exit::Ok
        } else {
            Exit::Refused
        };
        return Ok(Outcome {
            report: Report::Streamed,
            exit,
            warnings: plan0.problems,
        });
    }
    if !plan0.feasible() {
        return Err(Fail::refused(
            "refusing to upgrade: the plan is not feasible",
            plan0.problems,
        ));
    }
    if !args.yes {
        if !(ctx.terminal.stdin && ctx.terminal.stderr) {
            return Err(Fail::refused(
                "refusing to upgrade without --yes: no terminal to confirm on",
                vec![],
            ));
        }
        if !crate::prompt::confirm("Proceed with the upgrade?")
            .map_err(|e| Fail::failed(e.to_string(), vec![]))?
        {
            return Err(Fail::refused("not upgraded", vec![]));
        }
    }
    let reason = args
        .reason
        .clone()
        .unwrap_or_else(|| format!("upgrade to {label}"));
    let by = requested_by();
    let lease_reason = format!("{reason} (upgrade {id} by {by})");
    let coordinator = coordinator(ctx)?;
    preflight::acquire_lease(&coordinator, &id, &lease_reason).await?;
    let result = preflight_and_journal(
        args,
        ctx,
        &slots,
        &facts,
        &emitter,
        (&id, &label, &files, &reason, &by),
        &plan0,
    )
    .await;
    let (journal, store) = match result {
        Ok(v) => v,
        Err(fail) => {
            let _ = coordinator.lease_delete(&id).await;
            emitter.emit(
                "preflight",
                None,
                &fail.message,
                serde_json::json!({"problems": fail.lines}),
            );
            return Err(fail);
        }
    };
    if args.detach {
        return status::detach(&id, &emitter);
    }
    Ok(execute(ctx, emitter, journal, store).await)
}

type Bundle<'a> = (
    &'a str,
    &'a str,
    &'a [bbctl_api::ConfigFile],
    &'a str,
    &'a str,
);

async fn preflight_and_journal(
    args: &UpgradeArgs,
    ctx: &Ctx,
    slots: &[(crate::inventory::Target, AgentClient, bbctl_api::MasterInfo)],
    facts: &[plan::SlotFacts],
    emitter: &Emitter,
    (id, label, files, reason, by): Bundle<'_>,
    plan0: &plan::Plan,
) -> Result<(Journal, Store), Fail> {
    emitter.emit(
        "preflight",
        None,
        "staging the new configuration and running checkconfig on every agent",
        serde_json::Value::Null,
    );
    // The new slots stage it with the Buildbot they will run; the others with their own.
    let clients: Vec<(AgentClient, Option<String>)> = slots
        .iter()
        .map(|(t, c, info)| {
            let code = if plan0.new.contains(&t.name) {
                plan0.buildbot.clone()
            } else {
                info.buildbot_executable.clone()
            };
            (c.clone(), code)
        })
        .collect();
    let staged = preflight::stage_and_check(&clients, label, files, reason).await?;
    let sha = staged.sha256.clone();
    // The executable the new masters run, as their agents resolved it.
    let buildbot = plan0
        .new
        .iter()
        .find_map(|m| staged.versions.get(m)?.buildbot.clone());
    let target = plan::Target {
        sha256: Some(&sha),
        buildbot: buildbot.as_deref(),
    };
    let plan = plan::plan(facts, args.strategy, args.batch, args.min_serving, target);
    if !plan.feasible() {
        return Err(Fail::refused(
            "refusing to upgrade: the plan is not feasible",
            plan.problems,
        ));
    }
    let old: Vec<preflight::Code<'_>> = slots
        .iter()
        .filter(|(t, _, _)| plan.old.contains(&t.name))
        .map(|(t, _, i)| preflight::Code {
            name: &t.name,
            version: i.buildbot_version.as_deref(),
            db_head: i.buildbot_db_head.as_deref(),
        })
        .collect();
    let new: Vec<preflight::Code<'_>> = plan
        .new
        .iter()
        .filter_map(|m| {
            let v = staged.versions.get(m)?;
            Some(preflight::Code {
                name: m,
                version: v.buildbot_version.as_deref(),
                db_head: v.buildbot_db_head.as_deref(),
            })
        })
        .collect();
    let schema = preflight::schema_check(&old, &new);
    if !schema.is_empty() {
        return Err(Fail::refused(
            "refusing to upgrade: DB schema change",
            schema,
        ));
    }
    emitter.emit(
        "preflight",
        None,
        &format!("checkconfig passed on {} agent(s); lease held", slots.len()),
        serde_json::json!({"sha256": sha}),
    );
    let previous: BTreeMap<String, String> = facts
        .iter()
        .filter_map(|f| Some((f.name.clone(), f.config_sha256.clone()?)))
        .collect();
    let mut journal = Journal {
        id: id.to_string(),
        requested_by: by.to_string(),
        reason: reason.to_string(),
        strategy: plan.strategy,
        config_label: label.to_string(),
        config_sha256: sha,
        config_files: files.to_vec(),
        buildbot,
        options: Options {
            deadline_secs: args.deadline.map(|d| d.as_secs_f64()),
            force_after_deadline: args.force_after_deadline,
            min_serving: args.min_serving,
            batch: args.batch,
            wait_schedulers: args.wait_schedulers,
            pause_secs: args.pause_timeout.as_secs_f64(),
        },
        old: plan.old.clone(),
        new: plan.new.clone(),
        batches: plan.batches.clone(),
        previous_sha256: previous,
        previous_buildbot: facts
            .iter()
            .filter_map(|f| Some((f.name.clone(), f.buildbot.clone()?)))
            .collect(),
        steps: plan.steps().into_iter().map(Step::pending).collect(),
        phase: Phase::Running,
        started_at: now_secs(),
        finished_at: None,
        message: None,
        drains: BTreeMap::new(),
        findings: vec![],
    };
    journal.mark(
        0,
        StepState::Done,
        Some("checkconfig passed everywhere".into()),
    );
    let store = Store::create(coordinator(ctx)?, &journal)
        .await
        .map_err(Fail::from_api)?;
    Ok((journal, store))
}

/// Runs the remaining steps of `journal`; rolls back on a failed gate.
pub async fn execute(ctx: &Ctx, emitter: Emitter, mut j: Journal, mut store: Store) -> Outcome {
    let runner = Runner {
        ctx,
        emitter: emitter.clone(),
    };
    let renewer = tokio::spawn(renew_lease(
        store.client.clone(),
        j.id.clone(),
        format!("{} (upgrade {} by {})", j.reason, j.id, j.requested_by),
    ));
    let result = run_steps(&runner, &mut j, &mut store).await;
    renewer.abort();
    let (phase, exit, message, lines) = match result {
        Ok(()) => (
            Phase::Succeeded,
            Exit::Ok,
            "upgrade complete".to_string(),
            vec![],
        ),
        Err(StepFail::Gate(fail)) => {
            let failed = j
                .steps
                .iter()
                .rev()
                .find(|s| s.state == StepState::Failed)
                .and_then(|s| match &s.kind {
                    StepKind::StartNew { master } => Some(master.clone()),
                    _ => None,
                });
            emitter.emit(
                "rollback",
                None,
                &format!("rolling back: {}", fail.message),
                serde_json::json!({"log_lines": fail.lines}),
            );
            let (done, problems) = runner.rollback(&j, failed.as_deref()).await;
            for line in &done {
                emitter.emit("rollback", None, line, serde_json::Value::Null);
            }
            let mut lines = fail.lines;
            lines.extend(problems.iter().map(|p| format!("rollback problem: {p}")));
            let exit = if problems.is_empty() {
                Exit::RolledBack
            } else {
                Exit::Failed
            };
            (
                Phase::RolledBack,
                exit,
                format!("rolled back: {}", fail.message),
                lines,
            )
        }
        Err(StepFail::Deadline(message)) => {
            (Phase::DeadlinePassed, Exit::DeadlinePassed, message, vec![])
        }
        // An agent that stayed away past the pause: exit 3 (unreachable), resumable.
        Err(StepFail::Other(fail)) | Err(StepFail::Unreachable { fail, .. }) => (
            Phase::Failed,
            if fail.exit == Exit::Partial {
                Exit::Partial
            } else {
                fail.exit.worst(Exit::Failed)
            },
            fail.message,
            fail.lines,
        ),
    };
    j.finish(phase, Some(message.clone()));
    let saved = store.save(&j).await;
    // A failed save means another CLI took the journal over (e.g. `upgrade abort`): the lease
    // is theirs now.
    if phase.is_final() && saved.is_ok() {
        let _ = store.client.lease_delete(&j.id).await;
    }
    if phase == Phase::Succeeded {
        status::show_summary(&emitter, &j);
    }
    emitter.emit(
        "finished",
        None,
        &message,
        serde_json::json!({"phase": phase, "exit": exit as u8, "log_lines": lines}),
    );
    let mut warnings: Vec<String> = Vec::new();
    if exit != Exit::Ok {
        warnings.push(format!("error: upgrade {}: {message}", j.id));
        warnings.extend(lines.iter().map(|l| format!("  {l}")));
        if !phase.is_final() {
            warnings.push(format!(
                "fix the cause, then `bbctl upgrade resume {}` (or `bbctl upgrade abort {}`)",
                j.id, j.id
            ));
        }
    }
    if let Err(err) = saved {
        warnings.push(format!("warning: could not save the journal: {err}"));
    }
    Outcome {
        report: Report::Streamed,
        exit,
        warnings,
    }
}

async fn run_steps(
    runner: &Runner<'_>,
    j: &mut Journal,
    store: &mut Store,
) -> Result<(), StepFail> {
    let mut budget = pause::PauseBudget::default();
    while let Some(i) = j.next_step() {
        let label = j.steps[i].kind.label();
        j.mark(i, StepState::Running, None);
        runner.save(store, j, &label, &mut budget).await?;
        runner.emitter.emit(
            "step_started",
            Some(&label),
            "started",
            serde_json::Value::Null,
        );
        let kind = j.steps[i].kind.clone();
        let result = match &kind {
            StepKind::Preflight => Ok("done".to_string()),
            StepKind::StartNew { master } => runner.start_new(j, master).await,
            StepKind::Drain { masters } => match j.strategy {
                journal::StrategyName::Rolling => match runner.check_capacity(j, masters).await {
                    Ok(()) => runner.drain(j, masters).await,
                    Err(e) => Err(e),
                },
                journal::StrategyName::BlueGreen => runner.drain(j, masters).await,
            },
            StepKind::WaitDrained { masters } => runner.wait_drained(j, masters).await,
            StepKind::Verify => runner.verify(j).await,
        };
        let fail = match result {
            Ok(message) => {
                budget.reset();
                runner
                    .emitter
                    .emit("step_done", Some(&label), &message, serde_json::Value::Null);
                j.mark(i, StepState::Done, Some(message));
                runner.save(store, j, &label, &mut budget).await?;
                continue;
            }
            Err(StepFail::Unreachable { agent, fail }) => {
                let until = budget.until(j.options.pause_secs);
                match runner
                    .wait_for_agent(&j.id, &label, &agent, &fail.message, until)
                    .await
                {
                    // The step is still `running` in the journal: the loop retries it.
                    Ok(_) => continue,
                    Err(timeout) => StepFail::Other(timeout),
                }
            }
            Err(fail) => fail,
        };
        let text = fail.message().to_string();
        runner
            .emitter
            .emit("step_failed", Some(&label), &text, serde_json::Value::Null);
        j.mark(i, StepState::Failed, Some(text));
        // A failed step is recorded if the coordinator answers; the failure is what counts.
        let _ = store.save(j).await;
        return Err(fail);
    }
    Ok(())
}

impl Runner<'_> {
    /// Writes the journal; while the coordinator does not answer, pauses like a step does.
    async fn save(
        &self,
        store: &mut Store,
        j: &Journal,
        label: &str,
        budget: &mut pause::PauseBudget,
    ) -> Result<(), StepFail> {
        loop {
            let err = match store.save(j).await {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            let Some(agent) = pause::unreachable_agent(&err) else {
                return Err(StepFail::api(err));
            };
            let cause = format!("could not save the journal: {err}");
            let until = budget.until(j.options.pause_secs);
            self.wait_for_agent(&j.id, label, &agent, &cause, until)
                .await
                .map_err(StepFail::Other)?;
        }
    }
}

/// Renews the fleet lease every third of its TTL until aborted.
async fn renew_lease(client: AgentClient, holder: String, reason: String) {
    let period = std::time::Duration::from_secs_f64(preflight::LEASE_TTL_SECS / 3.0);
    loop {
        tokio::time::sleep(period).await;
        if let Err(err) = preflight::acquire_lease(&client, &holder, &reason).await {
            eprintln!("warning: could not renew the fleet lease: {}", err.message);
        }
    }
}
