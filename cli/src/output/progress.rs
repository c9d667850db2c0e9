//! Live progress of drains on stderr: one indicatif bar per master on a terminal (events
//! printed above the bars), plain lines when stderr is not a terminal. What a line says is
//! [`super::drain::describe`]; it is redrawn with the time at each poll, so a long build shows
//! its age and the deadline counts down.

use std::sync::{Arc, Mutex};

use bbctl_api::DrainStatus;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::drain::{PlainLines, describe};
use crate::report::DrainRow;
use crate::time::now_secs;

/// A cheap-to-clone handle shared by the poller and the event printer.
#[derive(Clone)]
pub struct DrainProgress {
    inner: Arc<Inner>,
}

struct Inner {
    names: Vec<String>,
    bars: Option<(MultiProgress, Vec<ProgressBar>)>,
    /// Plain mode: what was printed per master, so that changes and heartbeats are printed.
    plain: Mutex<PlainLines>,
}

impl DrainProgress {
    pub fn new(tty: bool, rows: &[DrainRow]) -> Self {
        let names: Vec<String> = rows.iter().map(|r| r.master.clone()).collect();
        let bars = tty.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let width = names.iter().map(String::len).max().unwrap_or(8);
            let style = ProgressStyle::with_template(&format!(
                "{{prefix:<{width}}} [{{bar:30.cyan/blue}}] {{pos}}/{{len}} builds  {{msg}}"
            ))
            .expect("the template is valid")
            .progress_chars("=> ");
            let bars = names
                .iter()
                .map(|name| {
                    let bar = multi.add(ProgressBar::new(0));
                    bar.set_style(style.clone());
                    bar.set_prefix(name.clone());
                    bar
                })
                .collect();
            (multi, bars)
        });
        let progress = DrainProgress {
            inner: Arc::new(Inner {
                names,
                bars,
                plain: Mutex::new(PlainLines::new(rows.len())),
            }),
        };
        for (i, row) in rows.iter().enumerate() {
            progress.update(i, &row.status);
        }
        progress
    }

    /// Shows the latest status of master `i`.
    pub fn update(&self, i: usize, status: &DrainStatus) {
        let done = (status.builds_finished + status.builds_requeued).max(0) as u64;
        let total = done + status.builds_running.max(0) as u64;
        let now = now_secs();
        match &self.inner.bars {
            Some((_, bars)) => {
                bars[i].set_length(total);
                bars[i].set_position(done);
                bars[i].set_message(describe(status, now));
            }
            None => {
                let mut plain = self.inner.plain.lock().expect("no panics while locked");
                if let Some(line) = plain.next(i, status, now) {
                    eprintln!("{}: {line}", self.inner.names[i]);
                }
            }
        }
    }

    /// Prints a line above the bars (or plainly on stderr).
    pub fn note(&self, line: &str) {
        match &self.inner.bars {
            Some((multi, _)) => {
                let _ = multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// Leaves the bars in their final state.
    pub fn finish(&self) {
        if let Some((_, bars)) = &self.inner.bars {
            for bar in bars {
                bar.abandon();
            }
            // indicatif leaves the cursor at the end of the last bar; the summary follows below.
            eprintln!();
        }
    }
}
