//! Starting a new upgrade: read the bundle, gather the slots, show the plan, confirm, take the
//! fleet lease, pre-flight (stage + checkconfig everywhere, Buildbot and schema checks), write
//! the journal — then hand it to [`super::run`], or to this binary again in the background
//! (`--detach`).

use std::collections::BTreeMap;

use bbctl_api::ConfigFile;

use super::error::UpgradeError;
use super::journal::Store;
use super::plan::{self, SlotFacts, Target};
use super::preflight::{self, Slot};
use super::resume::RESUME_ENV;
use super::{buildbot, lease, run, steps};
use crate::cli::UpgradeArgs;
use crate::client::AgentClient;
use crate::ctx::Ctx;
use crate::exit::Exit;
use crate::output::upgrade::Emitter;
use crate::report::upgrade::{Journal, Options, Phase, Plan, Step, StepState};
use crate::report::{Outcome, Report};
use crate::time::now_secs;

/// What a new upgrade is asked to do: its id, the bundle, and who asks why.
struct Request<'a> {
    id: &'a str,
    label: &'a str,
    files: &'a [ConfigFile],
    reason: &'a str,
    requested_by: &'a str,
}

pub async fn start(args: &UpgradeArgs, ctx: &Ctx) -> Result<Outcome, UpgradeError> {
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
    let facts: Vec<SlotFacts> = slots
        .iter()
        .map(|s| SlotFacts {
            name: s.agent.name.clone(),
            standby: s.agent.standby,
            running: s.info.process.running,
            config_sha256: s.info.config.as_ref().map(|c| c.sha256.clone()),
            buildbot: s.info.buildbot_executable.clone(),
        })
        .collect();
    let old_buildbot: Vec<(&str, Option<&str>)> = facts
        .iter()
        .filter(|f| f.running)
        .map(|f| (f.name.as_str(), f.buildbot.as_deref()))
        .collect();
    let new_buildbot = buildbot::for_new_masters(args.buildbot.as_deref(), &old_buildbot)?;
    let target = Target {
        sha256: None,
        buildbot: new_buildbot.as_deref(),
    };
    let plan0 = plan::plan(&facts, args.strategy, args.batch, args.min_serving, target);
    emitter.plan(&plan0, &label);
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
        return Err(UpgradeError::refused(
            "refusing to upgrade: the plan is not feasible",
            plan0.problems,
        ));
    }
    if !args.yes {
        if !(ctx.terminal.stdin && ctx.terminal.stderr) {
            return Err(UpgradeError::refused(
                "refusing to upgrade without --yes: no terminal to confirm on",
                vec![],
            ));
        }
        if !crate::prompt::confirm("Proceed with the upgrade?")
            .map_err(|e| UpgradeError::failed(e.to_string(), vec![]))?
        {
            return Err(UpgradeError::refused("not upgraded", vec![]));
        }
    }
    let reason = args
        .reason
        .clone()
        .unwrap_or_else(|| format!("upgrade to {label}"));
    let requested_by = crate::operator::requested_by();
    let coordinator = lease::coordinator(ctx)?;
    lease::take(
        &coordinator,
        &id,
        &lease::upgrade_reason(&reason, &id, requested_by),
    )
    .await?;
    let request = Request {
        id: &id,
        label: &label,
        files: &files,
        reason: &reason,
        requested_by,
    };
    let result = preflight_and_journal(args, ctx, &slots, &facts, &emitter, &request, &plan0).await;
    let (journal, store) = match result {
        Ok(v) => v,
        Err(err) => {
            lease::release(&coordinator, &id).await;
            emitter.emit(
                "preflight",
                None,
                &err.to_string(),
                serde_json::json!({"problems": err.lines()}),
            );
            return Err(err);
        }
    };
    if args.detach {
        return detach(&id, &emitter);
    }
    Ok(run::execute(ctx, emitter, journal, store).await)
}

