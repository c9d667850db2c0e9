//! The drain's human lines on stderr (issue 12): the progress line of a followed drain (elapsed
//! time, deadline countdown, the age of each running build, a failing step), the plain-mode
//! printer that prints a line when something changed and a heartbeat while nothing does, and the
//! sentences that end a follow (stalled, contact lost, interrupted) or report a changed deadline
//! — each naming the commands to go on with.

use bbctl_api::{DrainPhase, DrainStatus};

use crate::time::human;

/// Running builds named one by one in a progress line; more are counted.
const BUILDS_SHOWN: usize = 3;

/// Without a terminal, a line is printed at least this often while nothing changes, so that a
/// long build does not look like a frozen drain.
pub const PLAIN_HEARTBEAT_SECS: f64 = 30.0;

/// One line about a drain at `now`: phase and elapsed time, the deadline countdown, builds left
/// with each one's age, workers attached and handed off, then a failing step or the message.
pub fn describe(status: &DrainStatus, now: f64) -> String {
    let end = status.finished_at.unwrap_or(now);
    let mut text = format!(
        "{}, {} elapsed",
        status.phase,
        human(end - status.started_at)
    );
    if let Some(deadline) = deadline(status, now) {
        text.push_str(&format!(", {deadline}"));
    }
    text.push_str(&format!(", {} build(s) left", status.builds_running));
    let builds: Vec<String> = status
        .running_builds
        .iter()
        .take(BUILDS_SHOWN)
        .map(|b| {
            let mut one = format!("build {}", b.buildid);
            if let Some(worker) = &b.worker {
                one.push_str(&format!(" on {worker}"));
            }
            if let Some(at) = b.started_at {
                one.push_str(&format!(" running {}", human(now - at)));
            }
            one
        })
        .collect();
    if !builds.is_empty() {
        let more = status.running_builds.len().saturating_sub(BUILDS_SHOWN);
        let more = if more > 0 {
            format!(", {more} more")
        } else {
            String::new()
        };
        text.push_str(&format!(" ({}{more})", builds.join(", ")));
    }
    text.push_str(&format!(
        ", {} worker(s) attached, {} handed off",
        status.workers_attached,
        status.workers_handed_off.len()
    ));
    if let Some(failing) = failing(status, now) {
        text.push_str(&format!(" — {failing}"));
    } else if let Some(message) = &status.message {
        text.push_str(&format!(" ({message})"));
    }
    text
}

/// `deadline in 8m40s` / `deadline passed 20s ago`, with `(then forced)` when busy workers are
/// handed off at it; none without a deadline or once the drain has ended otherwise.
fn deadline(status: &DrainStatus, now: f64) -> Option<String> {
    let at = status.deadline_at?;
    if !status.phase.holds_master() {
        return None;
    }
    let forced = if status.force_after_deadline {
        " (then forced)"
    } else {
        ""
    };
    Some(if at >= now {
        format!("deadline in {}{forced}", human(at - now))
    } else {
        format!("deadline passed {} ago{forced}", human(now - at))
    })
}

/// The failing step of a drain in progress, as the MESSAGE column and the progress show it.
pub fn failing(status: &DrainStatus, now: f64) -> Option<String> {
    let f = status.failing.as_ref()?;
    status.phase.is_running().then(|| {
        format!(
            "a step has failed for {}: {} (the agent keeps retrying)",
            human(now - f.since),
            f.reason
        )
    })
}

/// What a progress line says apart from the passing of time: a plain line is printed when it
/// changes.
fn state_key(status: &DrainStatus) -> String {
    let builds: Vec<String> = status
        .running_builds
        .iter()
        .map(|b| b.buildid.to_string())
        .collect();
    format!(
        "{}|{:?}|{}|{}|{}|{}|{}|{}|{:?}|{:?}",
        status.phase,
        status.deadline_at,
        status.force_after_deadline,
        status.builds_running,
        builds.join(","),
        status.workers_attached,
        status.workers_handed_off.len(),
        status.builds_finished + status.builds_requeued,
        status.failing.as_ref().map(|f| &f.reason),
        status.message,
    )
}

/// Plain progress (stderr not a terminal): one line per master when its drain changed, and a
/// heartbeat every [`PLAIN_HEARTBEAT_SECS`] while it does not.
#[derive(Debug, Default)]
pub struct PlainLines {
    /// Per master: the state last printed and when.
    last: Vec<Option<(String, f64)>>,
}

impl PlainLines {
    pub fn new(masters: usize) -> Self {
        PlainLines {
            last: vec![None; masters],
        }
    }

    /// The line to print for master `i` at `now`, if one is due.
    pub fn next(&mut self, i: usize, status: &DrainStatus, now: f64) -> Option<String> {
        let key = state_key(status);
        let due = match &self.last[i] {
            None => true,
            Some((last, at)) => {
                *last != key || (status.phase.is_running() && now - at >= PLAIN_HEARTBEAT_SECS)
            }
        };
        if !due {
            return None;
        }
        self.last[i] = Some((key, now));
        Some(describe(status, now))
    }
}

