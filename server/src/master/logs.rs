//! Reading the master's `twistd.log` from a known offset: what the master said since the agent
//! asked it to start or reconfig, and which of those lines explain a failure.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// How many trailing lines a failure report carries.
pub const TAIL_LINES: usize = 30;

pub fn log_path(basedir: &Path) -> PathBuf {
    basedir.join("twistd.log")
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
