//! Scenarios 3 and 5: a blue-green `bbctl upgrade` from the ops host under load, and the same
//! with the ops host cut off in the middle of it.

use std::fs;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use bbctl_e2e::Fleet;
use bbctl_e2e::hosts::Partition;

use crate::common::{on_host, text};
use crate::support::paused_workers;
use crate::upgrade_support::{
    any_live, assert_success_once, force_anywhere, journal, running_step,
};

/// `bbctl ARGS` in the background, stdout and stderr into `log`.
fn spawn_logged(fleet: &Fleet, args: &[&str], log: &std::path::Path) -> Child {
    let file = fs::File::create(log).unwrap();
    fleet
        .bbctl_cmd(args)
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .expect("spawn bbctl upgrade")
}

/// Waits until the upgrade `child` runs one of the steps `want` (a prefix); returns the upgrade's
/// id and the step. Fails at once, with its output, if `bbctl upgrade` exits first.
fn wait_step(
    fleet: &Fleet,
    child: &mut Child,
    log: &std::path::Path,
    want: &[&str],
    timeout: Duration,
) -> (String, String) {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "bbctl upgrade exited ({status}) before any of {want:?} ran:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        let j = journal(fleet, None);
        if let Some(j) = &j
            && j["phase"] == "running"
            && let Some(step) = running_step(j)
            && want.iter().any(|w| step.starts_with(w))
        {
            return (j["id"].as_str().unwrap().to_owned(), step);
        }
        assert!(
            t0.elapsed() < timeout,
            "none of {want:?} ran within {timeout:?}: {:#}\nbbctl upgrade so far:\n{}",
            j.unwrap_or_default(),
            fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_exit(child: &mut Child, log: &std::path::Path, timeout: Duration) -> i32 {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if t0.elapsed() > timeout {
            let _ = child.kill();
            panic!(
                "bbctl upgrade still running after {timeout:?}:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn wait_log(log: &std::path::Path, needle: &str, timeout: Duration) -> String {
    bbctl_e2e::wait_until(
        &format!("`{needle}` in the output of bbctl upgrade"),
        timeout,
        || {
            let s = fs::read_to_string(log)?;
            Ok(s.contains(needle).then_some(s))
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", fs::read_to_string(log).unwrap_or_default()))
}

/// Scenario 3: `bbctl upgrade --new-config <v2> --yes` with builds forced before and during it:
/// exit 0, the journal `succeeded`, every request SUCCESS exactly once, v2 served.
pub fn blue_green_under_load(fleet: &Fleet) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("upgrade.log");
    let v2 = fleet.info.master_cfg_v2.to_str().unwrap().to_owned();
    let mut requests: Vec<i64> = (0..2).map(|_| force_anywhere(fleet, "sleep", 10)).collect();
    let mut child = spawn_logged(fleet, &["upgrade", "--new-config", &v2, "--yes"], &log);
    let (id, step) = wait_step(
        fleet,
        &mut child,
        &log,
        &["start_new", "drain", "wait_drained"],
        Duration::from_secs(180),
    );
    eprintln!("upgrade {id}: forcing builds during {step}");
    requests.extend((0..2).map(|_| force_anywhere(fleet, "sleep", 5)));
    let code = wait_exit(&mut child, &log, Duration::from_secs(420));
    assert_eq!(code, 0, "{}", fs::read_to_string(&log).unwrap());
    let j = journal(fleet, Some(&id)).unwrap();
    assert_eq!(j["phase"], "succeeded", "{j:#}");
    requests.push(force_anywhere(fleet, "sleep-v2", 1));
    assert_success_once(fleet, &requests);
    assert!(paused_workers(&any_live(fleet)).is_empty());
}

/// Scenario 5: the ops host cut off while `bbctl upgrade` (back to v1, `--pause-timeout 10m`)
/// drains the old masters: it pauses (`[paused]`: an agent gives no answer) and, once
/// the link is up again, goes on by itself from the same host (`[unpaused]`): exit 0, the journal
/// `succeeded`, every request SUCCESS exactly once.
pub fn ops_cut_off_mid_upgrade(fleet: &Fleet) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("upgrade.log");
    let v1 = fleet.info.master_cfg.to_str().unwrap().to_owned();
    // Long enough that the old masters are still draining when the cut comes.
    let mut requests: Vec<i64> = (0..2).map(|_| force_anywhere(fleet, "sleep", 25)).collect();
    let args = [
        "upgrade",
        "--new-config",
        &v1,
        "--yes",
        "--pause-timeout",
        "10m",
    ];
    let mut child = spawn_logged(fleet, &args, &log);
    let (id, step) = wait_step(
        fleet,
        &mut child,
        &log,
        &["drain", "wait_drained"],
        Duration::from_secs(240),
    );

    let cut = Partition::cut(fleet, "ops");
    eprintln!("upgrade {id}: ops cut off during {step}");
    let paused = wait_log(&log, "[paused]", Duration::from_secs(120));
    // `[paused] STEP: upgrade paused: master-N: no answer within 5s; waiting up to 10m ...`, or,
    // when the kernel gave up resolving the cut-off address first, `master-N: unreachable (No
    // route to host (os error 113)); waiting up to 10m ...`: both are the partition.
    let line = paused.lines().find(|l| l.starts_with("[paused]")).unwrap();
    assert!(
        (line.contains("no answer") || line.contains("unreachable (No route to host"))
            && line.contains("waiting up to 10m"),
        "{paused}"
    );
    // Meanwhile the fleet serves: a build forced on a master's host (not from ops) runs.
    let during = on_host(fleet, fleet.slot_host(0), || {
        (0..fleet.info.masters.len())
            .find_map(|i| fleet.buildbot(i).force("sleep", &[("duration", "2")]).ok())
            .expect("a master accepts a forced build")
            .buildrequestid
    });
    requests.push(during);
    assert!(
        child.try_wait().unwrap().is_none(),
        "bbctl upgrade stopped during the cut"
    );
    let out = fleet.bbctl(&["masters", "list"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "from ops, cut off: {}",
        text(&out)
    );
    cut.heal();

    let code = wait_exit(&mut child, &log, Duration::from_secs(420));
    let output = fs::read_to_string(&log).unwrap();
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("[unpaused]"), "{output}");
    let j = journal(fleet, Some(&id)).unwrap();
    assert_eq!(j["phase"], "succeeded", "{j:#}");
    requests.push(force_anywhere(fleet, "sleep", 1));
    assert_success_once(fleet, &requests);
    assert!(paused_workers(&any_live(fleet)).is_empty());
}

/// Scenario 5b: the ops host cut off mid-upgrade (to v2, `--pause-timeout 20s`) for longer than
/// the pause timeout: the run pauses, then stops with exit 3 naming the pause timeout and
/// `bbctl upgrade resume ID`. Once the link is up, `bbctl upgrade resume ID --take-over` from the
/// same host (the stopped run could not release its lease: the fleet store was out of reach)
/// finishes it: exit 0, `succeeded`, every request SUCCESS exactly once.
pub fn ops_cut_off_past_the_pause_timeout(fleet: &Fleet) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("upgrade.log");
    let v2 = fleet.info.master_cfg_v2.to_str().unwrap().to_owned();
    let mut requests: Vec<i64> = (0..2).map(|_| force_anywhere(fleet, "sleep", 25)).collect();
    let args = [
        "upgrade",
        "--new-config",
        &v2,
        "--yes",
        "--pause-timeout",
        "20s",
    ];
    let mut child = spawn_logged(fleet, &args, &log);
    let (id, step) = wait_step(
        fleet,
        &mut child,
        &log,
        &["drain", "wait_drained"],
        Duration::from_secs(240),
    );

    let cut = Partition::cut(fleet, "ops");
    eprintln!("upgrade {id}: ops cut off during {step} until the run gives up");
    wait_log(&log, "[paused]", Duration::from_secs(120));
    let code = wait_exit(&mut child, &log, Duration::from_secs(180));
    let output = fs::read_to_string(&log).unwrap();
    assert_eq!(code, 3, "{output}");
    assert!(output.contains("within the pause timeout"), "{output}");
    assert!(
        output.contains(&format!("bbctl upgrade resume {id}")),
        "{output}"
    );
    cut.heal();

    let out = fleet.bbctl(&["upgrade", "resume", &id, "--take-over"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let j = journal(fleet, Some(&id)).unwrap();
    assert_eq!(j["phase"], "succeeded", "{j:#}");
    requests.push(force_anywhere(fleet, "sleep-v2", 1));
    assert_success_once(fleet, &requests);
    assert!(paused_workers(&any_live(fleet)).is_empty());
}