async fn preflight_and_journal(
    args: &UpgradeArgs,
    ctx: &Ctx,
    slots: &[Slot],
    facts: &[SlotFacts],
    emitter: &Emitter,
    request: &Request<'_>,
    plan0: &Plan,
) -> Result<(Journal, Store), UpgradeError> {
    emitter.emit(
        "preflight",
        None,
        "staging the new configuration and running checkconfig on every agent",
        serde_json::Value::Null,
    );
    // The new slots stage it with the Buildbot they will run; the others with their own.
    let clients: Vec<(AgentClient, Option<String>)> = slots
        .iter()
        .map(|s| {
            let buildbot = if plan0.new.contains(&s.agent.name) {
                plan0.buildbot.clone()
            } else {
                s.info.buildbot_executable.clone()
            };
            (s.client.clone(), buildbot)
        })
        .collect();
    let staged =
        preflight::stage_and_check(&clients, request.label, request.files, request.reason).await?;
    let sha = staged.sha256.clone();
    // The Buildbot the new masters run, as their agents resolved it.
    let new_buildbot = plan0
        .new
        .iter()
        .find_map(|m| staged.versions.get(m)?.buildbot.clone());
    let target = Target {
        sha256: Some(&sha),
        buildbot: new_buildbot.as_deref(),
    };
    let plan = plan::plan(facts, args.strategy, args.batch, args.min_serving, target);
    if !plan.feasible() {
        return Err(UpgradeError::refused(
            "refusing to upgrade: the plan is not feasible",
            plan.problems,
        ));
    }
    let old: Vec<buildbot::SchemaFacts<'_>> = slots
        .iter()
        .filter(|s| plan.old.contains(&s.agent.name))
        .map(|s| buildbot::SchemaFacts {
            name: &s.agent.name,
            version: s.info.buildbot_version.as_deref(),
            db_head: s.info.buildbot_db_head.as_deref(),
        })
        .collect();
    let new: Vec<buildbot::SchemaFacts<'_>> = plan
        .new
        .iter()
        .filter_map(|m| {
            let v = staged.versions.get(m)?;
            Some(buildbot::SchemaFacts {
                name: m,
                version: v.buildbot_version.as_deref(),
                db_head: v.buildbot_db_head.as_deref(),
            })
        })
        .collect();
    let schema = buildbot::schema_check(&old, &new);
    if !schema.is_empty() {
        return Err(UpgradeError::refused(
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
    let mut journal = Journal {
        id: request.id.to_string(),
        requested_by: request.requested_by.to_string(),
        reason: request.reason.to_string(),
        strategy: plan.strategy,
        config_label: request.label.to_string(),
        config_sha256: sha,
        config_files: request.files.to_vec(),
        buildbot: new_buildbot,
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
        previous_sha256: facts
            .iter()
            .filter_map(|f| Some((f.name.clone(), f.config_sha256.clone()?)))
            .collect(),
        previous_buildbot: facts
            .iter()
            .filter_map(|f| Some((f.name.clone(), f.buildbot.clone()?)))
            .collect(),
        steps: steps::of(&plan).into_iter().map(Step::pending).collect(),
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
    let store = Store::create(lease::coordinator(ctx)?, &journal).await?;
    Ok((journal, store))
}

/// Re-runs this command line in the background, as `resume` of `id`, its output in a log file.
fn detach(id: &str, emitter: &Emitter) -> Result<Outcome, UpgradeError> {
    let failed = |e: std::io::Error| UpgradeError::failed(e.to_string(), vec![]);
    let log_path = std::env::temp_dir().join(format!("bbctl-upgrade-{id}.log"));
    let log = std::fs::File::create(&log_path).map_err(|e| {
        UpgradeError::failed(format!("cannot create {}: {e}", log_path.display()), vec![])
    })?;
    let exe = std::env::current_exe().map_err(failed)?;
    let args: Vec<_> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--detach")
        .collect();
    std::process::Command::new("setsid")
        .arg(exe)
        .args(args)
        .env(RESUME_ENV, id)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(failed)?)
        .stderr(log)
        .spawn()
        .map_err(|e| {
            UpgradeError::failed(format!("cannot start the background upgrade: {e}"), vec![])
        })?;
    emitter.detached(id, &log_path);
    Ok(Outcome::ok(Report::Streamed))
}
