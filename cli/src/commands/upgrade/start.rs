//! Starting a new upgrade: read the bundle, gather the slots, show the plan, confirm, take the
//! fleet lease, pre-flight (stage + checkconfig everywhere, Buildbot and schema checks), write
//! the journal — then hand it to [`super::run`], or to this binary again in the background
//! (`--detach`).

use std::collections::BTreeMap;

use bbctl_api::ConfigFile;

use super::coordinator::Coordinator;
use super::error::UpgradeError;
use super::journal::Store;
use super::lease::{Held, Want};
use super::plan::{self, SlotFacts, Target};
use super::preflight::{self, Slot};
use super::resume::RESUME_ENV;
use super::{buildbot, canary_plan, lease, migrate_plan, migrate_preflight, run, steps};
use crate::cli::UpgradeArgs;
use crate::client::AgentClient;
use crate::ctx::Ctx;
use crate::exit::Exit;
use crate::output::upgrade::Emitter;
use crate::report::upgrade::{
    Canary, Journal, Options, Phase, Plan, SchemaChange, Step, StepState, StrategyName,
};
use crate::report::{Outcome, Report};
use crate::time::now_secs;

/// What a new upgrade is asked to do: its id, the bundle, and who asks why.
struct Request<'a> {
    id: &'a str,
    label: &'a str,
    files: &'a [ConfigFile],
    reason: &'a str,
    requested_by: &'a str,
    /// Where the journal goes, and the lease it is written under.
    coord: &'a Coordinator,
    held: &'a Held,
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
    canary_plan::settings(args)?;
    let (label, files) = preflight::read_bundle(path)?;
    let slots = preflight::gather(ctx, |line| {
        emitter.emit("preflight", None, line, serde_json::Value::Null)
    })
    .await?;
    preflight::refuse_active_drains(&slots, args.include_cordoned)?;
    let facts: Vec<SlotFacts> = slots
        .iter()
        .map(|s| SlotFacts {
            name: s.agent.name.clone(),
            standby: s.agent.standby,
            running: s.info.process.running,
            config_sha256: s.info.config.as_ref().map(|c| c.sha256.clone()),
            buildbot: s.info.buildbot_executable.clone(),
            db_head: s.info.buildbot_db_head.clone(),
            longest_build_secs: longest_build_secs(&s.info),
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
    // The schema heads as far as the agents know them before staging (the dry-run's plan).
    let guess = migrate_plan::guess(&facts, new_buildbot.as_deref());
    let strategy0 = match migrate_plan::classify_guess(guess.as_ref()) {
        Some(change) => buildbot::strategy_for(&change, args.strategy, None)?,
        None => args.strategy,
    };
    // The new head unknown yet: staging may choose migrate, where `--min-serving` does not
    // apply, so a plan infeasible only as blue-green or rolling is decided after staging.
    let head_unknown = guess.as_ref().is_some_and(|g| g.to.is_none());
    let mut plan0 = plan::plan(&facts, strategy0, args.batch, args.min_serving, target);
    migrate_plan::annotate(&mut plan0, &facts, guess);
    canary_plan::annotate(&mut plan0, args.canary);
    emitter.plan(&plan0, &label);
    scheduler_notes(ctx, &slots, &plan0, &emitter).await;
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
    let migrate_may_apply = head_unknown
        && args.strategy.is_none()
        && plan::plan(
            &facts,
            Some(crate::cli::Strategy::Migrate),
            args.batch,
            args.min_serving,
            target,
        )
        .feasible();
    if !plan0.feasible() {
        if !migrate_may_apply {
            return Err(UpgradeError::refused(
                "refusing to upgrade: the plan is not feasible",
                plan0.problems,
            ));
        }
        emitter.emit(
            "plan",
            None,
            "not feasible as planned; staging goes on because the new Buildbot's DB schema is \
             not known yet: if it is newer, the upgrade runs as migrate (where --min-serving \
             does not apply), else it is refused after staging",
            serde_json::Value::Null,
        );
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
    let coord = Coordinator::locate(ctx).await?;
    let want = Want {
        operation: id.clone(),
        reason: lease::upgrade_reason(&reason, &id, requested_by),
        kind: bbctl_api::LeaseKind::Upgrade,
        take_over: false,
    };
    let held = lease::take(ctx, &coord, &want).await?;
    let request = Request {
        id: &id,
        label: &label,
        files: &files,
        reason: &reason,
        requested_by,
        coord: &coord,
        held: &held,
    };
    let result = preflight_and_journal(args, ctx, &slots, &facts, &emitter, &request, &plan0).await;
    let (journal, store) = match result {
        Ok(v) => v,
        Err(err) => {
            lease::release(ctx, &coord, &held).await;
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
    let old: Vec<buildbot::SchemaFacts<'_>> = slots
        .iter()
        .filter(|s| plan0.old.contains(&s.agent.name))
        .map(|s| buildbot::SchemaFacts {
            name: &s.agent.name,
            version: s.info.buildbot_version.as_deref(),
            db_head: s.info.buildbot_db_head.as_deref(),
        })
        .collect();
    let new: Vec<buildbot::SchemaFacts<'_>> = plan0
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
    let change = buildbot::classify(&old, &new);
    let hint = match &change {
        buildbot::SchemaChange::Downgrade { to, .. } => restore_hint(ctx, to).await,
        _ => None,
    };
    let strategy = buildbot::strategy_for(&change, args.strategy, hint.as_deref())?;
    let mut plan = plan::plan(facts, strategy, args.batch, args.min_serving, target);
    canary_plan::annotate(&mut plan, args.canary);
    let schema = match &change {
        buildbot::SchemaChange::Forward { from, to } => Some(SchemaChange {
            from: from.clone(),
            to: Some(to.clone()),
        }),
        _ => None,
    };
    migrate_plan::annotate(&mut plan, facts, schema);
    if !plan.feasible() {
        return Err(UpgradeError::refused(
            "refusing to upgrade: the plan is not feasible",
            plan.problems,
        ));
    }
    if plan.strategy != plan0.strategy || plan.new != plan0.new {
        // Staging told what the dry plan could not: show the plan that runs, and ask again.
        emitter.plan(&plan, request.label);
        if !args.yes
            && !crate::prompt::confirm("The plan changed (see above). Proceed?")
                .map_err(|e| UpgradeError::failed(e.to_string(), vec![]))?
        {
            return Err(UpgradeError::refused("not upgraded", vec![]));
        }
    }
    if plan.strategy == StrategyName::Migrate {
        preflight::refuse_cordoned_in_migrate(slots)?;
    }
    if plan.strategy != StrategyName::Migrate && (args.no_backup || args.backup_command) {
        return Err(UpgradeError::Usage(format!(
            "--no-backup and --backup-command apply to --strategy migrate only; this upgrade is \
             {}",
            plan.strategy.as_str()
        )));
    }
    let coordinator = lease::coordinator(ctx)?;
    let canary_gate = canary_plan::settings(args)?;
    let migration = match (&change, plan.strategy) {
        (buildbot::SchemaChange::Forward { from, to }, StrategyName::Migrate) => {
            let clients: Vec<AgentClient> = slots.iter().map(|s| s.client.clone()).collect();
            let expect = migrate_preflight::Expect {
                from_head: from,
                to_head: to,
                coordinator: coordinator.name(),
                migrate_agent: &plan.new[0],
                old_names: slots
                    .iter()
                    .filter(|s| plan.old.contains(&s.agent.name))
                    .map(|s| (s.agent.name.clone(), s.info.buildbot_name.clone()))
                    .collect(),
                no_backup: args.no_backup,
                backup_command: args.backup_command,
                timeout_secs: args.migration_timeout.as_secs_f64(),
            };
            Some(migrate_preflight::check(&clients, &expect).await?)
        }
        _ => None,
    };
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
        old_masterids: slots
            .iter()
            .filter(|s| plan.old.contains(&s.agent.name))
            .filter_map(|s| Some((s.agent.name.clone(), s.info.masterid?)))
            .collect(),
        steps: steps::of(&plan).into_iter().map(Step::pending).collect(),
        phase: Phase::Running,
        started_at: now_secs(),
        finished_at: None,
        message: None,
        drains: BTreeMap::new(),
        findings: vec![],
        migration,
        canary: canary_gate.map(|gate| Canary {
            masters: plan.canary.clone().unwrap_or_default(),
            gate,
            evidence_since: None,
            window_started_at: None,
            decision: None,
            promoted_by: None,
            promoted_at: None,
        }),
    };
    journal.mark(
        0,
        StepState::Done,
        Some("checkconfig passed everywhere".into()),
    );
    let store = Store::create(request.coord.clone(), request.held.clone(), &journal).await?;
    Ok((journal, store))
}

/// The plan's notes on the schedulers and change sources the old masters own: blue-green and
/// migrate stop every old master, and what they owned has no owner until a new master's claim
/// (rolling restarts each master, whose start claims them at once). Best effort.
async fn scheduler_notes(ctx: &Ctx, slots: &[preflight::Slot], plan: &Plan, emitter: &Emitter) {
    if plan.strategy == StrategyName::Rolling {
        return;
    }
    let answers = slots
        .iter()
        .map(|s| (s.agent.clone(), Ok(s.info.clone())))
        .collect();
    let old: Vec<&str> = plan.old.iter().map(String::as_str).collect();
    for note in crate::commands::drain::schedulers_left_unowned(ctx, answers, &old).await {
        emitter.emit("note", None, &note, serde_json::Value::Null);
    }
}

/// How long the longest unfinished build of a master has run, seconds.
fn longest_build_secs(info: &bbctl_api::MasterInfo) -> f64 {
    let now = now_secs();
    info.builds
        .iter()
        .filter(|b| !b.complete)
        .filter_map(|b| Some(now - b.started_at? as f64))
        .fold(0.0, f64::max)
}

/// The newest upgrade whose journal holds a backup of the DB at schema `head`, for the
/// refusal of a downgrade.
async fn restore_hint(ctx: &Ctx, head: &str) -> Option<String> {
    let coord = Coordinator::locate(ctx).await.ok()?;
    super::journal::list(&coord)
        .await
        .ok()?
        .into_iter()
        .find(|j| {
            j.migration
                .as_ref()
                .and_then(|m| m.backup.as_ref())
                .is_some_and(|b| b.head == head)
        })
        .map(|j| j.id)
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
