//! Issue 14, fault 4: a master SIGKILLed while it holds a claimed build request and runs its
//! build. Buildbot 4.x alone never gives the request back (another master's expiry, 10 minutes
//! later, deletes only ITS OWN claims — docs/masters.md); `bbctl masters expire` runs the dead
//! master's housekeeping with Buildbot's own code, and the request runs on the other master.
//! A live master is refused. Then `masters prune` hides the dead row (fleet store only).

use std::time::Duration;

use bbctl_api::{ExpireMasterResult, MastersTable, PruneMastersResult};
use bbctl_e2e::{Fleet, pid_alive, wait_until};

use crate::common::{assert_success_after_retries, kill, text};
use crate::support::*;

pub fn sigkilled_master_gives_its_request_back(fleet: &Fleet, i: usize) {
    let other = 1 - i;
    let name = fleet.info.masters[i].name.clone();
    let bb = fleet.buildbot(other);
    let mid = masterid(fleet, &bb, i);
    let busy = force_on(&bb, mid, "sleep", &[("duration", "20")]);

    // A live master is refused, and nothing changes.
    let live = fleet.bbctl(&["masters", "expire", &name, "--yes"]);
    assert_eq!(live.status.code(), Some(5), "{}", text(&live));
    assert!(text(&live).contains("is running"), "{}", text(&live));
    let claim = format!(
        "SELECT masterid FROM buildrequest_claims WHERE brid = {}",
        busy.buildrequestid
    );
    assert_eq!(fleet.db_query(&claim).unwrap(), mid.to_string());

    // The kill, proven; the claim is still the dead master's.
    let pid = twistd_pid(&fleet.info.masters[i].basedir).unwrap();
    kill(pid, "KILL");
    assert!(!pid_alive(pid));
    assert_eq!(fleet.db_query(&claim).unwrap(), mid.to_string());
    let app = format!("buildbot:{name}");
    wait_until(
        "the killed master's database sessions to close",
        Duration::from_secs(30),
        || {
            let n = fleet.db_query(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'"
            ))?;
            Ok((n == "0").then_some(()))
        },
    )
    .unwrap();

    let out = fleet.bbctl(&["masters", "expire", &name, "--yes", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let result: ExpireMasterResult = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result.masterid, mid);
    assert!(result.was_active, "{result:#?}");
    assert!(
        result.requests_returned.contains(&busy.buildrequestid),
        "{result:#?}"
    );
    assert_eq!(result.builds_retried.len(), 1, "{result:#?}");
    assert!(result.notified, "{result:#?}");
    assert!(
        result.evidence.iter().any(|e| e.contains("not running")),
        "{result:#?}"
    );

    // The request ran again on the live master: RETRY (the cut build), then SUCCESS.
    let builds = assert_success_after_retries(&bb, busy.buildrequestid, 1);
    assert_eq!(builds[0]["masterid"].as_i64(), Some(mid), "{builds:#?}");
    assert_ne!(builds[1]["masterid"].as_i64(), Some(mid), "{builds:#?}");

    // Prune: the dead row is inactive and referenced by nothing now; the live one is kept.
    let dry = fleet.bbctl(&["masters", "prune", "--dry-run", "-o", "json"]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    let dry: PruneMastersResult = serde_json::from_slice(&dry.stdout).unwrap();
    assert!(dry.hidden.iter().any(|m| m.id == mid), "{dry:#?}");
    assert!(dry.kept.iter().any(|m| m.id != mid), "{dry:#?}");
    let table: MastersTable = fleet.agent(other).get("/v1/buildbot-db/masters").unwrap();
    assert!(
        table.masters.iter().all(|m| !m.hidden),
        "dry run hid nothing"
    );
    let done = fleet.bbctl(&["masters", "prune", "-o", "json"]);
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    let table: MastersTable = fleet.agent(other).get("/v1/buildbot-db/masters").unwrap();
    let row = table.masters.iter().find(|m| m.id == mid).unwrap();
    assert!(row.hidden && !row.active, "{row:#?}");
    let rows = fleet.db_query("SELECT count(*) FROM masters").unwrap();
    assert_eq!(rows, "2", "Buildbot's table keeps its rows");
}
