//! What this master did since a moment (`GET /v1/master/analysis`): the builds it started, from
//! Buildbot's REST API, and the signs of trouble in its `twistd.log`
//! (`crate::master::log_signals`). A canary upgrade's gate asks it of the canaries and of the old
//! masters, and compares.

use std::collections::HashMap;

use bbctl_api::{AnalysisBuild, LogSignals, MasterAnalysis};

use super::{Topology, TopologyError, convert};
use crate::master::logs;

/// How far ahead of the agent's clock `since` may be: hosts' clocks differ a little, a day more
/// is a mistake.
const MAX_AHEAD_SECS: f64 = 86_400.0;

/// Whether `since` is a moment to look from, by the agent's clock `now`: Unix seconds, not
/// negative, at most [`MAX_AHEAD_SECS`] ahead.
pub fn is_moment(since: f64, now: f64) -> bool {
    since.is_finite() && since >= 0.0 && since <= now + MAX_AHEAD_SECS
}

impl Topology {
    /// This master's builds started at or after `since` (oldest first) and its log's signals
    /// since then. Buildbot and the log stamp whole seconds, so both count from the second
    /// `since` falls in. A master Buildbot does not know (and the agent never knew) has no
    /// builds; a REST failure fails the whole answer.
    pub async fn analysis(&self, since: f64) -> Result<MasterAnalysis, TopologyError> {
        let at = crate::db::now();
        if !is_moment(since, at) {
            return Err(TopologyError::BadSince(since));
        }
        let since_secs = since.floor() as i64;
        let basedir = self.inner.this.basedir.clone();
        let scan = tokio::task::spawn_blocking(move || logs::signals_since(&basedir, since_secs));
        let (builds, log) = tokio::join!(self.builds_since(since_secs), scan);
        let (masterid, builds) = builds?;
        let log = log.unwrap_or_else(|e| {
            tracing::error!(error = %e, "the scan of twistd.log failed");
            LogSignals::default()
        });
        Ok(MasterAnalysis {
            since,
            at,
            masterid,
            builds,
            log,
        })
    }

    /// This master's id, as `GET /v1/master` finds it (its row, else the id the agent saw
    /// before), and its builds started at or after `since_secs`, oldest first.
    async fn builds_since(
        &self,
        since_secs: i64,
    ) -> Result<(Option<i64>, Vec<AnalysisBuild>), TopologyError> {
        let rest = self.inner.rest.as_ref();
        let (masters, builders) = tokio::join!(rest.masters(), rest.builders());
        let masterid = self
            .find(&masters?)
            .map(|m| m.masterid)
            .or_else(|| self.inner.runtime.identity.get().map(|(id, _)| id));
        let Some(id) = masterid else {
            return Ok((None, Vec::new()));
        };
        let names: HashMap<i64, String> = builders?
            .into_iter()
            .map(|b| (b.builderid, b.name))
            .collect();
        let mut builds = rest.builds_started_since(id, since_secs).await?;
        builds.sort_by_key(|b| (b.started_at, b.buildid));
        let builds = builds
            .iter()
            .map(|b| convert::analysis_build(b, &names))
            .collect();
        Ok((masterid, builds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_moment_up_to_a_day_ahead() {
        let now = 1_700_000_000.5;
        for ok in [0.0, 1.5, now, now + MAX_AHEAD_SECS] {
            assert!(is_moment(ok, now), "{ok}");
        }
        for bad in [
            -1.0,
            -0.0001,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            now + MAX_AHEAD_SECS + 1.0,
        ] {
            assert!(!is_moment(bad, now), "{bad}");
        }
    }
}
