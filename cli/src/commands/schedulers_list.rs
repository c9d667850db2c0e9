//! `bbctl schedulers list`: every scheduler and change source of the fleet with the master that
//! owns it (Buildbot's `/api/v2/schedulers` and `/changesources`, read through an agent's
//! `GET /v1/fleet`); unowned ones are marked and explained.

use bbctl_api::ServiceKind;

use super::schedulers::POLL_INTERVAL_SECS;
use crate::cli::FilterArgs;
use crate::ctx::Ctx;
use crate::report::{Outcome, Report, SchedulerRow};

pub async fn run(args: &FilterArgs, ctx: &Ctx) -> anyhow::Result<Outcome> {
    super::fleet::check_filter(ctx, args.master.as_deref()).await?;
    let (fleet, mut outcome) = super::fleet::load(ctx).await?;
    let mut rows: Vec<SchedulerRow> = fleet
        .view
        .services
        .iter()
        .map(|s| SchedulerRow {
            kind: s.kind,
            name: s.name.clone(),
            owner: s.masterid.map(|id| fleet.master_name(id)),
            masterid: s.masterid,
            buildbot_name: s.master_name.clone(),
        })
        .filter(|row| args.master.is_none() || row.owner == args.master)
        .collect();
    rows.sort_by(|a, b| (kind_order(a.kind), &a.name).cmp(&(kind_order(b.kind), &b.name)));
    if let Some(line) = unowned_note(&rows) {
        outcome.warnings.push(line);
    }
    outcome.report = Report::Schedulers(rows);
    Ok(outcome)
}

fn kind_order(kind: ServiceKind) -> u8 {
    match kind {
        ServiceKind::Scheduler => 0,
        ServiceKind::ChangeSource => 1,
    }
}

/// The stderr line when some are unowned: how many, and when Buildbot claims them.
fn unowned_note(rows: &[SchedulerRow]) -> Option<String> {
    let unowned = rows.iter().filter(|r| r.masterid.is_none()).count();
    (unowned > 0).then(|| {
        format!(
            "note: {unowned} without an owner: nothing triggers them until an active master \
             claims them, which Buildbot tries only when a master starts and on each master's \
             activity poll (every {:.0} s)",
            POLL_INTERVAL_SECS
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: ServiceKind, name: &str, masterid: Option<i64>) -> SchedulerRow {
        SchedulerRow {
            kind,
            name: name.into(),
            owner: masterid.map(|id| format!("master-{id}")),
            masterid,
            buildbot_name: None,
        }
    }

    #[test]
    fn unowned_ones_are_counted_and_explained() {
        let rows = [
            row(ServiceKind::Scheduler, "force", Some(1)),
            row(ServiceKind::Scheduler, "nightly", None),
            row(ServiceKind::ChangeSource, "poller", None),
        ];
        let note = unowned_note(&rows).unwrap();
        assert!(note.starts_with("note: 2 without an owner"), "{note}");
        assert!(note.contains("every 300 s"), "{note}");
        assert_eq!(unowned_note(&rows[..1]), None);
    }
}
