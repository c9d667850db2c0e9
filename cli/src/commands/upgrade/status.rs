//! Step 5 and the commands around an upgrade: the plan and summary tables, `upgrade status`,
//! `resume`, `abort`, `history`, and `--detach` (this binary again, in the background).

use super::journal::{self, Journal, Phase, StepState, Store};
use super::plan::Plan;
use super::{Fail, RESUME_ENV, Runner, coordinator, execute, preflight};
use crate::ctx::Ctx;
use crate::exit::Exit;
use crate::output::upgrade::{Emitter, table};
use crate::report::{Outcome, Report};
use crate::time::human;

pub fn show_plan(emitter: &Emitter, plan: &Plan, label: &str) {
    emitter.emit(
        "plan",
        None,
        if plan.feasible() {
            "feasible"
        } else {
            "not feasible"
        },
        serde_json::to_value(plan).unwrap_or_default(),
    );
    let mut rows: Vec<Vec<String>> = plan
        .old
        .iter()
        .map(|m| {
            let batch = plan.batches.iter().position(|b| b.contains(m));
            let to = if plan.new.contains(m) { "itself" } else { "-" };
            vec![
                m.clone(),
                "old".into(),
                "drain, stop".into(),
                batch.map_or("-".into(), |b| (b + 1).to_string()),
                to.into(),
            ]
        })
        .collect();
    for m in plan.new.iter().filter(|m| !plan.old.contains(m)) {
        rows.push(vec![
            m.clone(),
            "new".into(),
            format!("activate {label}, start"),
            "-".into(),
            "-".into(),
        ]);
    }
    let mut text = format!(
        "Plan ({:?}): {} old master(s) -> {}; at least {} serving throughout\n",
        plan.strategy,
        plan.old.len(),
        label,
        plan.min_serving_during
    );
    text.push_str(&format!(
        "New masters run buildbot: {}\n",
        plan.buildbot
            .as_deref()
            .unwrap_or("each agent's master.buildbot")
    ));
    text.push_str(&table(
        &["MASTER", "ROLE", "ACTIONS", "BATCH", "NEW CONFIG ON"],
        &rows,
    ));
    for p in &plan.problems {
        text.push_str(&format!("problem: {p}\n"));
    }
    emitter.table(&text);
}

pub fn show_summary(emitter: &Emitter, j: &Journal) {
    let duration = j.finished_at.unwrap_or_else(crate::time::now_secs) - j.started_at;
    let mut rows = Vec::new();
    let (mut finished, mut requeued, mut moved) = (0, 0, 0);
    for (m, d) in &j.drains {
        let mut latencies: Vec<f64> = d
            .workers_handed_off
            .iter()
            .filter_map(|h| Some(h.attached_elsewhere_at? - h.free_at))
            .collect();
        latencies.sort_by(f64::total_cmp);
        let p50 = latencies
            .get(latencies.len() / 2)
            .map_or("-".into(), |v| format!("{v:.1}s"));
        let max = latencies.last().map_or("-".into(), |v| format!("{v:.1}s"));
        finished += d.builds_finished;
        requeued += d.builds_requeued;
        moved += d.workers_handed_off.len();
        rows.push(vec![
            m.clone(),
            d.builds_finished.to_string(),
            d.builds_requeued.to_string(),
            d.workers_handed_off.len().to_string(),
            p50,
            max,
        ]);
    }
    let data = serde_json::json!({
        "duration_secs": duration, "builds_finished": finished, "builds_requeued": requeued,
        "workers_moved": moved, "findings": j.findings, "drains": j.drains,
    });
    emitter.emit("summary", None, &format!("{} in {}: {finished} build(s) finished during drains, {requeued} requeued, {moved} worker(s) moved", j.config_label, human(duration)), data);
    let mut text = format!(
        "Upgrade {} to {}: done in {}\n",
        j.id,
        j.config_label,
        human(duration)
    );
    text.push_str(&table(
        &[
            "OLD MASTER",
            "BUILDS FINISHED",
            "REQUEUED",
            "WORKERS MOVED",
            "HANDOFF P50",
            "HANDOFF MAX",
        ],
        &rows,
    ));
    for f in &j.findings {
        text.push_str(&format!("note: {f}\n"));
    }
    emitter.table(&text);
}

/// Re-runs this command line in the background, as `resume` of `id`, its output in a log file.
pub fn detach(id: &str, emitter: &Emitter) -> Result<Outcome, Fail> {
    let log_path = std::env::temp_dir().join(format!("bbctl-upgrade-{id}.log"));
    let log = std::fs::File::create(&log_path)
        .map_err(|e| Fail::failed(format!("cannot create {}: {e}", log_path.display()), vec![]))?;
    let exe = std::env::current_exe().map_err(|e| Fail::failed(e.to_string(), vec![]))?;
    let args: Vec<_> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--detach")
        .collect();
    std::process::Command::new("setsid")
        .arg(exe)
        .args(args)
        .env(RESUME_ENV, id)
        .stdin(std::process::Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(|e| Fail::failed(e.to_string(), vec![]))?,
        )
        .stderr(log)
        .spawn()
        .map_err(|e| Fail::failed(format!("cannot start the background upgrade: {e}"), vec![]))?;
    emitter.emit(
        "detached",
        None,
        &format!(
            "upgrade {id} runs in the background; log: {}; follow with `bbctl upgrade status {id}`",
            log_path.display()
        ),
        serde_json::json!({"log": log_path}),
    );
    if !emitter.json {
        println!("{id}");
    }
    Ok(Outcome::ok(Report::Streamed))
}

