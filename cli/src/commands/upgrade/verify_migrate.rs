//! What verify adds for `migrate`: the database is at the new head (`GET /v1/buildbot-db` on the
//! coordinator), and the build requests that waited through the no-service window are taken.
//! The backup step recorded, by id, the requests waiting unclaimed in the DB while every old
//! master was stopped (`migration.window.pending_at_backup`); verify reads the DB's unclaimed
//! requests on the coordinator and waits (bounded) until none of those is still among them. A
//! request that is complete or claimed is taken. One still waiting is a finding naming it (a
//! request for a builder with no connected worker waits for reasons no upgrade can fix).
//! Requests claimed by a stopped master fail verify already ([`super::verify::assess`]).

use std::time::Duration;

use super::error::UpgradeError;
use super::lease;
use super::run::Runner;
use crate::report::upgrade::Journal;

/// How long the requests of the window may take to be claimed by the new masters.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(60);
/// Time between two looks at the DB's unclaimed requests.
const POLL: Duration = Duration::from_secs(1);

/// The requests of `pending` still among `unclaimed` (both ascending or not), in `pending`'s
/// order: those not taken yet.
pub fn still_waiting(pending: &[i64], unclaimed: &[i64]) -> Vec<i64> {
    pending
        .iter()
        .copied()
        .filter(|id| unclaimed.contains(id))
        .collect()
}

impl Runner<'_> {
    /// Checks the head and the window's requests; returns a line for the step's message and
    /// records the findings in `j`.
    pub(super) async fn verify_migration(&self, j: &mut Journal) -> Result<String, UpgradeError> {
        let Some(m) = j.migration.clone() else {
            return Ok(String::new());
        };
        let coordinator = lease::coordinator(self.ctx)?;
        let mut info = coordinator.buildbot_db().await?;
        if info.db_head.as_deref() != Some(m.to_head.as_str()) {
            return Err(UpgradeError::failed(
                format!(
                    "the database is at schema {}, not {}",
                    info.db_head.as_deref().unwrap_or("unknown"),
                    m.to_head
                ),
                info.problems,
            ));
        }
        // A journal without the record (from before it, or unread at backup): the requests
        // waiting at verify's first look stand for the window's.
        let recorded = m.window.pending_at_backup.is_some();
        let mut pending = m.window.pending_at_backup.clone();
        let deadline = tokio::time::Instant::now() + CLAIM_TIMEOUT;
        let mut waiting = None;
        loop {
            if let Some(unclaimed) = &info.unclaimed_requests {
                let watched = pending.get_or_insert_with(|| unclaimed.clone());
                let left = still_waiting(watched, unclaimed);
                if let Some(mm) = j.migration.as_mut() {
                    mm.window.unclaimed_at_verify = Some(unclaimed.len() as i64);
                }
                let done = left.is_empty();
                waiting = Some(left);
                if done {
                    break;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(POLL).await;
            info = coordinator.buildbot_db().await?;
        }
        let of = if recorded {
            "of the window"
        } else {
            "waiting at verify"
        };
        let n = pending.as_ref().map_or(0, Vec::len);
        match waiting {
            Some(left) if left.is_empty() => Ok(format!(
                "DB schema {}; every request {of} taken ({n} waited)",
                m.to_head
            )),
            Some(left) => {
                j.findings.push(format!(
                    "build request(s) {} still unclaimed {}s after the new masters started \
                     (is a worker for their builders connected?)",
                    ids(&left),
                    CLAIM_TIMEOUT.as_secs()
                ));
                Ok(format!(
                    "DB schema {}; {} of {n} request(s) {of} still waiting",
                    m.to_head,
                    left.len()
                ))
            }
            None => {
                j.findings.push(format!(
                    "could not read the build requests from the database: {}",
                    info.problems.join("; ")
                ));
                Ok(format!("DB schema {}; requests {of} unknown", m.to_head))
            }
        }
    }
}

/// `4, 5, 9` (the first 20, then how many more).
fn ids(list: &[i64]) -> String {
    let mut s = list
        .iter()
        .take(20)
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > 20 {
        s.push_str(&format!(" and {} more", list.len() - 20));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_complete_or_claimed_is_taken_and_one_still_unclaimed_waits() {
        // 4 was claimed, 5 completed (neither is unclaimed any more), 9 still waits; 12 came
        // after the window and is not the upgrade's to judge.
        assert_eq!(still_waiting(&[4, 5, 9], &[9, 12]), vec![9]);
        assert!(still_waiting(&[4, 5], &[12]).is_empty());
        assert!(still_waiting(&[], &[1, 2]).is_empty(), "nothing waited");
        assert_eq!(still_waiting(&[7, 3], &[1, 3, 7]), vec![7, 3]);
    }

    #[test]
    fn many_ids_are_named_up_to_twenty() {
        assert_eq!(ids(&[4, 5]), "4, 5");
        let many: Vec<i64> = (1..=25).collect();
        assert!(ids(&many).ends_with("20 and 5 more"), "{}", ids(&many));
    }
}
