//! One consistent-enough read of everything the agent shows about Buildbot: masters, workers,
//! running builds, builders, incomplete build requests — fetched concurrently.

use std::collections::HashMap;

use super::{Build, BuildRequest, BuildbotApi, Master, RestResult, Worker};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub masters: Vec<Master>,
    pub workers: Vec<Worker>,
    pub builds: Vec<Build>,
    pub builder_names: HashMap<i64, String>,
    pub requests: Vec<BuildRequest>,
}

impl Snapshot {
    pub async fn fetch(api: &dyn BuildbotApi) -> RestResult<Snapshot> {
        let (masters, workers, builds, builders, requests) = tokio::join!(
            api.masters(),
            api.workers(),
            api.running_builds(),
            api.builders(),
            api.incomplete_buildrequests()
        );
        Ok(Snapshot {
            masters: masters?,
            workers: workers?,
            builds: builds?.into_iter().filter(|b| !b.complete).collect(),
            builder_names: builders?
                .into_iter()
                .map(|b| (b.builderid, b.name))
                .collect(),
            requests: requests?.into_iter().filter(|r| !r.complete).collect(),
        })
    }
}