/// The journal `id`, or the newest (unfinished, when `unfinished`).
async fn find(ctx: &Ctx, id: Option<String>, unfinished: bool) -> Result<(Store, Journal), Fail> {
    let client = coordinator(ctx)?;
    let id = match id {
        Some(id) => id,
        None => {
            let records = client.upgrade_list().await.map_err(Fail::from_api)?;
            records
                .iter()
                .filter_map(|r| journal::decode(&client, r).ok())
                .find(|j| !unfinished || !j.phase.is_final())
                .map(|j| j.id)
                .ok_or_else(|| {
                    Fail::usage(if unfinished {
                        "no unfinished upgrade"
                    } else {
                        "no upgrade yet"
                    })
                })?
        }
    };
    Store::load(client, &id).await.map_err(Fail::from_api)
}

pub async fn status(id: Option<String>, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let (_, j) = find(ctx, id, false).await.map_err(Fail::into_error)?;
    if ctx.format == crate::cli::OutputFormat::Json {
        let text = serde_json::to_string_pretty(&j)? + "\n";
        return Ok(Outcome::ok(Report::Text(text)));
    }
    let rows: Vec<Vec<String>> = j
        .steps
        .iter()
        .map(|s| {
            let took = match (s.started_at, s.finished_at) {
                (Some(a), Some(b)) => human(b - a),
                _ => "-".into(),
            };
            vec![
                s.kind.label(),
                format!("{:?}", s.state).to_lowercase(),
                took,
                s.message.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut text = format!(
        "upgrade {} ({:?}) to {} by {}: {:?}{}\n",
        j.id,
        j.strategy,
        j.config_label,
        j.requested_by,
        j.phase,
        j.message
            .as_ref()
            .map_or(String::new(), |m| format!(" — {m}"))
    );
    text.push_str(&table(&["STEP", "STATE", "TOOK", "MESSAGE"], &rows));
    Ok(Outcome::ok(Report::Text(text)))
}

pub async fn history(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let client = coordinator(ctx).map_err(Fail::into_error)?;
    let records = client.upgrade_list().await?;
    let journals: Vec<Journal> = records
        .iter()
        .filter_map(|r| journal::decode(&client, r).ok())
        .collect();
    if ctx.format == crate::cli::OutputFormat::Json {
        return Ok(Outcome::ok(Report::Text(
            serde_json::to_string_pretty(&journals)? + "\n",
        )));
    }
    let rows: Vec<Vec<String>> = journals
        .iter()
        .map(|j| {
            vec![
                j.id.clone(),
                format!("{:?}", j.phase).to_lowercase(),
                format!("{:?}", j.strategy).to_lowercase(),
                j.config_label.clone(),
                j.requested_by.clone(),
                j.reason.clone(),
            ]
        })
        .collect();
    Ok(Outcome::ok(Report::Text(table(
        &["ID", "PHASE", "STRATEGY", "CONFIG", "BY", "REASON"],
        &rows,
    ))))
}

/// The unfinished upgrade `id` (default: the newest), with the fleet lease taken for it under the
/// reason `reason` gives, and the emitter its progress goes to.
async fn take_unfinished(
    ctx: &Ctx,
    id: Option<String>,
    reason: impl FnOnce(&Journal) -> String,
) -> anyhow::Result<(Store, Journal, Emitter)> {
    let (store, j) = find(ctx, id, true).await.map_err(Fail::into_error)?;
    if j.phase.is_final() {
        return Err(Fail::refused(
            format!("upgrade {} already ended: {:?}", j.id, j.phase),
            vec![],
        )
        .into_error());
    }
    preflight::acquire_lease(&store.client, &j.id, &reason(&j))
        .await
        .map_err(Fail::into_error)?;
    let emitter = Emitter {
        json: ctx.format == crate::cli::OutputFormat::Json,
        id: j.id.clone(),
    };
    Ok((store, j, emitter))
}

pub async fn resume(id: Option<String>, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let (mut store, mut j, emitter) = take_unfinished(ctx, id, super::run::lease_reason).await?;
    emitter.emit(
        "resumed",
        None,
        &format!(
            "resuming at step {}",
            j.next_step()
                .map_or("-".into(), |i| j.steps[i].kind.label())
        ),
        serde_json::Value::Null,
    );
    for step in j.steps.iter_mut().filter(|s| s.state == StepState::Failed) {
        step.state = StepState::Pending;
    }
    j.phase = Phase::Running;
    j.finished_at = None;
    store.save(&j).await?;
    Ok(execute(ctx, emitter, j, store).await)
}

pub async fn abort(id: Option<String>, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let (mut store, mut j, emitter) =
        take_unfinished(ctx, id, |j| format!("abort of upgrade {}", j.id)).await?;
    // Saved first: a CLI still running this upgrade (e.g. `--detach`) gets 409 at its next save
    // and stops, instead of carrying on with the steps the rollback undoes.
    j.message = Some("aborting: rolling back".into());
    store.save(&j).await?;
    emitter.emit(
        "rollback",
        None,
        "aborting: returning the old masters to full service",
        serde_json::Value::Null,
    );
    let runner = Runner {
        ctx,
        emitter: emitter.clone(),
    };
    let (done, problems) = runner.rollback(&j, None).await;
    for line in &done {
        emitter.emit("rollback", None, line, serde_json::Value::Null);
    }
    j.finish(Phase::Aborted, Some("aborted by the operator".into()));
    store.save(&j).await?;
    let _ = store.client.lease_delete(&j.id).await;
    let exit = if problems.is_empty() {
        Exit::RolledBack
    } else {
        Exit::Failed
    };
    emitter.emit(
        "finished",
        None,
        "aborted",
        serde_json::json!({"phase": Phase::Aborted, "exit": exit as u8, "problems": problems}),
    );
    Ok(Outcome {
        report: Report::Streamed,
        exit,
        warnings: problems,
    })
}
