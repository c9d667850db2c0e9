//! The output of `bbctl upgrade`: live, with `-o json` one JSON event per line on stdout (the
//! contract for scripts, see docs/upgrade.md), otherwise a line per step on stderr and the plan
//! and the summary as tables on stdout; and the tables of `upgrade status` and `upgrade history`.
//! Enums are written as in JSON (`blue_green`, `rolled_back`).

use std::io::Write;

use serde::Serialize;

mod canary;
mod migrate;

pub use migrate::{backup_line, schema_line};

use migrate::{migrate_lines, migration_summary};

use crate::report::upgrade::{Journal, Plan, StrategyName};
use crate::time::human;

/// One event of an upgrade (`-o json`: one per line).
#[derive(Debug, Clone, Serialize)]
pub struct UpgradeEvent<'a> {
    /// Epoch seconds.
    pub at: f64,
    /// The upgrade id (empty before the journal exists).
    pub upgrade: &'a str,
    /// `plan`, `preflight`, `step_started`, `step_done`, `step_failed`, `rollback`, `verify`,
    /// `gate_progress`, `gate`, `awaiting_promotion`, `promoted`, `summary`, `finished`.
    pub event: &'a str,
    pub step: Option<&'a str>,
    pub message: &'a str,
    pub data: serde_json::Value,
}

/// Where upgrade events go.
#[derive(Debug, Clone)]
pub struct Emitter {
    pub json: bool,
    pub id: String,
}

impl Emitter {
    pub fn emit(&self, event: &str, step: Option<&str>, message: &str, data: serde_json::Value) {
        if self.json {
            let line = UpgradeEvent {
                at: crate::time::now_secs(),
                upgrade: &self.id,
                event,
                step,
                message,
                data,
            };
            let mut out = std::io::stdout().lock();
            let _ = serde_json::to_writer(&mut out, &line);
            let _ = writeln!(out);
            let _ = out.flush();
        } else {
            match step {
                Some(step) => eprintln!("[{event}] {step}: {message}"),
                None => eprintln!("[{event}] {message}"),
            }
        }
    }

    /// The plan: its event, and its table for people.
    pub fn plan(&self, plan: &Plan, label: &str) {
        self.emit(
            "plan",
            None,
            if plan.feasible() {
                "feasible"
            } else {
                "not feasible"
            },
            serde_json::to_value(plan).unwrap_or_default(),
        );
        self.table(&plan_table(plan, label));
    }

    /// The summary of a finished upgrade: its event (totals and the drains), and its table.
    pub fn summary(&self, j: &Journal) {
        let duration = j.finished_at.unwrap_or_else(crate::time::now_secs) - j.started_at;
        let finished: i64 = j.drains.values().map(|d| d.builds_finished).sum();
        let requeued: i64 = j.drains.values().map(|d| d.builds_requeued).sum();
        let moved: usize = j.drains.values().map(|d| d.workers_handed_off.len()).sum();
        let mut data = serde_json::json!({
            "duration_secs": duration, "builds_finished": finished, "builds_requeued": requeued,
            "workers_moved": moved, "findings": j.findings, "drains": j.drains,
        });
        let mut message = format!(
            "{} in {}: {finished} build(s) finished during drains, {requeued} requeued, \
             {moved} worker(s) moved",
            j.config_label,
            human(duration)
        );
        if let Some((lines, migration)) = migration_summary(j) {
            data["migration"] = migration;
            message = format!(
                "{} in {}: {}",
                j.config_label,
                human(duration),
                lines.trim_end().replace('\n', "; ")
            );
        }
        self.emit("summary", None, &message, data);
        self.table(&summary_table(j, duration));
    }

    /// The upgrade went to the background: its event, and (for people) its id alone on stdout.
    pub fn detached(&self, id: &str, log: &std::path::Path) {
        self.emit(
            "detached",
            None,
            &format!(
                "upgrade {id} runs in the background; log: {}; follow with `bbctl upgrade status {id}`",
                log.display()
            ),
            serde_json::json!({ "log": log }),
        );
        if !self.json {
            println!("{id}");
        }
    }

