//! The one place that writes command results to stdout: tables for people (`table`, `wide`),
//! JSON for scripts (`json`; JSON Lines for events). Colours only when stdout is a terminal.

pub mod drain;
pub mod events;
mod masters_table;
pub mod progress;
mod rebalance;
mod routing;
mod show;
mod tables;
pub mod upgrade;

use std::io::Write;

use crate::cli::OutputFormat;
use crate::report::Report;

/// Renders a report on stdout. A closed pipe surfaces as an `io::Error` of kind `BrokenPipe`,
/// which `main` turns into a quiet exit.
pub fn render(report: &Report, format: OutputFormat, tty: bool) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let style = tables::Style {
        wide: format == OutputFormat::Wide,
        tty,
    };
    match (report, format) {
        (Report::Streamed, _) => {}
        (Report::Text(text), _) => out.write_all(text.as_bytes())?,
        (Report::Events(events), _) => {
            let mut printer = events::Printer::new(format, tty);
            for event in events {
                printer.print_to(&mut out, event)?;
            }
        }
        (report, OutputFormat::Json) => json(&mut out, report)?,
        (Report::Masters(rows), _) => write_table(&mut out, tables::masters(rows, style))?,
        (Report::Master(row), _) => show::master(&mut out, row, style)?,
        (Report::Workers(rows), _) => write_table(&mut out, tables::workers(rows, style))?,
        (Report::Builds(rows), _) => write_table(&mut out, tables::builds(rows, style))?,
        (Report::Schedulers(rows), _) => {
            write_table(&mut out, tables::schedulers(rows, style))?;
        }
        // No table at all when no drain started (each agent's error is on stderr).
        (Report::Drains(rows), _) if rows.is_empty() => {}
        (Report::Drains(rows), _) => write_table(&mut out, tables::drains(rows, style))?,
        (Report::Drain(row), _) => {
            write_table(&mut out, tables::drains(std::slice::from_ref(row), style))?;
            show::running_builds(&mut out, row, style)?;
            show::handoffs(&mut out, row, style)?;
        }
        (Report::Operation(row), _) => write_table(&mut out, tables::operation(row, style))?,
        (Report::Routing(row), _) => write_table(&mut out, routing::routing(row, style))?,
        (Report::MastersExpire(r), _) => out.write_all(masters_table::expire(r).as_bytes())?,
        (Report::MastersPrune(r), _) => out.write_all(masters_table::prune(r).as_bytes())?,
        (Report::Rebalance(r), _) => rebalance::report(&mut out, r, style)?,
        (Report::Upgrade(journal), _) => out.write_all(upgrade::status(journal).as_bytes())?,
        (Report::Upgrades(journals), _) => out.write_all(upgrade::history(journals).as_bytes())?,
    }
    out.flush()?;
    Ok(())
}

fn json(out: &mut impl Write, report: &Report) -> anyhow::Result<()> {
    match report {
        Report::Masters(rows) => serde_json::to_writer_pretty(&mut *out, rows)?,
        Report::Master(row) => serde_json::to_writer_pretty(&mut *out, row)?,
        Report::Workers(rows) => serde_json::to_writer_pretty(&mut *out, rows)?,
        Report::Builds(rows) => serde_json::to_writer_pretty(&mut *out, rows)?,
        Report::Schedulers(rows) => serde_json::to_writer_pretty(&mut *out, rows)?,
        Report::Drains(rows) => serde_json::to_writer_pretty(&mut *out, rows)?,
        Report::Drain(row) => serde_json::to_writer_pretty(&mut *out, row)?,
        Report::Operation(row) => serde_json::to_writer_pretty(&mut *out, row)?,
        Report::Routing(row) => serde_json::to_writer_pretty(&mut *out, row)?,
        Report::MastersExpire(r) => serde_json::to_writer_pretty(&mut *out, r)?,
        Report::MastersPrune(r) => serde_json::to_writer_pretty(&mut *out, r)?,
        Report::Rebalance(r) => serde_json::to_writer_pretty(&mut *out, r)?,
        Report::Upgrade(journal) => serde_json::to_writer_pretty(&mut *out, journal)?,
        Report::Upgrades(journals) => serde_json::to_writer_pretty(&mut *out, journals)?,
        Report::Events(_) | Report::Text(_) | Report::Streamed => return Ok(()),
    }
    writeln!(out)?;
    Ok(())
}

/// Writes a comfy-table flush left, without the trailing blanks its padding leaves on lines.
fn write_table(out: &mut impl Write, mut table: comfy_table::Table) -> std::io::Result<()> {
    for column in table.column_iter_mut() {
        column.set_padding((0, 3));
    }
    for line in table.to_string().lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
