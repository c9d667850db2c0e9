//! `bbctl cordon NAME… [--reason TEXT]` and `bbctl uncordon NAME…` (issue 16; docs/cli.md).
//!
//! A cordon is the agent's drain with `cordon: true`: routing stops and the workers are handed
//! off as they go idle, but the master keeps running and the drain holds in phase `cordoned`.
//! Uncordon is the cancel of that drain. Both act on each master on its own and say per master
//! what they did; a master in the wrong state (being drained, not running) is refused (exit 5)
//! and left as it was. Neither waits: `bbctl masters list` and `bbctl drain status NAME` show
//! the workers leaving.

use bbctl_api::{DrainPhase, DrainRequest, DrainStatus, ErrorCode};

use crate::cli::{CordonArgs, UncordonArgs};
use crate::client::{AgentClient, ApiError};
use crate::ctx::Ctx;
use crate::exit::{Exit, Failure};
use crate::report::{DrainRow, Outcome, Report};

/// What one master's cordon or uncordon came to.
enum Done {
    /// Changed, or already as asked (then with a note): its status now.
    Row(Box<DrainStatus>, Option<String>),
    /// Already as asked and nothing to show (uncordon of a master never cordoned).
    Note(String),
    /// Refused for its state; nothing changed.
    Refused(String),
}

pub async fn cordon(args: &CordonArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let clients = ctx.resolve_all(&args.names).await?;
    let lease_warning = super::drain::refuse_during_upgrade(ctx, "cordon").await?;
    let request = DrainRequest {
        deadline_secs: None,
        force_after_deadline: false,
        reason: args.reason.clone(),
        requested_by: Some(crate::operator::requested_by().to_string()),
        cordon: true,
    };
    let answers = futures_util::future::join_all(clients.iter().map(|client| {
        let request = &request;
        async move { cordon_one(client, request).await }
    }))
    .await;
    let mut outcome = gather(&clients, answers);
    outcome.warnings.splice(0..0, lease_warning);
    Ok(outcome)
}

pub async fn uncordon(args: &UncordonArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    let clients = ctx.resolve_all(&args.names).await?;
    let answers = futures_util::future::join_all(clients.iter().map(uncordon_one)).await;
    Ok(gather(&clients, answers))
}

async fn cordon_one(client: &AgentClient, request: &DrainRequest) -> Result<Done, ApiError> {
    let name = client.name();
    let (created, status) = client.drain_begin(request).await?;
    Ok(match status.phase {
        DrainPhase::Cordoned if created => Done::Row(Box::new(status), None),
        DrainPhase::Cordoned => Done::Row(
            Box::new(status),
            Some(format!("{name}: already cordoned; nothing changed")),
        ),
        phase => Done::Refused(format!(
            "{name}: not cordoned: a drain holds it ({phase}); a cordon only applies to a master \
             in service (`bbctl drain status {name}`)"
        )),
    })
}

async fn uncordon_one(client: &AgentClient) -> Result<Done, ApiError> {
    let name = client.name();
    let status = match client.drain_status().await {
        Ok(status) => status,
        Err(err) if err.is(ErrorCode::NotFound) => {
            return Ok(Done::Note(format!("{name}: not cordoned; nothing changed")));
        }
        Err(err) => return Err(err),
    };
    Ok(match status.phase {
        DrainPhase::Cordoned => Done::Row(Box::new(client.drain_cancel().await?), None),
        // A cordon whose master stopped: the uncordon puts it back in rotation.
        DrainPhase::Failed if status.cordoned_at.is_some() => {
            Done::Row(Box::new(client.drain_cancel().await?), None)
        }
        phase if phase.holds_master() && status.cordoned_at.is_some() => Done::Refused(format!(
            "{name}: a drain continues its cordon ({phase}); `bbctl drain cancel {name}` returns \
             it to the cordon, then uncordon"
        )),
        phase if phase.holds_master() => Done::Refused(format!(
            "{name}: not cordoned but being drained ({phase}); `bbctl drain cancel {name}` \
             returns it to service"
        )),
        _ => Done::Note(format!("{name}: not cordoned; nothing changed")),
    })
}

/// One row per master that was changed, a warning per note or refusal; the worst exit wins.
fn gather(clients: &[AgentClient], answers: Vec<Result<Done, ApiError>>) -> Outcome {
    let mut outcome = Outcome::ok(Report::Drains(Vec::new()));
    let mut rows = Vec::new();
    for (client, answer) in clients.iter().zip(answers) {
        match answer {
            Ok(Done::Row(status, note)) => {
                outcome.warnings.extend(note);
                rows.push(DrainRow {
                    master: client.name().to_string(),
                    status: *status,
                });
            }
            Ok(Done::Note(note)) => outcome.warnings.push(note),
            Ok(Done::Refused(why)) => {
                outcome.exit = outcome.exit.worst(Exit::Refused);
                outcome.warnings.push(format!("refused: {why}"));
            }
            Err(err) => {
                outcome.exit = outcome.exit.worst(Exit::from(&err));
                outcome
                    .warnings
                    .push(format!("error: {}: {err}", client.name()));
            }
        }
    }
    outcome.report = Report::Drains(rows);
    outcome
}

/// `bbctl drain cancel NAME` on a cordoned master: refused, the cordon is lifted by uncordon.
pub fn refuse_cancel_of_cordon(name: &str, status: &DrainStatus) -> Result<(), Failure> {
    if status.phase == DrainPhase::Cordoned {
        return Err(Failure::refused(format!(
            "{name} is cordoned, not draining: `bbctl uncordon {name}` puts it back in rotation"
        )));
    }
    Ok(())
}
