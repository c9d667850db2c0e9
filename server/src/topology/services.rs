//! Buildbot's clustered services (schedulers and change sources) and who owns each, for
//! `GET /v1/fleet`: an upgrade's verify step reads ownership through the agents, never from
//! Buildbot's REST API directly. Fetched only for the fleet view, not for every `/v1/master`.

use bbctl_api::{ClusteredService, ServiceKind};

use crate::buildbot::{self, BuildbotApi, RestResult};

/// Every scheduler and change source with its owner; a failed read fails the whole call.
pub async fn fetch(api: &dyn BuildbotApi) -> RestResult<Vec<ClusteredService>> {
    let (schedulers, changesources) = tokio::join!(api.schedulers(), api.changesources());
    Ok(schedulers?
        .into_iter()
        .map(|s| wire(ServiceKind::Scheduler, s))
        .chain(
            changesources?
                .into_iter()
                .map(|s| wire(ServiceKind::ChangeSource, s)),
        )
        .collect())
}

fn wire(kind: ServiceKind, s: buildbot::ClusteredService) -> ClusteredService {
    ClusteredService {
        kind,
        name: s.name,
        masterid: s.master.as_ref().map(|m| m.masterid),
        master_name: s.master.and_then(|m| m.name),
    }
}