/// Prints a line on stderr, before the progress starts or without one.
pub fn note(line: &str) {
    eprintln!("{line}");
}

/// A drain that cannot progress: why, and what the operator can do.
pub fn stalled(name: &str, status: &DrainStatus, now: f64) -> String {
    let why = failing(status, now).unwrap_or_else(|| "a step keeps failing".to_owned());
    format!(
        "{name}: stalled: the drain cannot progress: {why}. No longer following; the agent \
         keeps retrying. Look with `bbctl drain status {name}`, cancel with `bbctl drain cancel \
         {name}`, follow again with `bbctl drain {name}`"
    )
}

/// The agent stopped answering while followed.
pub fn lost_contact(name: &str, error: &str) -> String {
    format!(
        "{name}: lost contact with the agent ({error}); no longer following. The drain goes on \
         in the agent if it runs: check with `bbctl drain status {name}`, follow again with \
         `bbctl drain {name}`"
    )
}

/// Ctrl-C while following `names`.
pub fn interrupted(names: &[String]) -> String {
    let all = names.join(" ");
    let one = names.first().map_or("NAME", String::as_str);
    format!(
        "interrupted: no longer following; the drain goes on in the agent. Follow again with \
         `bbctl drain {all}`, check with `bbctl drain status {one}`, cancel with `bbctl drain \
         cancel {one}`"
    )
}

/// What an ended drain leaves to the operator, if anything.
pub fn after_end(name: &str, status: &DrainStatus) -> Option<String> {
    match status.phase {
        DrainPhase::DeadlinePassed => Some(format!(
            "{name}: the deadline passed with {} build(s) running; routing stays stopped and the \
             workers stay paused. `bbctl drain cancel {name}` restores full service; `bbctl drain \
             {name} --deadline D [--force-after-deadline]` lets the drain go on",
            status.builds_running
        )),
        DrainPhase::Failed => Some(format!(
            "{name}: the drain failed; `bbctl drain cancel {name}` undoes what it changed"
        )),
        _ => None,
    }
}

/// `m2: deadline changed from … to …` after a change of the drain in progress.
pub fn changed(name: &str, before: &DrainStatus, after: &DrainStatus, now: f64) -> String {
    let mut parts = Vec::new();
    if before.deadline_at != after.deadline_at {
        parts.push(format!(
            "deadline changed from {} to {}",
            when(before.deadline_at, now),
            when(after.deadline_at, now)
        ));
    }
    if before.force_after_deadline != after.force_after_deadline {
        parts.push(format!(
            "at the deadline busy workers are {}",
            if after.force_after_deadline {
                "handed off (their builds are re-queued)"
            } else {
                "left alone"
            }
        ));
    }
    if before.phase != after.phase {
        parts.push(format!("{} → {}", before.phase, after.phase));
    }
    if parts.is_empty() {
        parts.push("the drain already had these terms".to_owned());
    }
    format!("{name}: {}", parts.join("; "))
}

/// A deadline as `14:05:10 UTC (in 9m50s)`, `… (40s ago)` or `none`.
fn when(at: Option<f64>, now: f64) -> String {
    let Some(at) = at else {
        return "none".to_owned();
    };
    let secs = at.max(0.0) as u64 % 86_400;
    let clock = format!(
        "{:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    if at >= now {
        format!("{clock} (in {})", human(at - now))
    } else {
        format!("{clock} ({} ago)", human(now - at))
    }
}

#[cfg(test)]
mod tests {
    use bbctl_api::{DrainBuild, DrainFailure, HandoffInfo};

    use super::*;

    fn status(phase: DrainPhase) -> DrainStatus {
        DrainStatus {
            id: 1,
            phase,
            started_at: 1000.0,
            finished_at: None,
            deadline_at: None,
            force_after_deadline: false,
            reason: None,
            requested_by: None,
            builds_running: 0,
            builds_finished: 0,
            builds_requeued: 0,
            workers_attached: 0,
            workers_handed_off: Vec::new(),
            message: None,
            running_builds: Vec::new(),
            failing: None,
            cordoned_at: None,
        }
    }

    fn build(buildid: i64, worker: &str, started_at: f64) -> DrainBuild {
        DrainBuild {
            buildid,
            number: Some(1),
            worker: Some(worker.into()),
            started_at: Some(started_at),
        }
    }

    #[test]
    fn a_long_build_shows_elapsed_time_deadline_and_build_ages() {
        let mut s = status(DrainPhase::Draining);
        s.deadline_at = Some(1600.0);
        s.builds_running = 1;
        s.workers_attached = 1;
        s.running_builds = vec![build(7, "w2", 900.0)];
        assert_eq!(
            describe(&s, 1080.0),
            "draining, 1m20s elapsed, deadline in 8m40s, 1 build(s) left (build 7 on w2 running \
             3m00s), 1 worker(s) attached, 0 handed off"
        );
        // Time alone moves the line on.
        assert_eq!(
            describe(&s, 1700.0),
            "draining, 11m40s elapsed, deadline passed 1m40s ago, 1 build(s) left (build 7 on w2 \
             running 13m20s), 1 worker(s) attached, 0 handed off"
        );
        s.force_after_deadline = true;
        s.running_builds = (1..=5).map(|i| build(i, "w", 990.0)).collect();
        let line = describe(&s, 1000.0);
        assert!(line.contains("deadline in 10m00s (then forced)"), "{line}");
        assert!(line.contains("build 3 on w running 10s, 2 more)"), "{line}");
    }

