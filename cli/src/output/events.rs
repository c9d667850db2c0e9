//! Events, one per line: `HH:MM:SS agent kind summary` for people, JSON Lines for scripts.

use std::io::Write;

use bbctl_api::Event;

use crate::cli::OutputFormat;

/// The human line of an event (time in UTC).
pub fn line(event: &Event) -> String {
    let secs = event.at.max(0.0) as u64 % 86_400;
    format!(
        "{:02}:{:02}:{:02} {} {} {}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        event.agent,
        event.kind,
        event.summary
    )
}

/// Prints events on stdout as they come.
pub struct Printer {
    json: bool,
}

impl Printer {
    pub fn new(format: OutputFormat, _tty: bool) -> Self {
        Printer {
            json: format == OutputFormat::Json,
        }
    }

    /// Prints one event on stdout and flushes it (followed streams must not sit in a buffer).
    pub fn print(&mut self, event: &Event) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        self.print_to(&mut out, event)?;
        out.flush()
    }

    pub fn print_to(&mut self, out: &mut impl Write, event: &Event) -> std::io::Result<()> {
        if self.json {
            serde_json::to_writer(&mut *out, event)?;
            writeln!(out)
        } else {
            writeln!(out, "{}", line(event))
        }
    }
}