    /// Plain text for people (a table): stdout, not in JSON mode.
    fn table(&self, text: &str) {
        if !self.json {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
}

/// The plan as people read it: one row per master, what happens to it.
fn plan_table(plan: &Plan, label: &str) -> String {
    let mut rows: Vec<Vec<String>> = plan
        .old
        .iter()
        .map(|m| {
            let batch = plan.batches.iter().position(|b| b.contains(m));
            let to = if plan.new.contains(m) { "itself" } else { "-" };
            let actions = if plan.strategy == StrategyName::Migrate {
                "graceful stop (all at once)"
            } else {
                "drain, stop"
            };
            vec![
                m.clone(),
                "old".into(),
                actions.into(),
                batch.map_or("-".into(), |b| (b + 1).to_string()),
                to.into(),
            ]
        })
        .collect();
    for m in plan.new.iter().filter(|m| !plan.old.contains(m)) {
        let canary = plan.canary.as_ref().is_some_and(|c| c.contains(m));
        rows.push(vec![
            m.clone(),
            if canary { "canary" } else { "new" }.into(),
            format!("activate {label}, start"),
            "-".into(),
            "-".into(),
        ]);
    }
    let serving = if plan.strategy == StrategyName::Migrate {
        "none serving during the migration window".to_string()
    } else {
        format!("at least {} serving throughout", plan.min_serving_during)
    };
    let mut text = format!(
        "Plan ({}): {} old master(s) -> {}; {serving}\n",
        plan.strategy.as_str(),
        plan.old.len(),
        label,
    );
    text.push_str(&format!(
        "New masters run buildbot: {}\n",
        plan.buildbot
            .as_deref()
            .unwrap_or("each agent's master.buildbot")
    ));
    text.push_str(&migrate_lines(plan));
    text.push_str(&canary::plan_line(plan));
    text.push_str(&table(
        &["MASTER", "ROLE", "ACTIONS", "BATCH", "NEW CONFIG ON"],
        &rows,
    ));
    for p in &plan.problems {
        text.push_str(&format!("problem: {p}\n"));
    }
    text
}

/// What each old master's drain did, with the handoff latencies.
fn summary_table(j: &Journal, duration: f64) -> String {
    let rows: Vec<Vec<String>> = j
        .drains
        .iter()
        .map(|(m, d)| {
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
            vec![
                m.clone(),
                d.builds_finished.to_string(),
                d.builds_requeued.to_string(),
                d.workers_handed_off.len().to_string(),
                p50,
                max,
            ]
        })
        .collect();
    let mut text = format!(
        "Upgrade {} to {}: done in {}\n",
        j.id,
        j.config_label,
        human(duration)
    );
    if let Some((lines, _)) = migration_summary(j) {
        text.push_str(&lines);
    }
    text.push_str(&canary::journal_lines(j));
    if !j.drains.is_empty() || j.migration.is_none() {
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
    }
    for f in &j.findings {
        text.push_str(&format!("note: {f}\n"));
    }
    text
}

/// `upgrade status`: the upgrade in one line, then its steps.
pub fn status(j: &Journal) -> String {
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
                s.state.as_str().into(),
                took,
                s.message.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut text = format!(
        "upgrade {} ({}) to {} by {}: {}{}\n",
        j.id,
        j.strategy.as_str(),
        j.config_label,
        j.requested_by,
        j.phase.as_str(),
        j.message
            .as_ref()
            .map_or(String::new(), |m| format!(" — {m}"))
    );
    if let Some((lines, _)) = migration_summary(j) {
        text.push_str(&lines);
    }
    if let Some(m) = &j.migration {
        let point = match (m.committed_at, m.restored_at) {
            (_, Some(_)) => "the backup was restored",
            (Some(_), None) => "past the point of no return (a new master entered the rotation)",
            (None, None) => "before the point of no return",
        };
        text.push_str(&format!("Migration: {point}\n"));
    }
    text.push_str(&canary::journal_lines(j));
    text.push_str(&table(&["STEP", "STATE", "TOOK", "MESSAGE"], &rows));
    text
}

/// `upgrade history`: one row per upgrade.
pub fn history(journals: &[Journal]) -> String {
    let rows: Vec<Vec<String>> = journals
        .iter()
        .map(|j| {
            vec![
                j.id.clone(),
                j.phase.as_str().into(),
                j.strategy.as_str().into(),
                j.config_label.clone(),
                j.requested_by.clone(),
                j.reason.clone(),
            ]
        })
        .collect();
    table(
        &["ID", "PHASE", "STRATEGY", "CONFIG", "BY", "REASON"],
        &rows,
    )
}

/// A flush-left table with a header row.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(header.to_vec());
    for row in rows {
        table.add_row(row.clone());
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 3));
    }
    let mut text = String::new();
    for line in table.to_string().lines() {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}
