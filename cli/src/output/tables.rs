//! The tables of the human output formats, one builder per report.

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};

use bbctl_api::ServiceKind;

use crate::report::{
    BuildRow, DrainRow, MasterRow, OperationRow, RowState, SchedulerRow, WorkerRow,
};
use crate::time::{human, now_secs};

/// How a table is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// `-o wide`: more columns.
    pub wide: bool,
    /// stdout is a terminal: colours are allowed.
    pub tty: bool,
}

/// A borderless table (kubectl style) with a header.
pub fn table(style: Style, header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    // Rows never wrap (like kubectl), so comfy-table must not ask the terminal for its width:
    // under `script` a terminal reports 0 columns, which squeezes columns to one character.
    table
        .set_content_arrangement(ContentArrangement::Disabled)
        .force_no_tty();
    if style.tty {
        table.enforce_styling();
    }
    table.set_header(header.iter().map(Cell::new));
    table
}

/// `-` for an absent value.
pub fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

pub fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// `label (sha256[..12])`.
pub fn config(label: Option<&str>, sha: Option<&str>) -> String {
    match (label, sha) {
        (Some(label), Some(sha)) => format!("{label} ({})", &sha[..sha.len().min(12)]),
        (Some(label), None) => label.to_string(),
        _ => "-".to_string(),
    }
}

fn state_cell(state: RowState, tty: bool) -> Cell {
    let cell = Cell::new(state.as_str());
    if !tty {
        return cell;
    }
    match state {
        RowState::Running => cell.fg(Color::Green),
        RowState::Draining | RowState::Cordoned | RowState::Starting | RowState::Stopping => {
            cell.fg(Color::Yellow)
        }
        RowState::Unreachable | RowState::Error | RowState::Unhealthy | RowState::Silent => {
            cell.fg(Color::Red)
        }
        RowState::StaleName => cell.fg(Color::Yellow),
        _ => cell,
    }
}

pub fn masters(rows: &[MasterRow], style: Style) -> Table {
    let mut header = vec![
        "NAME", "STATE", "ACTIVE", "ROUTING", "CONFIG", "VERSION", "WORKERS", "BUILDS", "UPTIME",
        "SOURCE",
    ];
    if style.wide {
        header.extend(["URL", "MASTERID", "PID", "BUILDBOT NAME", "EXECUTABLE"]);
    }
    let mut table = table(style, &header);
    for row in rows {
        let mut cells = vec![
            Cell::new(&row.name),
            state_cell(row.state, style.tty),
            Cell::new(opt(row.active.map(yes_no))),
            Cell::new(opt(row.routing.map(|r| r.as_str()))),
            Cell::new(config(
                row.config_label.as_deref(),
                row.config_sha256.as_deref(),
            )),
            Cell::new(opt(row.buildbot_version.as_deref())),
            Cell::new(opt(row.workers)),
            Cell::new(opt(row.builds)),
            Cell::new(opt(row.uptime_secs.map(human))),
            Cell::new(source(row)),
        ];
        if style.wide {
            cells.extend([
                Cell::new(&row.url),
                Cell::new(opt(row.masterid)),
                Cell::new(opt(row.pid)),
                Cell::new(opt(row.buildbot_name.as_deref())),
                Cell::new(opt(row.buildbot_executable.as_deref())),
            ]);
        }
        table.add_row(cells);
    }
    table
}

/// The SOURCE cell: `both`, `inventory`, `registry` or `buildbot`; a late registry heartbeat
/// adds its age (`both, silent 45s`), a Buildbot row its `last_active` age.
pub fn source(row: &MasterRow) -> String {
    let Some(source) = row.source else {
        return "-".to_string();
    };
    if let Some(reg) = row.registry.as_ref().filter(|r| r.silent && !r.stopped) {
        return format!(
            "{}, silent {}",
            source.as_str(),
            human(reg.heartbeat_age_secs)
        );
    }
    match row.last_active_age_secs {
        Some(age) => format!("{}, last active {} ago", source.as_str(), human(age as f64)),
        None => source.as_str().to_string(),
    }
}

