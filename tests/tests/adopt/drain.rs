//! The drain as a new operator meets it on the hand-made fleet (issue 12): a load balancer that
//! breaks after the agent started shows its reason in `drain status` and the progress, and the
//! follow stops with exit 7 while the agent goes on retrying (and finishes once HAProxy answers
//! again); re-running `bbctl drain NAME --deadline D` changes the drain in progress (recorded with
//! who asked); Ctrl-C while following prints how to re-attach (exit 130); an agent that dies
//! while followed is exit 3 with the same hints; every drain output names masters by their
//! inventory names, never Buildbot's `host:/basedir`.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use bbctl_e2e::handmade::Handmade;
use bbctl_e2e::{output_text, wait_until};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(90);

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", output_text(&out));
    out
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", output_text(out)))
}

/// `bbctl drain status NAME -o json`.
fn status(fleet: &Handmade, agent: &str) -> Value {
    json_of(&ok(fleet.bbctl(&["drain", "status", agent, "-o", "json"])))
}

fn wait_phase(fleet: &Handmade, agent: &str, phase: &str) -> Value {
    wait_until(&format!("{agent}'s drain to be {phase}"), WAIT, || {
        let s = status(fleet, agent);
        Ok((s["phase"] == phase).then_some(s))
    })
    .unwrap()
}

/// No output names a master by Buildbot's name (`host:<basedir>`).
fn no_buildbot_names(fleet: &Handmade, output: &str) {
    for m in &fleet.info.masters {
        let basedir = m.basedir.display().to_string();
        assert!(
            !output.contains(&format!(":{basedir}")),
            "Buildbot's name of {} in:\n{output}",
            m.agent
        );
    }
}

/// `bbctl ARGS` following in the background; returns once it says it follows. The caller owns
/// the child and waits for it (`finish`), hence the allow: the lint cannot see past the return.
#[allow(clippy::zombie_processes)]
fn follow(fleet: &Handmade, args: &[&str]) -> (Child, BufReader<std::process::ChildStderr>) {
    let mut child = fleet
        .bbctl_cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bbctl");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap_or(0);
        if n == 0 {
            let _ = child.kill();
            let status = child.wait();
            panic!("bbctl ended before following ({status:?}):\n{seen}");
        }
        seen.push_str(&line);
        if line.contains("following the drain") {
            return (child, stderr);
        }
    }
}

/// Waits for the follower to end; its exit code and the rest of its stderr.
fn finish(mut child: Child, mut stderr: impl Read) -> (Option<i32>, String, String) {
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let code = child.wait().unwrap().code();
    (code, stdout, rest)
}

#[test]
fn a_load_balancer_that_breaks_stalls_the_follow_with_exit_7_while_the_agent_retries() {
    let _serial = bbctl_e2e::serial();
    let fleet = Handmade::start().expect("the hand-made fleet comes up");
    // The agents started with a working HAProxy; now its runtime API goes away (as when HAProxy
    // is restarted with another socket path, or its socket's permissions change).
    let socket = fleet.info.haproxy.runtime_socket.clone();
    let moved = socket.with_extension("moved");
    std::fs::rename(&socket, &moved).unwrap();

    let out = fleet.bbctl(&["drain", "m2", "--stall-timeout", "3s"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(7), "{}", output_text(&out));
    assert!(
        all.contains("m2: stalled: the drain cannot progress: a step has failed for ")
            && all.contains("load balancer")
            && all.contains("the agent keeps retrying")
            && all.contains("`bbctl drain cancel m2`")
            && all.contains("`bbctl drain status m2`"),
        "{all}"
    );
    // The progress said it before the follow gave up, not `draining` with nothing more.
    assert!(
        all.lines()
            .any(|l| l.starts_with("m2: draining, ") && l.contains("— a step has failed for")),
        "{all}"
    );

    // `drain status` carries the reason and since when; the agent is still at it.
    let s = status(&fleet, "m2");
    assert_eq!(s["phase"], "draining", "{s}");
    let reason = s["failing"]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("load balancer: "), "{s}");
    assert!(s["failing"]["since"].as_f64().unwrap() >= s["started_at"].as_f64().unwrap());
    let table =
        String::from_utf8_lossy(&ok(fleet.bbctl(&["drain", "status", "m2"])).stdout).into_owned();
    assert!(table.contains(reason), "{table}");
    assert_eq!(
        fleet.lb_server_state("m2").ok(),
        None,
        "HAProxy's API is still away"
    );

    // HAProxy answers again: the drain the agent kept retrying goes on to its end.
    std::fs::rename(&moved, &socket).unwrap();
    let done = wait_phase(&fleet, "m2", "drained");
    assert!(done["failing"].is_null(), "{done}");
    assert_eq!(fleet.lb_server_state("m2").unwrap(), "MAINT");
    let audit: Value = fleet.agent("m2").get("/v1/audit").unwrap();
    let audit = audit.to_string();
    assert!(
        audit.contains("step failed, retrying: load balancer"),
        "{audit}"
    );
    assert!(
        audit.contains("the failing step succeeded after"),
        "{audit}"
    );
}

