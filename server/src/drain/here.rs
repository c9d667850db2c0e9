//! What one look at Buildbot shows on the draining master: the builds running on it and the
//! workers attached to it — what every step of a tick (`super::engine`) decides from.

use std::collections::{BTreeMap, BTreeSet};

use super::crash::attached_here;
use super::env::Observation;
use super::model::{DrainState, RunningBuild};
use crate::buildbot::Worker;

/// What one look at Buildbot shows on this master.
pub(super) struct Here<'o> {
    /// Builds running on this master (buildid → workerid).
    pub builds: BTreeMap<i64, Option<i64>>,
    /// Workers attached to this master.
    pub workers: Vec<&'o Worker>,
    /// The build requests of the builds running here.
    pub requests: BTreeSet<i64>,
}

impl<'o> Here<'o> {
    pub fn look(obs: &'o Observation, s: &DrainState) -> Self {
        let (mid, restarted) = (s.masterid, s.restarted_at.is_some());
        Here {
            builds: obs
                .builds
                .iter()
                .filter(|b| b.masterid == Some(mid))
                .map(|b| (b.buildid, b.workerid))
                .collect(),
            workers: obs
                .workers
                .iter()
                .filter(|w| attached_here(w, mid, restarted, obs.logged_detached.contains(&w.name)))
                .collect(),
            requests: obs
                .builds
                .iter()
                .filter(|b| b.masterid == Some(mid))
                .filter_map(|b| b.buildrequestid)
                .collect(),
        }
    }

    /// The builds running here as the status shows them: number, worker name, start.
    pub fn running_builds(&self, obs: &Observation) -> BTreeMap<i64, RunningBuild> {
        obs.builds
            .iter()
            .filter(|b| self.builds.contains_key(&b.buildid))
            .map(|b| {
                let worker = b.workerid.and_then(|wid| {
                    obs.workers
                        .iter()
                        .find(|w| w.workerid == wid)
                        .map(|w| w.name.clone())
                });
                let build = RunningBuild {
                    number: b.number,
                    worker,
                    started_at: b.started_at.map(|t| t as f64),
                };
                (b.buildid, build)
            })
            .collect()
    }

    /// The build `w` runs on this master, if any.
    pub fn build_of(&self, w: &Worker) -> Option<i64> {
        self.builds
            .iter()
            .find(|(_, wid)| **wid == Some(w.workerid))
            .map(|(buildid, _)| *buildid)
    }
}
