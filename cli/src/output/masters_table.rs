//! The text of `masters expire` and `masters prune` (their JSON is the wire type itself).

use std::fmt::Write;

use bbctl_api::{ExpireMasterResult, PruneMastersResult, PrunedMaster};

/// `masters expire`: what the housekeeping did and why the master was judged gone.
pub fn expire(r: &ExpireMasterResult) -> String {
    let mut s = String::new();
    let state = if r.was_active { "active" } else { "inactive" };
    let _ = writeln!(
        s,
        "expired master #{} {} (was {state}) with Buildbot {}",
        r.masterid, r.name, r.buildbot_version
    );
    let _ = writeln!(s, "  builds retried:     {}", ids(&r.builds_retried));
    let _ = writeln!(s, "  requests returned:  {}", ids(&r.requests_returned));
    let _ = writeln!(
        s,
        "  schedulers and change sources released: {}",
        r.schedulers_released
    );
    let told = if r.notified {
        "yes (through the message queue)"
    } else {
        "no: they take the requests at their next trigger"
    };
    let _ = writeln!(s, "  live masters told:  {told}");
    if let Some(agent) = &r.agent_retired {
        let _ = writeln!(
            s,
            "  registry:           agent {agent} was silent too; marked stopped (it registers again if it comes back)"
        );
    }
    let _ = writeln!(s, "  evidence:");
    for line in &r.evidence {
        let _ = writeln!(s, "    - {line}");
    }
    s
}

/// `masters prune`: the rows hidden (or that would be) and the rows kept, with their reason.
pub fn prune(r: &PruneMastersResult) -> String {
    let mut s = String::new();
    let verb = if r.dry_run { "would hide" } else { "hidden" };
    if r.hidden.is_empty() {
        let _ = writeln!(s, "{verb}: none");
    } else {
        let _ = writeln!(s, "{verb}:");
        for m in &r.hidden {
            let _ = writeln!(s, "  #{} {}", m.id, m.name);
        }
    }
    if !r.kept.is_empty() {
        let _ = writeln!(s, "kept:");
        for m in &r.kept {
            let _ = writeln!(s, "  #{} {}: {}", m.id, m.name, reason(m));
        }
    }
    s
}

fn reason(m: &PrunedMaster) -> &str {
    m.kept_because.as_deref().unwrap_or("-")
}

fn ids(v: &[i64]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
}