    #[test]
    fn an_ended_drain_shows_its_duration_and_no_countdown() {
        let mut s = status(DrainPhase::Drained);
        s.finished_at = Some(1125.0);
        s.deadline_at = Some(2000.0);
        s.message = Some("drained in 125.0 s".into());
        s.workers_handed_off.push(HandoffInfo {
            worker: "w1".into(),
            free_at: 1000.0,
            attached_elsewhere_at: None,
            to_master: None,
        });
        assert_eq!(
            describe(&s, 5000.0),
            "drained, 2m05s elapsed, 0 build(s) left, 0 worker(s) attached, 1 handed off \
             (drained in 125.0 s)"
        );
    }

    #[test]
    fn a_failing_step_is_shown_with_its_age_and_reason() {
        let mut s = status(DrainPhase::Draining);
        s.failing = Some(DrainFailure {
            reason: "load balancer: HAProxy has no server `workers/m9`".into(),
            since: 1010.0,
        });
        let line = describe(&s, 1055.0);
        assert!(
            line.ends_with(
                " — a step has failed for 45s: load balancer: HAProxy has no server \
                 `workers/m9` (the agent keeps retrying)"
            ),
            "{line}"
        );
        let stall = stalled("m2", &s, 1200.0);
        assert!(stall.starts_with("m2: stalled: "), "{stall}");
        for command in [
            "`bbctl drain status m2`",
            "`bbctl drain cancel m2`",
            "`bbctl drain m2`",
        ] {
            assert!(stall.contains(command), "{stall}");
        }
        assert!(!stall.contains("/v1/"), "{stall}");
    }

    #[test]
    fn plain_lines_print_changes_and_a_heartbeat_while_a_build_runs() {
        let mut s = status(DrainPhase::Draining);
        s.builds_running = 1;
        s.running_builds = vec![build(7, "w2", 990.0)];
        let mut plain = PlainLines::new(1);
        assert!(plain.next(0, &s, 1000.0).is_some(), "the first look");
        assert_eq!(plain.next(0, &s, 1001.0), None, "nothing changed");
        assert_eq!(plain.next(0, &s, 1029.0), None);
        let beat = plain.next(0, &s, 1030.0).expect("a heartbeat");
        assert!(
            beat.contains("30s elapsed") && beat.contains("running 40s"),
            "{beat}"
        );
        assert_eq!(plain.next(0, &s, 1031.0), None);
        s.workers_handed_off.push(HandoffInfo {
            worker: "w1".into(),
            free_at: 1000.0,
            attached_elsewhere_at: None,
            to_master: None,
        });
        assert!(plain.next(0, &s, 1032.0).unwrap().contains("1 handed off"));
        // An ended drain is printed once.
        s.phase = DrainPhase::Drained;
        assert!(plain.next(0, &s, 1033.0).is_some());
        assert_eq!(plain.next(0, &s, 2000.0), None);
    }

    #[test]
    fn a_changed_deadline_says_from_what_to_what() {
        let mut before = status(DrainPhase::Draining);
        before.deadline_at = Some(86_400.0 * 10.0 + 600.0);
        let mut after = before.clone();
        after.deadline_at = Some(86_400.0 * 10.0 + 60.0);
        after.force_after_deadline = true;
        let now = 86_400.0 * 10.0;
        assert_eq!(
            changed("m2", &before, &after, now),
            "m2: deadline changed from 00:10:00 UTC (in 10m00s) to 00:01:00 UTC (in 1m00s); at \
             the deadline busy workers are handed off (their builds are re-queued)"
        );
        before.deadline_at = None;
        before.phase = DrainPhase::DeadlinePassed;
        let line = changed("m2", &before, &after, now);
        assert!(
            line.starts_with("m2: deadline changed from none to 00:01:00"),
            "{line}"
        );
        assert!(line.ends_with("deadline_passed → draining"), "{line}");
    }

    #[test]
    fn follow_endings_name_the_commands_not_the_api() {
        let lost = lost_contact("m2", "connection refused");
        assert!(lost.contains("`bbctl drain m2`") && lost.contains("`bbctl drain status m2`"));
        let int = interrupted(&["m2".into(), "m3".into()]);
        assert!(int.contains("`bbctl drain m2 m3`"), "{int}");
        assert!(int.contains("`bbctl drain status m2`"), "{int}");
        let passed = after_end("m2", &status(DrainPhase::DeadlinePassed)).unwrap();
        assert!(passed.contains("`bbctl drain cancel m2`"), "{passed}");
        assert_eq!(after_end("m2", &status(DrainPhase::Drained)), None);
        for line in [lost, int, passed] {
            assert!(!line.contains("/v1/") && !line.contains("DELETE"), "{line}");
        }
    }
}
