//! Following drains live: polls each agent's `GET /v1/drain` until every drain has ended,
//! feeding [`crate::output::progress::DrainProgress`] (bars on a terminal, lines otherwise), and
//! prints the agents' events (SSE) above the bars while it waits.
//!
//! Following a master stops when its drain ends, when it stalls (a step has kept failing for
//! longer than `--stall-timeout`; the agent goes on retrying), when its agent stops answering,
//! or for all of them at Ctrl-C ([`FollowEnd`]); each says so with the commands to go on with.

use std::time::Duration;

use futures_util::StreamExt;

use super::master_names::MasterNames;
use crate::client::AgentClient;
use crate::ctx::Ctx;
use crate::exit::Exit;
use crate::output::drain as lines;
use crate::output::progress::DrainProgress;
use crate::report::DrainRow;
use crate::time::now_secs;

/// How often each agent is asked for its drain's status.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// After this many failed polls in a row, the agent counts as lost.
const MAX_POLL_FAILURES: u32 = 20;

/// Why following one master's drain stopped.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowEnd {
    /// The drain ended (its phase says how).
    Ended,
    /// A step has kept failing for longer than the stall timeout.
    Stalled,
    /// The agent stopped answering.
    LostContact,
    /// Ctrl-C.
    Interrupted,
}

impl FollowEnd {
    /// The exit code of a followed drain.
    pub fn exit(&self, row: &DrainRow) -> Exit {
        match self {
            FollowEnd::Ended => super::drain::phase_exit(row.status.phase),
            FollowEnd::Stalled => Exit::Stalled,
            FollowEnd::LostContact => Exit::Partial,
            FollowEnd::Interrupted => Exit::Interrupted,
        }
    }
}

/// Whether a drain in progress has stalled at `now`: a step has kept failing for at least
/// `timeout` (by the agent's account of since when).
pub fn stalled(row: &DrainRow, now: f64, timeout: Duration) -> bool {
    row.status.phase.is_running()
        && row
            .status
            .failing
            .as_ref()
            .is_some_and(|f| now - f.since >= timeout.as_secs_f64())
}

/// How `bbctl drain` follows (an upgrade follows its drains to their end, and Ctrl-C ends it
/// like any command: its journal makes it resumable).
#[derive(Debug, Clone, Copy)]
pub struct FollowOptions {
    /// Stop following a drain that has stalled this long.
    pub stall_timeout: Option<Duration>,
    /// Catch Ctrl-C: stop following with a word (exit 130) instead of dying silently.
    pub catch_interrupt: bool,
}

/// Follows the drains until they end (or their agent stops answering); returns their last
/// known status. Used by `bbctl upgrade`.
pub async fn follow(ctx: &Ctx, clients: Vec<AgentClient>, rows: Vec<DrainRow>) -> Vec<DrainRow> {
    let names = MasterNames::load(ctx).await;
    let options = FollowOptions {
        stall_timeout: None,
        catch_interrupt: false,
    };
    follow_drains(ctx, clients, rows, &names, options)
        .await
        .into_iter()
        .map(|(row, _)| row)
        .collect()
}

/// Follows the drains until each has ended or stopped being followed; returns their last known
/// status and why following each stopped.
pub async fn follow_drains(
    ctx: &Ctx,
    clients: Vec<AgentClient>,
    rows: Vec<DrainRow>,
    names: &MasterNames,
    options: FollowOptions,
) -> Vec<(DrainRow, FollowEnd)> {
    let progress = DrainProgress::new(ctx.terminal.stderr, &rows);
    let mut interrupt = Interrupt::new(options.catch_interrupt);
    let all: Vec<String> = rows.iter().map(|r| r.master.clone()).collect();
    progress.note(&format!(
        "following the drain; Ctrl-C stops following (the drain goes on), `bbctl drain cancel {}` \
         cancels it",
        all.first().map_or("NAME", String::as_str)
    ));
    let events = tokio::spawn(print_events(
        clients.clone(),
        rows.iter().map(|r| r.status.started_at).collect(),
        names.clone(),
        progress.clone(),
    ));

    let mut ends: Vec<Option<FollowEnd>> = rows
        .iter()
        .map(|r| r.status.phase.is_settled().then_some(FollowEnd::Ended))
        .collect();
    let mut rows = rows;
    let mut failures = vec![0u32; rows.len()];
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    interval.tick().await;
    loop {
        let now = now_secs();
        for (i, row) in rows.iter().enumerate() {
            if ends[i].is_none()
                && let Some(timeout) = options.stall_timeout
                && stalled(row, now, timeout)
            {
                progress.note(&lines::stalled(&row.master, &row.status, now));
                ends[i] = Some(FollowEnd::Stalled);
            }
        }
        let open: Vec<usize> = (0..rows.len()).filter(|&i| ends[i].is_none()).collect();
        if open.is_empty() {
            break;
        }
        let poll = async {
            interval.tick().await;
            futures_util::future::join_all(open.iter().map(|&i| clients[i].drain_status())).await
        };
        let answers = tokio::select! {
            answers = poll => answers,
            () = interrupt.recv() => {
                for &i in &open {
                    ends[i] = Some(FollowEnd::Interrupted);
                }
                let open_names: Vec<String> = open.iter().map(|&i| all[i].clone()).collect();
                progress.note(&lines::interrupted(&open_names));
                break;
            }
        };
        for (i, answer) in open.into_iter().zip(answers) {
            match answer {
                Ok(status) => {
                    failures[i] = 0;
                    rows[i].status = status;
                    progress.update(i, &rows[i].status);
                    if rows[i].status.phase.is_settled() {
                        ends[i] = Some(FollowEnd::Ended);
                    }
                }
                Err(err) => {
                    failures[i] += 1;
                    if failures[i] == MAX_POLL_FAILURES {
                        progress.note(&lines::lost_contact(&rows[i].master, &err.to_string()));
                        ends[i] = Some(FollowEnd::LostContact);
                    }
                }
            }
        }
    }
    events.abort();
    progress.finish();
    rows.into_iter()
        .zip(ends)
        .map(|(row, end)| (row, end.unwrap_or(FollowEnd::Ended)))
        .collect()
}

