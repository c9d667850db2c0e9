//! Helpers of the multi-host scenarios: timing, `bbctl` from the ops host, drain status, which
//! load balancer carries which worker, placing workers and builds, and threads on other hosts.

use std::collections::BTreeMap;
use std::process::Output;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bbctl_api::DrainStatus;
use bbctl_e2e::hosts::{haproxy_command, lb_sessions, lb_shutdown_session};
use bbctl_e2e::{Buildbot, Fleet, ForcedBuild, netns, wait_until};

use crate::support::{connected_to, force_with_others_paused, placed, workers, workers_on};

pub use bbctl_e2e::output_text as text;

/// Runs one scenario and prints how long it took.
pub fn timed(name: &str, scenario: impl FnOnce()) {
    eprintln!("=== scenario {name}");
    let t0 = Instant::now();
    scenario();
    eprintln!(
        "=== scenario {name}: passed in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

/// `bbctl ARGS` (from the ops host: the calling thread is in its namespace) must exit 0.
pub fn bbctl_ok(fleet: &Fleet, args: &[&str]) -> Output {
    let out = fleet.bbctl(args);
    assert_eq!(out.status.code(), Some(0), "bbctl {args:?}: {}", text(&out));
    out
}

/// `bbctl drain status NAME -o json`, decoded (an error while the agent cannot be reached).
pub fn drain_status(fleet: &Fleet, name: &str) -> Result<DrainStatus> {
    let out = fleet.bbctl(&["drain", "status", name, "-o", "json"]);
    if out.status.code() != Some(0) {
        bail!("bbctl drain status {name}: {}", text(&out));
    }
    serde_json::from_slice(&out.stdout).with_context(|| text(&out))
}

/// Waits (through `bbctl drain status`) until the drain of `name` is `drained`; fails at once when
/// it ends otherwise.
pub fn wait_drained(fleet: &Fleet, name: &str, timeout: Duration) -> DrainStatus {
    wait_until(
        &format!("the drain of {name} to end drained"),
        timeout,
        || {
            let st = drain_status(fleet, name)?;
            match st.phase.as_str() {
                "drained" => Ok(Some(st)),
                "draining" | "stopping" => Ok(None),
                other => panic!("the drain of {name} ended {other}: {st:#?}"),
            }
        },
    )
    .unwrap()
}

/// The load balancer (`lb1`, `lb2`) worker `name` connects through.
pub fn lb_of(fleet: &Fleet, name: &str) -> String {
    fleet
        .info
        .workers
        .iter()
        .find(|w| w.name == name)
        .and_then(|w| w.load_balancer.clone())
        .unwrap_or_else(|| panic!("worker {name} has no load balancer in fleet.json"))
}

/// How many worker sessions each load balancer carries to `server` (HAProxy's `show sess`).
pub fn sessions_to(fleet: &Fleet, server: &str) -> BTreeMap<String, usize> {
    fleet
        .info
        .load_balancers
        .iter()
        .map(|lb| {
            let n = lb_sessions(&lb.runtime, &lb.backend)
                .unwrap()
                .iter()
                .filter(|s| s.server == server)
                .count();
            (lb.name.clone(), n)
        })
        .collect()
}

/// Makes load balancer `lb` carry at least `want` worker sessions to slot `slot`'s server: while
/// it carries fewer, the other servers carrying sessions there are set to `drain` on that load
/// balancer, one of their sessions is shut down, and the worker reconnects (through the same load
/// balancer) to the slot; then those servers are `ready` again. Returns once Buildbot sees every
/// session's worker attached to the slot's master `mid`.
pub fn arrange(fleet: &Fleet, bb: &Buildbot, slot: usize, mid: i64, lb: &str, want: usize) {
    let server = fleet.info.masters[slot].name.clone();
    let l = fleet.load_balancer(lb).clone();
    loop {
        let sessions = lb_sessions(&l.runtime, &l.backend).unwrap();
        let here = sessions.iter().filter(|s| s.server == server).count();
        if here >= want {
            break;
        }
        let Some(other) = sessions.iter().find(|s| s.server != server) else {
            panic!("{lb} carries {here} sessions to {server} and no other to move: {sessions:?}");
        };
        let cmd = |state: &str| format!("set server {}/{} state {state}", l.backend, other.server);
        let answer = haproxy_command(&l.runtime, &cmd("drain")).unwrap();
        assert!(answer.trim().is_empty(), "{}: {answer}", cmd("drain"));
        lb_shutdown_session(&l.runtime, &other.ptr).unwrap();
        let moved = wait_until(
            &format!("a worker to reconnect through {lb} to {server}"),
            Duration::from_secs(90),
            || {
                let now = lb_sessions(&l.runtime, &l.backend)?;
                Ok((now.iter().filter(|s| s.server == server).count() > here).then_some(()))
            },
        );
        let answer = haproxy_command(&l.runtime, &cmd("ready")).unwrap();
        assert!(answer.trim().is_empty(), "{}: {answer}", cmd("ready"));
        moved.unwrap();
        eprintln!(
            "arranged: a worker of {} moved to {server} through {lb}",
            other.server
        );
    }
    wait_until(
        &format!("Buildbot to see every worker {server} carries attached to it"),
        Duration::from_secs(60),
        || {
            let total: usize = sessions_to(fleet, &server).values().sum();
            Ok((workers_on(bb, mid).len() == total).then_some(()))
        },
    )
    .unwrap();
}

/// Forces `builder` so that its build runs on worker `worker` (attached to master `mid`): every
/// other worker is paused until the build has started, then unpaused.
pub fn force_on_worker(
    bb: &Buildbot,
    mid: i64,
    worker: &str,
    builder: &str,
    props: &[(&str, &str)],
) -> ForcedBuild {
    let rows = workers(bb);
    let target = rows
        .iter()
        .find(|w| w["name"].as_str() == Some(worker))
        .unwrap_or_else(|| panic!("no worker {worker}"));
    assert!(
        connected_to(target).contains(&mid),
        "{worker} is not on {mid}"
    );
    let wid = target["workerid"].as_i64().unwrap();
    let others: Vec<i64> = rows
        .iter()
        .filter(|w| w["paused"].as_bool() != Some(true))
        .map(|w| w["workerid"].as_i64().unwrap())
        .filter(|id| *id != wid)
        .collect();
    placed(worker, || {
        let (forced, started) =
            force_with_others_paused(bb, &others, builder, props, Duration::from_secs(60));
        (forced, started == (Some(mid), Some(wid)))
    })
}

/// Runs `f` on a thread of its own inside the namespace of fleet host `host` (e.g. a master's
/// host while it is cut off from the others) and returns its result.
pub fn on_host<T: Send>(fleet: &Fleet, host: &str, f: impl FnOnce() -> T + Send) -> T {
    let netns_name = fleet.host(host).netns.clone();
    std::thread::scope(|s| {
        s.spawn(move || {
            let _inside = netns::enter(&netns_name).unwrap();
            netns::assert_in(&netns_name);
            f()
        })
        .join()
        .unwrap()
    })
}
