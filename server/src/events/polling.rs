//! The polling event source: while the WAMP source is not connected, read Buildbot's REST API
//! every `poll_interval_secs` and turn the differences between two snapshots into
//! `buildbot.*` events (source `polling`).
//!
//! Polling sees states, not transitions: a build that starts and ends between two polls, or a
//! worker that reconnects within one interval, produces no event.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::EventHub;
use crate::buildbot::BuildbotApi;
use crate::buildbot::Snapshot;

/// One event to publish: kind, summary, data.
pub type Change = (&'static str, String, serde_json::Value);

/// Runs until the task is aborted: every `interval`, while the hub says WAMP is not connected,
/// reads `rest` and publishes what changed on `hub`.
pub async fn run(rest: Arc<dyn BuildbotApi>, hub: EventHub, interval: Duration) {
    let mut wamp = hub.watch_wamp();
    let mut prev: Option<Snapshot> = None;
    loop {
        if *wamp.borrow_and_update() {
            // The WAMP source delivers events; start from a fresh snapshot when it goes away.
            prev = None;
            if wamp.changed().await.is_err() {
                return;
            }
            continue;
        }
        match Snapshot::fetch(rest.as_ref()).await {
            Ok(next) => {
                if let Some(p) = &prev {
                    for (kind, summary, data) in diff(p, &next) {
                        hub.publish(kind, "polling", summary, data);
                    }
                }
                prev = Some(next);
            }
            Err(e) => tracing::debug!(error = %e, "polling: REST API not answering"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            changed = wamp.changed() => if changed.is_err() { return },
        }
    }
}

/// The events that explain the change from `a` to `b`.
pub fn diff(a: &Snapshot, b: &Snapshot) -> Vec<Change> {
    let mut out = Vec::new();
    masters(a, b, &mut out);
    workers(a, b, &mut out);
    builds(a, b, &mut out);
    requests(a, b, &mut out);
    out
}

fn masters(a: &Snapshot, b: &Snapshot, out: &mut Vec<Change>) {
    let before: BTreeMap<i64, bool> = a.masters.iter().map(|m| (m.masterid, m.active)).collect();
    for m in &b.masters {
        let was = before.get(&m.masterid).copied().unwrap_or(false);
        let data = json!({"masterid": m.masterid, "name": m.name, "active": m.active});
        if m.active && !was {
            out.push((
                "buildbot.masters.started",
                format!("master {} started", m.name),
                data,
            ));
        } else if !m.active && was {
            out.push((
                "buildbot.masters.stopped",
                format!("master {} stopped", m.name),
                data,
            ));
        }
    }
}

fn connections(s: &Snapshot) -> BTreeMap<(i64, i64), String> {
    s.workers
        .iter()
        .flat_map(|w| {
            w.connected_to
                .iter()
                .map(move |m| ((w.workerid, m.masterid), w.name.clone()))
        })
        .collect()
}

fn workers(a: &Snapshot, b: &Snapshot, out: &mut Vec<Change>) {
    let (before, after) = (connections(a), connections(b));
    for ((workerid, masterid), name) in &after {
        if !before.contains_key(&(*workerid, *masterid)) {
            out.push((
                "buildbot.workers.connected",
                format!("worker {name} connected to master {masterid}"),
                json!({"workerid": workerid, "name": name, "masterid": masterid}),
            ));
        }
    }
    for ((workerid, masterid), name) in &before {
        if !after.contains_key(&(*workerid, *masterid)) {
            out.push((
                "buildbot.workers.disconnected",
                format!("worker {name} disconnected from master {masterid}"),
                json!({"workerid": workerid, "name": name, "masterid": masterid}),
            ));
        }
    }
}

fn builds(a: &Snapshot, b: &Snapshot, out: &mut Vec<Change>) {
    let before: BTreeSet<i64> = a.builds.iter().map(|x| x.buildid).collect();
    let after: BTreeSet<i64> = b.builds.iter().map(|x| x.buildid).collect();
    let name = |s: &Snapshot, id: i64| {
        s.builder_names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    };
    for x in b.builds.iter().filter(|x| !before.contains(&x.buildid)) {
        out.push((
            "buildbot.builds.new",
            format!("build {} of {} started", x.buildid, name(b, x.builderid)),
            json!({"buildid": x.buildid, "builderid": x.builderid, "number": x.number,
                   "masterid": x.masterid, "workerid": x.workerid, "buildrequestid": x.buildrequestid}),
        ));
    }
    for x in a.builds.iter().filter(|x| !after.contains(&x.buildid)) {
        out.push((
            "buildbot.builds.finished",
            format!("build {} of {} finished", x.buildid, name(a, x.builderid)),
            json!({"buildid": x.buildid, "builderid": x.builderid, "number": x.number,
                   "masterid": x.masterid, "workerid": x.workerid, "buildrequestid": x.buildrequestid}),
        ));
    }
}

fn requests(a: &Snapshot, b: &Snapshot, out: &mut Vec<Change>) {
    let before: BTreeMap<i64, bool> = a
        .requests
        .iter()
        .map(|r| (r.buildrequestid, r.claimed))
        .collect();
    for r in &b.requests {
        let data = json!({"buildrequestid": r.buildrequestid, "builderid": r.builderid,
                          "claimed": r.claimed, "claimed_by_masterid": r.claimed_by_masterid});
        let id = r.buildrequestid;
        match (before.get(&id), r.claimed) {
            (None, false) => out.push((
                "buildbot.buildrequests.new",
                format!("build request {id} submitted"),
                data,
            )),
            (None | Some(false), true) => out.push((
                "buildbot.buildrequests.claimed",
                format!(
                    "build request {id} claimed by master {}",
                    r.claimed_by_masterid.unwrap_or(0)
                ),
                data,
            )),
            (Some(true), false) => out.push((
                "buildbot.buildrequests.unclaimed",
                format!("build request {id} unclaimed"),
                data,
            )),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildbot::{Build, BuildRequest, Master, MasterRef, Worker};

    fn snap(active: bool, connected: bool, build: bool, claimed: Option<bool>) -> Snapshot {
        Snapshot {
            masters: vec![Master {
                masterid: 1,
                name: "h:/m".into(),
                active,
                last_active: None,
            }],
            workers: vec![Worker {
                workerid: 7,
                name: "w".into(),
                paused: false,
                pause_reason: None,
                connected_to: if connected {
                    vec![MasterRef { masterid: 1 }]
                } else {
                    vec![]
                },
            }],
            builds: if build {
                vec![Build {
                    buildid: 9,
                    builderid: 2,
                    number: Some(1),
                    workerid: Some(7),
                    masterid: Some(1),
                    buildrequestid: Some(4),
                    started_at: Some(1),
                    complete_at: None,
                    complete: false,
                    state_string: None,
                    results: None,
                }]
            } else {
                vec![]
            },
            builder_names: [(2, "b".to_string())].into(),
            requests: claimed
                .map(|c| BuildRequest {
                    buildrequestid: 4,
                    builderid: 2,
                    claimed: c,
                    claimed_by_masterid: c.then_some(1),
                    submitted_at: None,
                    complete: false,
                })
                .into_iter()
                .collect(),
        }
    }

    fn kinds(changes: Vec<Change>) -> Vec<&'static str> {
        changes.into_iter().map(|c| c.0).collect()
    }

    #[test]
    fn no_change_no_event() {
        let s = snap(true, true, true, Some(true));
        assert!(diff(&s, &s).is_empty());
    }

    #[test]
    fn transitions_become_events() {
        let off = snap(false, false, false, Some(false));
        let on = snap(true, true, true, Some(true));
        assert_eq!(
            kinds(diff(&off, &on)),
            [
                "buildbot.masters.started",
                "buildbot.workers.connected",
                "buildbot.builds.new",
                "buildbot.buildrequests.claimed"
            ]
        );
        assert_eq!(
            kinds(diff(&on, &off)),
            [
                "buildbot.masters.stopped",
                "buildbot.workers.disconnected",
                "buildbot.builds.finished",
                "buildbot.buildrequests.unclaimed"
            ]
        );
        let none = snap(false, false, false, None);
        assert_eq!(kinds(diff(&none, &off)), ["buildbot.buildrequests.new"]);
        let (_, summary, data) = diff(&off, &on).remove(2);
        assert_eq!(summary, "build 9 of b started");
        assert_eq!(data["workerid"], 7);
    }
}
