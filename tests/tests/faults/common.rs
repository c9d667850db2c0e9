//! Checks shared by the fault tests: the "nothing lost" invariants and process helpers.

use std::process::Command;
use std::time::Duration;

use bbctl_e2e::{Buildbot, pid_alive, wait_until};

use crate::support::{BUILD_TIMEOUT, paused_workers};

/// `kill -SIG pid`; waits for the process to be gone when the signal is KILL.
pub fn kill(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
    if sig == "KILL" {
        wait_until(
            &format!("pid {pid} to die"),
            Duration::from_secs(10),
            || Ok((!pid_alive(pid)).then_some(())),
        )
        .unwrap();
    }
}

/// SIGKILLs the worker in `basedir` and starts it again (`buildbot-worker start`, the fleet's
/// venv). Returns whether the start succeeded.
pub fn restart_worker(fleet: &bbctl_e2e::Fleet, basedir: &std::path::Path) -> bool {
    let pid = crate::support::twistd_pid(basedir).unwrap();
    kill(pid, "KILL");
    let _ = std::fs::remove_file(basedir.join("twistd.pid"));
    Command::new(fleet.info.buildbot_venv.join("bin").join("buildbot-worker"))
        .arg("start")
        .arg(basedir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

pub use bbctl_e2e::output_text as text;

/// The request ended SUCCESS; its builds are `retries` RETRY then one SUCCESS. Returns them.
pub fn assert_success_after_retries(
    bb: &Buildbot,
    buildrequestid: i64,
    retries: usize,
) -> Vec<serde_json::Value> {
    let outcome = bb.wait_complete(buildrequestid, BUILD_TIMEOUT).unwrap();
    assert_eq!(outcome.results, 0, "{outcome:#?}");
    assert_eq!(outcome.builds.len(), retries + 1, "{outcome:#?}");
    for b in &outcome.builds[..retries] {
        assert_eq!(b["results"].as_i64(), Some(5), "RETRY first: {outcome:#?}");
    }
    assert_eq!(outcome.builds[retries]["results"].as_i64(), Some(0));
    outcome.builds
}

/// No worker paused, no unfinished request claimed by master `stopped`.
pub fn assert_nothing_left(bb: &Buildbot, stopped: i64) {
    assert!(paused_workers(bb).is_empty(), "{:?}", paused_workers(bb));
    let claimed: Vec<_> = bb
        .list("buildrequests?complete=false", "buildrequests")
        .unwrap()
        .into_iter()
        .filter(|r| r["claimed_by_masterid"].as_i64() == Some(stopped))
        .collect();
    assert!(
        claimed.is_empty(),
        "claimed by a stopped master: {claimed:#?}"
    );
}
