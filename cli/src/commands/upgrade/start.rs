//! Starting a new upgrade: read the bundle, gather the slots, show the plan, confirm, take the
//! fleet lease, pre-flight (stage + checkconfig everywhere, code and schema checks), write the
//! journal — then hand it to [`super::run`] (or detach).

use std::collections::BTreeMap;

use super::journal::{Journal, Options, Phase, Step, StepState, Store};
use super::{Fail, code, coordinator, execute, plan, preflight, status};
use crate::cli::UpgradeArgs;
use crate::client::AgentClient;
use crate::ctx::Ctx;
use crate::exit::Exit;
use crate::output::upgrade::Emitter;
use crate::report::{Outcome, Report};
use crate::time::now_secs;

fn requested_by() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

pub(super) async fn start(args: &UpgradeArgs, ctx: &Ctx) -> Result<Outcome, Fail> {
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
    let code = code::target_code(args.buildbot.as_deref(), &old_code)?;
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
    let old: Vec<code::Code<'_>> = slots
        .iter()
        .filter(|(t, _, _)| plan.old.contains(&t.name))
        .map(|(t, _, i)| code::Code {
            name: &t.name,
            version: i.buildbot_version.as_deref(),
            db_head: i.buildbot_db_head.as_deref(),
        })
        .collect();
    let new: Vec<code::Code<'_>> = plan
        .new
        .iter()
        .filter_map(|m| {
            let v = staged.versions.get(m)?;
            Some(code::Code {
                name: m,
                version: v.buildbot_version.as_deref(),
                db_head: v.buildbot_db_head.as_deref(),
            })
        })
        .collect();
    let schema = code::schema_check(&old, &new);
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
