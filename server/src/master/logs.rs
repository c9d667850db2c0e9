//! Reading the master's `twistd.log`: from a known offset (what the master said since the agent
//! asked it to start or reconfig, and which of those lines explain a failure), or its end (the
//! signs of trouble since a moment, `super::log_signals`).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bbctl_api::LogSignals;

use super::log_signals::LogScan;

/// How many trailing lines a failure report carries.
pub const TAIL_LINES: usize = 30;

/// How much of the end of each log file [`signals_since`] reads.
pub const SCAN_BYTES: u64 = 16 << 20;

pub fn log_path(basedir: &Path) -> PathBuf {
    basedir.join("twistd.log")
}

/// The newest older part of the log: Twisted's `LogFile` renames `twistd.log` to `twistd.log.1`
/// when it rotates it (the older parts to `.2`, `.3`, …).
pub fn rotated_path(basedir: &Path) -> PathBuf {
    basedir.join("twistd.log.1")
}

/// The last `max` bytes of `path` as text, from the first whole line in them.
pub fn tail(path: &Path, max: u64) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let start = file.metadata()?.len().saturating_sub(max);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(max).read_to_end(&mut bytes)?;
    let whole = if start == 0 {
        0
    } else {
        bytes
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| i + 1)
    };
    Ok(String::from_utf8_lossy(&bytes[whole..]).into_owned())
}

/// The signs of trouble the master logged at or after `since_secs` (Unix seconds): in
/// `twistd.log.1` when it was written to since then, and in `twistd.log`, the last
/// [`SCAN_BYTES`] of each. Not `readable` (and nothing counted) when `twistd.log` cannot be read.
pub fn signals_since(basedir: &Path, since_secs: i64) -> LogSignals {
    let rotated = rotated_path(basedir);
    let older = modified_since(&rotated, since_secs)
        .then(|| tail(&rotated, SCAN_BYTES).ok())
        .flatten();
    let Ok(current) = tail(&log_path(basedir), SCAN_BYTES) else {
        return LogSignals::default();
    };
    let mut scan = LogScan::new(since_secs);
    if let Some(older) = older {
        scan.feed(&older);
    }
    scan.feed(&current);
    scan.finish()
}

/// Whether `path` was last written at or after `since_secs`.
fn modified_since(path: &Path, since_secs: i64) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .is_some_and(|d| d.as_secs_f64() >= since_secs as f64)
}

/// The current length of the log (0 if absent): the offset to read from after an action.
pub fn offset(log: &Path) -> u64 {
    std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
}

/// Everything written to `log` since `offset`. If the log is now shorter (it was rotated),
/// the whole new file is returned.
pub fn read_since(log: &Path, offset: u64) -> String {
    let Ok(mut file) = std::fs::File::open(log) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = if len < offset { 0 } else { offset };
    if file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The lines that say why something failed: every line mentioning a traceback, an error or a
/// failure, then the last [`TAIL_LINES`] lines; each line once, in log order.
pub fn failure_lines(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let tail_start = lines.len().saturating_sub(TAIL_LINES);
    lines
        .iter()
        .enumerate()
        .filter(|(i, line)| {
            let lower = line.to_ascii_lowercase();
            *i >= tail_start
                || line.contains("Traceback")
                || lower.contains("error")
                || lower.contains("failed")
        })
        .map(|(_, line)| (*line).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_from_offset_and_restarts_after_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("twistd.log");
        assert_eq!(offset(&log), 0);
        std::fs::write(&log, "old line\n").unwrap();
        let off = offset(&log);
        std::fs::write(&log, "old line\nnew line\n").unwrap();
        assert_eq!(read_since(&log, off), "new line\n");
        std::fs::write(&log, "rot\n").unwrap();
        assert_eq!(read_since(&log, off), "rot\n");
    }

    #[test]
    fn a_tail_starts_at_a_whole_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("twistd.log");
        std::fs::write(&log, "first line\nsecond\nthird\n").unwrap();
        assert_eq!(tail(&log, 100).unwrap(), "first line\nsecond\nthird\n");
        assert_eq!(tail(&log, 10).unwrap(), "third\n");
        assert!(tail(&dir.path().join("none"), 10).is_err());
    }

    #[test]
    fn signals_come_from_the_rotated_part_only_when_it_was_written_since() {
        let dir = tempfile::tempdir().unwrap();
        let since = 1_700_000_000;
        assert_eq!(signals_since(dir.path(), since), LogSignals::default());
        let guru = "2023-11-14 22:13:30+0000 [-] Guru meditation! We have been disconnected \
                    from wamp server\n";
        std::fs::write(rotated_path(dir.path()), guru).unwrap();
        std::fs::write(
            log_path(dir.path()),
            "2023-11-14 22:13:31+0000 [-] while publishing event x\n",
        )
        .unwrap();
        let both = signals_since(dir.path(), since);
        assert!(both.readable);
        assert_eq!(both.wamp_lost, 2);
        assert!(
            both.evidence[0].contains("Guru meditation"),
            "older part first"
        );
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
        std::fs::File::options()
            .write(true)
            .open(rotated_path(dir.path()))
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(signals_since(dir.path(), since).wamp_lost, 1);
    }

    #[test]
    fn failure_lines_keep_errors_and_the_tail_once() {
        let mut text = String::from("start\nTraceback (most recent call last):\nan Error here\n");
        for i in 0..40 {
            text.push_str(&format!("filler {i}\n"));
        }
        text.push_str("BuildMaster startup failed\n");
        let lines = failure_lines(&text);
        assert_eq!(lines[0], "Traceback (most recent call last):");
        assert_eq!(lines[1], "an Error here");
        assert_eq!(lines.last().unwrap(), "BuildMaster startup failed");
        assert_eq!(lines.len(), 2 + TAIL_LINES);
        assert!(!lines.contains(&"start".to_string()));
    }
}
