//! The live output of `bbctl upgrade`: with `-o json` one JSON event per line on stdout (the
//! contract for scripts, see docs/upgrade.md); otherwise a line per step on stderr and the plan
//! and the summary as tables on stdout.

use std::io::Write;

use serde::Serialize;

/// One event of an upgrade (`-o json`: one per line).
#[derive(Debug, Clone, Serialize)]
pub struct UpgradeEvent<'a> {
    /// Epoch seconds.
    pub at: f64,
    /// The upgrade id (empty before the journal exists).
    pub upgrade: &'a str,
    /// `plan`, `preflight`, `step_started`, `step_done`, `step_failed`, `rollback`, `verify`,
    /// `summary`, `finished`.
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

    /// Plain text for people (a table): stdout, not in JSON mode.
    pub fn table(&self, text: &str) {
        if !self.json {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
}

/// A flush-left table with a header row.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
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
