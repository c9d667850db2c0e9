//! `masters show` and `drain status` in the human formats: a block of facts, then tables.

use std::io::Write;

use super::tables::{Style, config, opt, source, table, yes_no};
use super::write_table;
use crate::report::{DrainRow, MasterRow};
use crate::time::human;

pub fn master(out: &mut impl Write, row: &MasterRow, style: Style) -> std::io::Result<()> {
    let field = |out: &mut dyn Write, key: &str, value: String| {
        writeln!(out, "{:<12}{value}", format!("{key}:"))
    };
    field(out, "Name", row.name.clone())?;
    field(out, "Agent", row.url.clone())?;
    field(out, "Source", source(row))?;
    field(
        out,
        "State",
        format!(
            "{}{}",
            row.state.as_str(),
            if row.standby { " (standby slot)" } else { "" }
        ),
    )?;
    field(out, "Active", opt(row.active.map(yes_no)))?;
    field(
        out,
        "Routing",
        super::routing::state(row.routing, row.routing_reason.as_deref()),
    )?;
    field(
        out,
        "Config",
        config(row.config_label.as_deref(), row.config_sha256.as_deref()),
    )?;
    field(out, "Version", opt(row.buildbot_version.as_deref()))?;
    field(out, "Executable", opt(row.buildbot_executable.as_deref()))?;
    field(
        out,
        "Buildbot",
        format!(
            "{} (masterid {})",
            opt(row.buildbot_name.as_deref()),
            opt(row.masterid)
        ),
    )?;
    field(
        out,
        "Process",
        format!(
            "pid {}, up {}",
            opt(row.pid),
            opt(row.uptime_secs.map(human))
        ),
    )?;
    let Some(info) = &row.master else {
        return Ok(());
    };
    field(out, "Basedir", info.basedir.clone())?;
    field(out, "REST", info.rest_url.clone())?;
    if let Some(drain) = &info.drain {
        field(
            out,
            "Drain",
            format!("{} ({} builds left)", drain.phase, drain.builds_running),
        )?;
    }
    for problem in &info.problems {
        field(out, "Problem", problem.clone())?;
    }

    writeln!(out, "\nWorkers ({}):", info.workers.len())?;
    if !info.workers.is_empty() {
        let mut workers = table(style, &["WORKER", "STATE", "PAUSED", "BUILDS"]);
        for w in &info.workers {
            let builds: Vec<String> = w.builds.iter().map(i64::to_string).collect();
            let state = if w.idle() { "idle" } else { "busy" };
            workers.add_row(vec![
                w.name.clone(),
                state.into(),
                yes_no(w.paused).into(),
                builds.join(","),
            ]);
        }
        write_table(out, workers)?;
    }
    writeln!(out, "\nBuilds ({}):", info.builds.len())?;
    if !info.builds.is_empty() {
        let now = crate::time::now_secs() as i64;
        let mut builds = table(
            style,
            &["BUILD", "BUILDER", "NUMBER", "WORKER", "AGE", "STATE"],
        );
        for b in &info.builds {
            builds.add_row(vec![
                b.buildid.to_string(),
                opt(b.builder_name.as_deref()),
                opt(b.number),
                opt(b.worker_name.as_deref()),
                opt(b.started_at.map(|at| human((now - at) as f64))),
                opt(b.state_string.as_deref()),
            ]);
        }
        write_table(out, builds)?;
    }
    writeln!(
        out,
        "\nClaimed build requests: {}",
        info.claimed_requests.len()
    )
}

/// The builds still running on a draining master, with their age, under the drain's row.
pub fn running_builds(out: &mut impl Write, row: &DrainRow, style: Style) -> std::io::Result<()> {
    let builds = &row.status.running_builds;
    if builds.is_empty() || !row.status.phase.holds_master() {
        return Ok(());
    }
    writeln!(out, "\nBuilds running ({}):", builds.len())?;
    let now = crate::time::now_secs();
    let mut t = table(style, &["BUILD", "NUMBER", "WORKER", "AGE"]);
    for b in builds {
        t.add_row(vec![
            b.buildid.to_string(),
            opt(b.number),
            opt(b.worker.as_deref()),
            opt(b.started_at.map(|at| human(now - at))),
        ]);
    }
    write_table(out, t)
}

/// The workers a drain handed off, under the drain's row.
pub fn handoffs(out: &mut impl Write, row: &DrainRow, style: Style) -> std::io::Result<()> {
    let handed = &row.status.workers_handed_off;
    if handed.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nWorkers handed off ({}):", handed.len())?;
    let mut t = table(
        style,
        &["WORKER", "FREE AFTER", "TO MASTER", "ATTACHED AFTER"],
    );
    for h in handed {
        t.add_row(vec![
            h.worker.clone(),
            human(h.free_at - row.status.started_at),
            opt(h.to_master.as_deref()),
            opt(h
                .attached_elsewhere_at
                .map(|at| human(at - row.status.started_at))),
        ]);
    }
    write_table(out, t)
}