pub fn workers(rows: &[WorkerRow], style: Style) -> Table {
    let mut header = vec!["WORKER", "MASTER", "STATE", "PAUSED"];
    if style.wide {
        header.extend(["WORKERID", "BUILDS", "PAUSE REASON"]);
    }
    let mut table = table(style, &header);
    for row in rows {
        let mut cells = vec![
            row.name.clone(),
            opt(row.master.as_deref()),
            row.state.clone(),
            yes_no(row.paused).to_string(),
        ];
        if style.wide {
            let builds: Vec<String> = row.builds.iter().map(i64::to_string).collect();
            cells.extend([
                row.workerid.to_string(),
                builds.join(","),
                opt(row.pause_reason.as_deref()),
            ]);
        }
        table.add_row(cells);
    }
    table
}

pub fn schedulers(rows: &[SchedulerRow], style: Style) -> Table {
    let mut header = vec!["KIND", "NAME", "OWNER"];
    if style.wide {
        header.extend(["MASTERID", "BUILDBOT NAME"]);
    }
    let mut table = table(style, &header);
    for row in rows {
        let kind = match row.kind {
            ServiceKind::Scheduler => "scheduler",
            ServiceKind::ChangeSource => "change source",
        };
        let mut cells = vec![
            kind.to_string(),
            row.name.clone(),
            row.owner.clone().unwrap_or_else(|| "(unowned)".to_string()),
        ];
        if style.wide {
            cells.extend([opt(row.masterid), opt(row.buildbot_name.as_deref())]);
        }
        table.add_row(cells);
    }
    table
}

pub fn builds(rows: &[BuildRow], style: Style) -> Table {
    let mut header = vec!["BUILD", "BUILDER", "NUMBER", "WORKER", "MASTER", "AGE"];
    if style.wide {
        header.push("STATE");
    }
    let mut table = table(style, &header);
    for row in rows {
        let mut cells = vec![
            row.buildid.to_string(),
            opt(row.builder.as_deref()),
            opt(row.number),
            opt(row.worker.as_deref()),
            opt(row.master.as_deref()),
            opt(row.age_secs.map(|s| human(s as f64))),
        ];
        if style.wide {
            cells.push(opt(row.state_string.as_deref()));
        }
        table.add_row(cells);
    }
    table
}

pub fn drains(rows: &[DrainRow], style: Style) -> Table {
    let mut header = vec![
        "MASTER",
        "PHASE",
        "BUILDS LEFT",
        "FINISHED",
        "REQUEUED",
        "WORKERS LEFT",
        "HANDED OFF",
        "ELAPSED",
    ];
    if style.wide {
        header.extend(["DEADLINE IN", "REQUESTED BY", "REASON"]);
    }
    header.push("MESSAGE");
    let mut table = table(style, &header);
    let now = now_secs();
    for row in rows {
        let s = &row.status;
        let elapsed = s.finished_at.unwrap_or(now) - s.started_at;
        let mut cells = vec![
            row.master.clone(),
            s.phase.to_string(),
            s.builds_running.to_string(),
            s.builds_finished.to_string(),
            s.builds_requeued.to_string(),
            s.workers_attached.to_string(),
            s.workers_handed_off.len().to_string(),
            human(elapsed),
        ];
        if style.wide {
            cells.extend([
                opt(s.deadline_at.map(|at| human(at - now))),
                opt(s.requested_by.as_deref()),
                opt(s.reason.as_deref()),
            ]);
        }
        let message = super::drain::failing(s, now).or_else(|| s.message.clone());
        cells.push(opt(message));
        table.add_row(cells);
    }
    table
}

pub fn operation(row: &OperationRow, style: Style) -> Table {
    let r = &row.result;
    let mut header = vec!["MASTER", "OPERATION", "OK", "DURATION"];
    // A start says whether the master is (back) in the load balancer's rotation.
    if r.routing.is_some() {
        header.push("ROUTING");
    }
    header.push("MESSAGE");
    let mut table = table(style, &header);
    let mut cells = vec![
        row.master.clone(),
        r.kind.clone(),
        yes_no(r.ok).to_string(),
        opt(r.finished_at.map(|end| human(end - r.started_at))),
    ];
    if let Some(routing) = &r.routing {
        cells.push(super::routing::after_start(routing));
    }
    cells.push(r.message.clone());
    table.add_row(cells);
    table
}
