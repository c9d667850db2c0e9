//! `POST /v1/buildbot-db/masters/prune`: which `masters` rows bbctl may hide — inactive and
//! referenced by nothing (no incomplete build, claim, scheduler/changesource/builder master
//! row). Hiding writes only the fleet store's `hidden_masters` (the handler does it); Buildbot's
//! tables are never written.

use std::collections::HashSet;

use bbctl_api::{MastersTableRow, PruneMastersResult, PrunedMaster};

/// Splits `rows` into (to hide, kept with a reason). Rows already hidden are left out.
pub fn select(rows: &[MastersTableRow], dry_run: bool) -> PruneMastersResult {
    let mut hidden = Vec::new();
    let mut kept = Vec::new();
    for row in rows.iter().filter(|r| !r.hidden) {
        let entry = PrunedMaster {
            id: row.id,
            name: row.name.clone(),
            kept_because: kept_because(row),
        };
        if entry.kept_because.is_some() {
            kept.push(entry);
        } else {
            hidden.push(entry);
        }
    }
    PruneMastersResult {
        dry_run,
        hidden,
        kept,
    }
}

/// Why a row must stay visible; `None`: it may be hidden.
fn kept_because(row: &MastersTableRow) -> Option<String> {
    if row.active {
        return Some("active in Buildbot's masters table".into());
    }
    let r = &row.refs;
    let parts: Vec<String> = [
        (r.incomplete_builds, "incomplete build"),
        (r.claimed_requests, "claimed request"),
        (r.schedulers, "scheduler"),
        (r.changesources, "change source"),
        (r.builders, "builder"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}{}", if *n == 1 { "" } else { "s" }))
    .collect();
    if parts.is_empty() {
        None
    } else {
        Some(format!("still referenced: {}", parts.join(", ")))
    }
}

/// The ids of `result.hidden`, for the store.
pub fn to_hide(result: &PruneMastersResult) -> Vec<(i64, String)> {
    result
        .hidden
        .iter()
        .map(|m| (m.id, m.name.clone()))
        .collect()
}

/// The set of hidden ids, from the store's rows.
pub fn hidden_ids(rows: &[(i64, String)]) -> HashSet<i64> {
    rows.iter().map(|(id, _)| *id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bbctl_api::MasterRefs;

    fn row(id: i64, active: bool, refs: MasterRefs, hidden: bool) -> MastersTableRow {
        MastersTableRow {
            id,
            name: format!("h:/m{id}"),
            active,
            last_active: Some(1),
            refs,
            hidden,
        }
    }

    #[test]
    fn only_inactive_unreferenced_rows_are_hidden() {
        let claims = MasterRefs {
            claimed_requests: 2,
            builders: 1,
            ..MasterRefs::default()
        };
        let rows = [
            row(1, true, MasterRefs::default(), false),
            row(2, false, MasterRefs::default(), false),
            row(3, false, claims, false),
            row(4, false, MasterRefs::default(), true),
        ];
        let r = select(&rows, true);
        assert!(r.dry_run);
        assert_eq!(r.hidden.iter().map(|m| m.id).collect::<Vec<_>>(), [2]);
        assert_eq!(r.kept.len(), 2);
        assert_eq!(
            r.kept[0].kept_because.as_deref(),
            Some("active in Buildbot's masters table")
        );
        assert_eq!(
            r.kept[1].kept_because.as_deref(),
            Some("still referenced: 2 claimed requests, 1 builder")
        );
        assert_eq!(to_hide(&r), [(2, "h:/m2".to_owned())]);
    }
}