/// Ctrl-C (SIGINT) while following: caught from the moment following starts, so that it stops
/// the follow with a word instead of killing the process silently.
struct Interrupt {
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    /// Catches Ctrl-C from now on if `catch`; else Ctrl-C keeps its default (the process ends).
    fn new(catch: bool) -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Interrupt {
            signal: catch
                .then(|| signal(SignalKind::interrupt()).ok())
                .flatten(),
        }
    }

    /// Resolves at the next Ctrl-C (never, if it is not caught).
    async fn recv(&mut self) {
        match &mut self.signal {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
}

/// Prints each draining agent's own events (`agent.*`: the drain's steps, operations, state
/// changes) from the start of its drain on, until aborted. Buildbot's MQ events are left out:
/// every agent sees the whole fleet's, so they would repeat once per agent and drown the drain's
/// story (`bbctl events` shows them). Masters are named as in the inventory. Best effort: a
/// stream that cannot be opened leaves just the progress.
async fn print_events(
    clients: Vec<AgentClient>,
    since_at: Vec<f64>,
    names: MasterNames,
    progress: DrainProgress,
) {
    let streams = clients.into_iter().zip(since_at).map(|(client, since_at)| {
        let progress = progress.clone();
        let names = names.clone();
        async move {
            let Ok(stream) = client.events(0).await else {
                return;
            };
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(event)) = stream.next().await {
                if event.at >= since_at && event.kind.starts_with("agent.") {
                    let event = names.event(client.name(), event);
                    progress.note(&crate::output::events::line(&event));
                }
            }
        }
    });
    futures_util::future::join_all(streams).await;
}

#[cfg(test)]
mod tests {
    use bbctl_api::{DrainFailure, DrainPhase, DrainStatus};

    use super::*;

    fn row(phase: DrainPhase, failing_since: Option<f64>) -> DrainRow {
        let mut status: DrainStatus = serde_json::from_value(serde_json::json!({
            "id": 1, "phase": phase, "started_at": 100.0, "finished_at": null,
            "deadline_at": null, "force_after_deadline": false, "reason": null,
            "requested_by": null, "builds_running": 0, "builds_finished": 0,
            "builds_requeued": 0, "workers_attached": 0, "workers_handed_off": [],
            "message": null
        }))
        .unwrap();
        status.failing = failing_since.map(|since| DrainFailure {
            reason: "load balancer: refused".into(),
            since,
        });
        DrainRow {
            master: "m2".into(),
            status,
        }
    }

    #[test]
    fn a_drain_stalls_once_its_step_has_failed_for_the_timeout() {
        let timeout = Duration::from_secs(120);
        assert!(!stalled(&row(DrainPhase::Draining, None), 1000.0, timeout));
        assert!(!stalled(
            &row(DrainPhase::Draining, Some(900.0)),
            1019.9,
            timeout
        ));
        assert!(stalled(
            &row(DrainPhase::Draining, Some(900.0)),
            1020.0,
            timeout
        ));
        // An ended drain does not stall, whatever it last reported.
        assert!(!stalled(
            &row(DrainPhase::Failed, Some(0.0)),
            1020.0,
            timeout
        ));
    }

    #[test]
    fn each_end_has_its_exit_code() {
        let draining = row(DrainPhase::Draining, None);
        assert_eq!(FollowEnd::Stalled.exit(&draining), Exit::Stalled);
        assert_eq!(FollowEnd::LostContact.exit(&draining), Exit::Partial);
        assert_eq!(FollowEnd::Interrupted.exit(&draining), Exit::Interrupted);
        let passed = row(DrainPhase::DeadlinePassed, None);
        assert_eq!(FollowEnd::Ended.exit(&passed), Exit::DeadlinePassed);
        assert_eq!(
            FollowEnd::Ended.exit(&row(DrainPhase::Drained, None)),
            Exit::Ok
        );
    }
}
