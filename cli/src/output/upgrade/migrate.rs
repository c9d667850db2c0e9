//! What `migrate` adds to the upgrade's output: the schema line and the expected window in the
//! plan, the backup line, and the summary's backup and measured window.

use crate::report::upgrade::{BackupRecord, Journal, Plan, StrategyName};
use crate::time::human;

/// The plan's line about the schema, for people (`None`: nothing to say).
pub fn schema_line(plan: &Plan) -> Option<String> {
    let schema = plan.schema.as_ref()?;
    Some(match (&schema.to, plan.strategy) {
        (Some(to), StrategyName::Migrate) => {
            format!("migrate (chosen: DB schema {} -> {to})", schema.from)
        }
        (Some(to), _) => format!("DB schema {} -> {to}", schema.from),
        (None, _) => format!(
            "DB schema {} -> unknown: no agent reports the new Buildbot's schema head before it \
             is staged (--dry-run stages nothing); if it is newer, the upgrade runs as migrate",
            schema.from
        ),
    })
}

/// The schema change and, for migrate, the steps and the expected window.
pub(super) fn migrate_lines(plan: &Plan) -> String {
    let mut text = String::new();
    if let Some(line) = schema_line(plan) {
        text.push_str(&format!("{line}\n"));
    }
    if let Some(w) = &plan.window_estimate {
        text.push_str(&format!(
            "Steps: graceful stop of every old master, wait until they exit, back up the DB, \
             upgrade-master once, start the new masters\n\
             No master claims builds from the stop until the first new master is ready: at \
             least {} (longest running build {} + migration ~{} + start ~{} + load balancer \
             ~{})\n",
            human(w.at_least_secs),
            human(w.longest_build_secs),
            human(w.migration_secs),
            human(w.start_secs),
            human(w.lb_settle_secs),
        ));
    }
    text
}

/// `backup: /state/db-backups/up-1-066.dump, 106000 bytes, sha256 … (schema 066, pg_dump 15.8
/// on master-1)`: a step's message and the summary's line.
pub fn backup_line(b: &BackupRecord) -> String {
    format!(
        "backup: {}{}{} (schema {}, {} on {})",
        b.location,
        b.size_bytes
            .map_or(String::new(), |s| format!(", {s} bytes")),
        b.sha256
            .as_deref()
            .map_or(String::new(), |s| format!(", sha256 {s}")),
        b.head,
        b.tool,
        b.agent
    )
}

/// The summary's lines about a migration (the backup and the window as measured), and the
/// same as the summary event's `migration` data.
pub(super) fn migration_summary(j: &Journal) -> Option<(String, serde_json::Value)> {
    let m = j.migration.as_ref()?;
    let backup = match &m.backup {
        Some(b) => backup_line(b),
        None if m.no_backup => "backup: none (--no-backup)".into(),
        None => "backup: none".into(),
    };
    let window = m.window.measured_secs();
    let text = format!(
        "DB schema {} -> {}; {backup}\nNo-service window: {} (graceful stop to first new master ready)\n",
        m.from_head,
        m.to_head,
        window.map_or("unknown".into(), |w| format!("{w:.1}s")),
    );
    let data = serde_json::json!({
        "backup": m.backup, "no_backup": m.no_backup, "window_secs": window,
        "from_head": m.from_head, "to_head": m.to_head,
    });
    Some((text, data))
}