#[test]
fn a_drain_in_progress_takes_a_new_deadline_and_following_ends_with_its_own_exit_codes() {
    let _serial = bbctl_e2e::serial();
    let fleet = Handmade::start().expect("the hand-made fleet comes up");
    fleet
        .force("m1", "integration-soak", &[("soak_secs", "900")])
        .unwrap();
    // The master the long build runs on (by `builds list`, which names it as the inventory does).
    let busy = wait_until("the soak build to run", WAIT, || {
        let rows = json_of(&ok(fleet.bbctl(&["builds", "list", "-o", "json"])));
        Ok(rows.as_array().and_then(|rows| {
            rows.iter()
                .find(|r| r["builder"] == "integration-soak")
                .and_then(|r| r["master"].as_str().map(str::to_owned))
        }))
    })
    .unwrap();
    let busy = busy.as_str();
    let other = if busy == "m1" { "m2" } else { "m1" };

    ok(fleet.bbctl(&["drain", busy, "--deadline", "30m", "--detach"]));

    // Ctrl-C while following: how to re-attach and check; exit 130; the drain goes on.
    let (child, stderr) = follow(&fleet, &["drain", busy]);
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let (code, _, rest) = finish(child, stderr);
    assert_eq!(code, Some(130), "{rest}");
    assert!(
        rest.contains("interrupted: no longer following; the drain goes on")
            && rest.contains(&format!("`bbctl drain {busy}`"))
            && rest.contains(&format!("`bbctl drain status {busy}`")),
        "{rest}"
    );
    assert_eq!(status(&fleet, busy)["phase"], "draining");

    // The agent dies while followed: exit 3, contact lost, how to re-attach.
    let (child, stderr) = follow(&fleet, &["drain", busy]);
    fleet.stop_agent(busy).unwrap();
    let (code, _, rest) = finish(child, stderr);
    assert_eq!(code, Some(3), "{rest}");
    assert!(
        rest.contains(&format!("{busy}: lost contact with the agent"))
            && rest.contains(&format!("follow again with `bbctl drain {busy}`")),
        "{rest}"
    );
    let _agent = fleet.start_agent(busy, &[]).unwrap();

    // Progress of a long build: elapsed time, countdown, the build's age.
    let out = ok(fleet.bbctl(&["drain", "status", busy]));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(table.contains("Builds running (1):"), "{table}");

    // Re-running with a shorter deadline changes it: said, recorded with who asked, applied.
    let out = ok(fleet.bbctl(&["drain", busy, "--deadline", "2s", "--detach"]));
    let all = text(&out);
    assert!(
        all.contains(&format!("{busy}: deadline changed from ")) && all.contains(" UTC (in "),
        "{all}"
    );
    let passed = wait_phase(&fleet, busy, "deadline_passed");
    assert_eq!(passed["builds_running"], 1, "{passed}");
    let audit: Value = fleet.agent(busy).get("/v1/audit").unwrap();
    let change = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a.to_string().contains("deadline changed from"))
        .unwrap_or_else(|| panic!("no deadline change in the audit: {audit}"));
    assert!(
        change.to_string().contains("requested by "),
        "who asked: {change}"
    );

    // And with force: the drain stopped at its deadline goes on, hands the busy worker off
    // (its build is re-queued) and ends drained; masters are named as in the inventory.
    let out = fleet.bbctl(&[
        "drain",
        busy,
        "--deadline",
        "1s",
        "--force-after-deadline",
        "-o",
        "json",
    ]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(all.contains("deadline_passed → draining"), "{all}");
    let rows = json_of(&out);
    let row = &rows[0];
    assert_eq!(row["phase"], "drained", "{row}");
    assert_eq!(row["builds_requeued"], 1, "{row}");
    let seen: Vec<&Value> = row["workers_handed_off"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["to_master"])
        .filter(|to| !to.is_null())
        .collect();
    assert!(!seen.is_empty(), "{row}");
    assert!(seen.iter().all(|to| **to == other), "{row}");
    assert!(
        all.contains(&format!("attached to {other} ")),
        "events name the inventory master: {all}"
    );
    no_buildbot_names(&fleet, &all);
    let out = ok(fleet.bbctl(&["drain", "status", busy]));
    no_buildbot_names(&fleet, &text(&out));
}
