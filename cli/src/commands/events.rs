//! `bbctl events [--follow]`: the event streams of every agent, merged. Without `--follow`,
//! each agent's backlog (`?since=0`) is read until the stream goes quiet, then everything is
//! printed in time order; with `--follow`, events are printed as they arrive until interrupted.
//! Each event's `agent` is the inventory name of the agent it came from ([`crate::names`]).

use std::time::Duration;

use bbctl_api::Event;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::cli::EventsArgs;
use crate::client::{AgentClient, ApiError};
use crate::ctx::Ctx;
use crate::exit::Exit;
use crate::report::{Outcome, Report};

/// The backlog is complete once an agent sends nothing for this long.
const QUIET: Duration = Duration::from_millis(300);

enum Message {
    /// An event from the agent of `ctx.targets()[target]`.
    Event {
        target: usize,
        event: Box<Event>,
    },
    Failed(ApiError),
}

pub async fn run(args: &EventsArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let (tx, mut rx) = mpsc::channel(1024);
    for (i, target) in ctx.targets().iter().enumerate() {
        tokio::spawn(pump(i, ctx.client(target), args.follow, tx.clone()));
    }
    drop(tx);

    // Event summaries name masters as Buildbot does (`host:basedir`); print the inventory's.
    let names = super::master_names::MasterNames::load(ctx).await;
    let mut outcome = Outcome::ok(Report::Streamed);
    let mut backlog = Vec::new();
    let mut printer = crate::output::events::Printer::new(ctx.format, ctx.terminal.stdout);
    while let Some(mut message) = rx.recv().await {
        if let Message::Event { target, event } = &mut message {
            event.agent = ctx.name_for(&ctx.targets()[*target], &event.agent);
            event.summary = names.rewrite(&event.summary);
        }
        match message {
            Message::Event { event, .. } if args.follow => printer.print(&event)?,
            Message::Event { event, .. } => backlog.push(*event),
            Message::Failed(err) => {
                let level = if err.is_unreachable() {
                    "warning"
                } else {
                    "error"
                };
                let exit = if err.is_unreachable() {
                    Exit::Partial
                } else {
                    Exit::Failed
                };
                outcome.exit = outcome.exit.worst(exit);
                eprintln!("{level}: {err}");
            }
        }
    }
    if !args.follow {
        backlog.sort_by(|a, b| a.at.total_cmp(&b.at).then(a.agent.cmp(&b.agent)));
        outcome.report = Report::Events(backlog);
    }
    Ok(outcome)
}

/// Forwards one agent's events until its stream ends (or goes quiet, without `follow`).
async fn pump(target: usize, client: AgentClient, follow: bool, tx: mpsc::Sender<Message>) {
    let stream = match client.events(0).await {
        Ok(stream) => stream,
        Err(err) => {
            let _ = tx.send(Message::Failed(err)).await;
            return;
        }
    };
    let mut stream = std::pin::pin!(stream);
    loop {
        let next = if follow {
            stream.next().await
        } else {
            match tokio::time::timeout(QUIET, stream.next()).await {
                Ok(next) => next,
                Err(_) => return,
            }
        };
        let message = match next {
            Some(Ok(event)) => Message::Event {
                target,
                event: Box::new(event),
            },
            Some(Err(err)) => Message::Failed(err),
            None => {
                if follow {
                    let detail = "the event stream ended".to_string();
                    let err = ApiError::Unreachable {
                        agent: client.name().to_string(),
                        detail,
                    };
                    let _ = tx.send(Message::Failed(err)).await;
                }
                return;
            }
        };
        let failed = matches!(message, Message::Failed(_));
        if tx.send(message).await.is_err() || failed {
            return;
        }
    }
}
