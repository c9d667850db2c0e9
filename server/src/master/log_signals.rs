//! Signs of trouble in the master's `twistd.log` since a moment, for `GET /v1/master/analysis`:
//! Python tracebacks, a reconfig applied half-way, a lost WAMP router. Pure — text in, counts
//! out; `super::logs::signals_since` reads the files.
//!
//! Twisted's `FileLogObserver` writes each log event as `YYYY-MM-DD HH:MM:SS+ZZZZ [system] text`
//! (the offset is the machine's zone, `+0000` on most servers) and turns every further line of a
//! multi-line text into one starting with a TAB and no stamp. An *entry* is a stamped line and the
//! unstamped lines after it; it counts when its stamp is at or after the moment, and each kind of
//! signal counts once per entry. Stamps have whole seconds, so "at or after" compares with the
//! second the moment falls in.

use bbctl_api::LogSignals;

/// The most evidence lines an answer carries.
pub const MAX_EVIDENCE: usize = 20;
/// The longest evidence line, in characters (a log line can hold a whole config dump).
const MAX_EVIDENCE_CHARS: usize = 300;

const TRACEBACK: &str = "Traceback (most recent call last):";
/// Buildbot's `master.py` after a reconfig that failed once it had changed something.
const RECONFIG_PARTIAL: &str = "configuration update partially applied";
/// Buildbot's `wamp/connector.py`: "Guru meditation! We have been disconnected from wamp
/// server" when the router went away, `log.err(…, "while publishing event " + topic)` when a
/// publish found the transport lost.
const WAMP_LOST: [&str; 2] = ["disconnected from wamp server", "while publishing event"];

/// `2024-05-01 10:00:00+0000`: the length of a stamp.
const STAMP_LEN: usize = 24;

/// A scan of one or more log texts, oldest first, for the entries stamped at or after a moment.
pub struct LogScan {
    since_secs: i64,
    signals: LogSignals,
}

impl LogScan {
    /// A scan for the entries stamped at or after `since_secs` (whole Unix seconds) of a log
    /// that could be read.
    pub fn new(since_secs: i64) -> Self {
        LogScan {
            since_secs,
            signals: LogSignals {
                readable: true,
                ..LogSignals::default()
            },
        }
    }

    /// Scans `text`, a whole log file or its end. Lines before its first stamped line continue
    /// an entry that began before the text and are skipped.
    pub fn feed(&mut self, text: &str) {
        // The lines of the current entry while it is stamped at or after `since_secs`.
        let mut current: Option<Vec<&str>> = None;
        for line in text.lines() {
            match stamp(line) {
                Some(secs) => {
                    if let Some(lines) = current.take() {
                        self.judge(&lines);
                    }
                    current = (secs >= self.since_secs).then(|| vec![line]);
                }
                None => {
                    if let Some(lines) = &mut current {
                        lines.push(line);
                    }
                }
            }
        }
        if let Some(lines) = current {
            self.judge(&lines);
        }
    }

    pub fn finish(self) -> LogSignals {
        self.signals
    }

    /// Counts the signals of one entry (`lines[0]` is its stamped line) and keeps its evidence,
    /// in line order.
    fn judge(&mut self, lines: &[&str]) {
        let mut evidence: Vec<usize> = Vec::new();
        if let Some(header) = lines.iter().position(|l| l.contains(TRACEBACK)) {
            self.signals.tracebacks += 1;
            evidence.push(exception_line(lines, header).unwrap_or(header));
        }
        if let Some(i) = lines.iter().position(|l| l.contains(RECONFIG_PARTIAL)) {
            self.signals.reconfig_partial += 1;
            evidence.push(i);
        }
        if let Some(i) = lines
            .iter()
            .position(|l| WAMP_LOST.iter().any(|p| l.contains(p)))
        {
            self.signals.wamp_lost += 1;
            evidence.push(i);
        }
        evidence.sort_unstable();
        evidence.dedup();
        for i in evidence {
            if self.signals.evidence.len() >= MAX_EVIDENCE {
                break;
            }
            self.signals.evidence.push(evidence_line(lines, i));
        }
    }
}

/// The exception line of the traceback whose header is `lines[header]`: the last line after it
/// that is not indented beyond the continuation TAB (`builtins.RuntimeError: boom`; frames and
/// source lines are indented, Twisted's `--- <exception caught here> ---` comes before it).
fn exception_line(lines: &[&str], header: usize) -> Option<usize> {
    lines[header + 1..]
        .iter()
        .rposition(|l| {
            let text = l.strip_prefix('\t').unwrap_or(l);
            !text.trim().is_empty() && !text.starts_with([' ', '\t'])
        })
        .map(|i| header + 1 + i)
}

/// `lines[i]` as evidence: the stamped line as it is, a continuation line after its entry's
/// stamp; at most [`MAX_EVIDENCE_CHARS`] characters.
fn evidence_line(lines: &[&str], i: usize) -> String {
    let line = if i == 0 {
        lines[0].to_owned()
    } else {
        let text = lines[i].strip_prefix('\t').unwrap_or(lines[i]);
        format!("{} {text}", &lines[0][..STAMP_LEN])
    };
    line.chars().take(MAX_EVIDENCE_CHARS).collect()
}

/// The Unix time of a line's stamp (`YYYY-MM-DD HH:MM:SS±HHMM ` at its start), if it has one.
pub fn stamp(line: &str) -> Option<i64> {
    let b = line.as_bytes();
    if b.len() <= STAMP_LEN || b[STAMP_LEN] != b' ' {
        return None;
    }
    let separators = [(4, b'-'), (7, b'-'), (10, b' '), (13, b':'), (16, b':')];
    if separators.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let sign = match b[19] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let num = |from: usize, to: usize| -> Option<i64> {
        let digits = &b[from..to];
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let (off_hours, off_minutes) = (num(20, 22)?, num(22, 24)?);
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second <= 60
        && off_minutes < 60;
    if !valid {
        return None;
    }
    let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(local - sign * (off_hours * 3600 + off_minutes * 60))
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
#[path = "log_signals_tests.rs"]
mod tests;
