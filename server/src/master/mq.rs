//! Whether the master lost its message queue (fault 8 of docs/faults.md). A Buildbot master whose
//! WAMP router goes away logs "Guru meditation! We have been disconnected from wamp server",
//! stops its services and never reconnects — while its process stays alive (and ignores
//! SIGTERM). Only its `twistd.log` since its last start tells; the process check cannot.

use std::path::Path;

use super::logs;

/// What `GET /v1/master` `problems` and `/readyz` say about such a master.
pub const LOST_MQ: &str = "lost the message queue (restart needed): twistd.log says \"Guru \
                           meditation! We have been disconnected from wamp server\"";

/// How much of the end of `twistd.log` is read (the start line of the running process is in it
/// unless the log grew by more since then; the disconnect line is always after it).
const TAIL_BYTES: u64 = 4 << 20;

/// True when the master's log, since its last `twistd … starting up.` line, holds the WAMP
/// disconnect line.
pub fn lost_mq(basedir: &Path) -> bool {
    logs::tail(&logs::log_path(basedir), TAIL_BYTES).is_ok_and(|text| lost_in(&text))
}

fn lost_in(text: &str) -> bool {
    let since = text.rfind(") starting up.").map_or(text, |i| &text[i..]);
    since.contains("Guru meditation! We have been disconnected from wamp server")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_disconnect_since_the_last_start_counts() {
        let start = "twistd 24.11.0 (/venv/bin/python3 3.11.2) starting up.\n";
        let guru = "Guru meditation! We have been disconnected from wamp server\n";
        assert!(!lost_in(start));
        assert!(lost_in(&format!("{start}x\n{guru}")));
        assert!(!lost_in(&format!(
            "{start}{guru}{start}BuildMaster is running\n"
        )));
        assert!(
            lost_in(guru),
            "a log without a start line (rotated) still counts"
        );
    }

    #[test]
    fn a_missing_log_is_not_a_lost_queue() {
        assert!(!lost_mq(Path::new("/nonexistent/basedir")));
    }
}
