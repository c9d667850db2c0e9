//! Following drains live: polls each agent's `GET /v1/drain` until every drain has ended,
//! feeding [`crate::output::progress::DrainProgress`] (bars on a terminal, lines otherwise), and
//! prints the agents' events (SSE) above the bars while it waits.

use std::time::Duration;

use futures_util::StreamExt;

use crate::client::AgentClient;
use crate::ctx::Ctx;
use crate::output::progress::DrainProgress;
use crate::report::DrainRow;

/// How often each agent is asked for its drain's status.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// After this many failed polls in a row, a master's drain is no longer followed.
const MAX_POLL_FAILURES: u32 = 20;

/// Follows the drains until they end; returns their last known status.
pub async fn follow(
    ctx: &Ctx,
    clients: Vec<AgentClient>,
    mut rows: Vec<DrainRow>,
) -> Vec<DrainRow> {
    let progress = DrainProgress::new(ctx.terminal.stderr, &rows);
    progress.note("following the drain; Ctrl-C detaches (the drain goes on), `bbctl drain cancel NAME` cancels it");
    let events = tokio::spawn(print_events(
        clients.clone(),
        rows.iter().map(|r| r.status.started_at).collect(),
        progress.clone(),
    ));

    let mut failures = vec![0u32; rows.len()];
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    interval.tick().await;
    loop {
        let open: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].status.phase.is_running() && failures[i] < MAX_POLL_FAILURES)
            .collect();
        if open.is_empty() {
            break;
        }
        interval.tick().await;
        let answers =
            futures_util::future::join_all(open.iter().map(|&i| clients[i].drain_status())).await;
        for (i, answer) in open.into_iter().zip(answers) {
            match answer {
                Ok(status) => {
                    failures[i] = 0;
                    rows[i].status = status;
                    progress.update(i, &rows[i].status);
                }
                Err(err) => {
                    failures[i] += 1;
                    if failures[i] == MAX_POLL_FAILURES {
                        progress.note(&format!("warning: {err}; no longer following"));
                    }
                }
            }
        }
    }
    events.abort();
    progress.finish();
    rows
}

/// Prints each draining agent's own events (`agent.*`: the drain's steps, operations, state
/// changes) from the start of its drain on, until aborted. Buildbot's MQ events are left out:
/// every agent sees the whole fleet's, so they would repeat once per agent and drown the drain's
/// story (`bbctl events` shows them). Best effort: a stream that cannot be opened leaves just the
/// progress.
async fn print_events(clients: Vec<AgentClient>, since_at: Vec<f64>, progress: DrainProgress) {
    let streams = clients.into_iter().zip(since_at).map(|(client, since_at)| {
        let progress = progress.clone();
        async move {
            let Ok(stream) = client.events(0).await else {
                return;
            };
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(event)) = stream.next().await {
                if event.at >= since_at && event.kind.starts_with("agent.") {
                    progress.note(&crate::output::events::line(&event));
                }
            }
        }
    });
    futures_util::future::join_all(streams).await;
}
