//! "This master's process is gone": the pure rule `masters/expire` checks before it runs a
//! master's housekeeping (docs/masters.md). All of these must hold:
//!
//! 1. when the master is this agent's own, its process is not running (`/proc`; a zombie is
//!    dead) — that proof is authoritative, and waives rule 3;
//! 2. no session in Buildbot's DB is attributable to it (`application_name` =
//!    `buildbot:<its Buildbot name>` or `buildbot:<its agent's name>`): a frozen (SIGSTOPped)
//!    master keeps its sessions. Sessions that cannot be attributed to any master (neither
//!    `bbctl-…` nor `buildbot:…`) refuse too, unless the operator vouches that the host is gone;
//! 3. its `last_active` is older than [`SILENT_SECS`] (a live master stamps it every 60 s).

use bbctl_api::{DbSession, MastersTableRow};

use super::guard::OWN_PREFIX;

/// A master silent this long (seconds) has missed two heartbeats and a half.
pub const SILENT_SECS: i64 = 150;
/// The `application_name` prefix of a master's sessions (scripts/fleet sets it).
pub const MASTER_PREFIX: &str = "buildbot:";

/// What the agent knows about the row's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Process {
    /// The master is this agent's own (`agent` is the agent's name); `pid` when it runs.
    Own { agent: String, pid: Option<u32> },
    /// Another agent's (or no agent's) master: its process cannot be seen from here.
    Elsewhere,
}

/// Everything the rule looks at.
pub struct Facts<'a> {
    pub row: &'a MastersTableRow,
    pub db_now: i64,
    pub process: Process,
    pub sessions: &'a [DbSession],
    pub host_gone: bool,
}

/// `Ok`: the evidence, one line per proof; `Err`: why the master is not proven gone.
pub fn judge(f: &Facts<'_>) -> Result<Vec<String>, String> {
    let name = &f.row.name;
    let mut evidence = Vec::new();
    let mut names = vec![format!("{MASTER_PREFIX}{name}")];
    let own_dead = match &f.process {
        Process::Own {
            agent,
            pid: Some(pid),
        } => {
            return Err(format!(
                "master {name} is running (pid {pid}, agent {agent}): stop it instead"
            ));
        }
        Process::Own { agent, pid: None } => {
            evidence.push(format!(
                "its agent {agent} says the master process is not running"
            ));
            names.push(format!("{MASTER_PREFIX}{agent}"));
            true
        }
        Process::Elsewhere => false,
    };
    let attributed: Vec<&DbSession> = f
        .sessions
        .iter()
        .filter(|s| names.contains(&s.application_name))
        .collect();
    if !attributed.is_empty() {
        return Err(format!(
            "master {name} still has {} session(s) in the database ({}): the process (perhaps \
             frozen) is not gone",
            attributed.len(),
            pids(&attributed)
        ));
    }
    let unattributed: Vec<&DbSession> = f
        .sessions
        .iter()
        .filter(|s| {
            !s.application_name.starts_with(OWN_PREFIX)
                && !s.application_name.starts_with(MASTER_PREFIX)
        })
        .collect();
    if unattributed.is_empty() {
        evidence.push(format!(
            "no session in the database is named {}",
            names.join(" or ")
        ));
    } else if f.host_gone {
        evidence.push(format!(
            "the operator vouched that the host is gone (--host-gone): {} session(s) no master \
             can be told from were not counted ({})",
            unattributed.len(),
            pids(&unattributed)
        ));
    } else {
        return Err(format!(
            "{} session(s) in the database cannot be attributed to a master ({}), so master \
             {name} may still hold some: give each master's db_url application_name=buildbot:<name>, \
             or pass --host-gone if its host is really gone",
            unattributed.len(),
            pids(&unattributed)
        ));
    }
    let silent = f.row.last_active.map(|t| f.db_now - t);
    match silent {
        Some(s) if s > SILENT_SECS => {
            evidence.push(format!("last active {s} s ago (more than {SILENT_SECS} s)"))
        }
        _ if own_dead => {}
        Some(s) => {
            return Err(format!(
                "master {name} was active {s} s ago (less than {SILENT_SECS} s) and its agent is \
                 not the one asked: wait, or ask the master's own agent"
            ));
        }
        None => {
            return Err(format!(
                "master {name} has no last_active stamp and its agent is not the one asked"
            ));
        }
    }
    Ok(evidence)
}

fn pids(sessions: &[&DbSession]) -> String {
    sessions
        .iter()
        .map(|s| {
            let app = if s.application_name.is_empty() {
                "no application_name"
            } else {
                &s.application_name
            };
            format!("pid {} {app}", s.pid)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bbctl_api::MasterRefs;

    const NOW: i64 = 1_000_000;

    fn row(last_active: Option<i64>) -> MastersTableRow {
        MastersTableRow {
            id: 3,
            name: "h:/m/master-1".into(),
            active: true,
            last_active,
            refs: MasterRefs::default(),
            hidden: false,
        }
    }

    fn session(app: &str) -> DbSession {
        DbSession {
            pid: 42,
            application_name: app.into(),
            client_addr: Some("127.0.0.1".into()),
            state: Some("idle".into()),
        }
    }

    fn own(pid: Option<u32>) -> Process {
        Process::Own {
            agent: "master-1".into(),
            pid,
        }
    }

    fn judge_of(
        last: Option<i64>,
        process: Process,
        sessions: &[DbSession],
        host_gone: bool,
    ) -> Result<Vec<String>, String> {
        let r = row(last);
        judge(&Facts {
            row: &r,
            db_now: NOW,
            process,
            sessions,
            host_gone,
        })
    }

    #[test]
    fn the_table_of_cases() {
        let other = session("buildbot:master-2");
        let bbctl = session("bbctl-agent");
        let psql = session("psql");
        let mine = session("buildbot:master-1");
        let mine_by_name = session("buildbot:h:/m/master-1");
        let recent = Some(NOW - 10);
        let old = Some(NOW - SILENT_SECS - 1);
        // (last_active, process, sessions, host_gone, gone?, the message or evidence says)
        type Case = (
            Option<i64>,
            Process,
            Vec<DbSession>,
            bool,
            bool,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                recent,
                own(Some(7)),
                vec![],
                false,
                false,
                "is running (pid 7",
            ),
            (
                recent,
                own(None),
                vec![other.clone(), bbctl.clone()],
                false,
                true,
                "not running",
            ),
            (
                recent,
                own(None),
                vec![mine.clone()],
                false,
                false,
                "still has 1 session",
            ),
            (
                old,
                Process::Elsewhere,
                vec![mine_by_name.clone()],
                true,
                false,
                "still has",
            ),
            (
                old,
                Process::Elsewhere,
                vec![mine.clone()],
                false,
                true,
                "more than 150 s",
            ),
            (
                recent,
                Process::Elsewhere,
                vec![],
                false,
                false,
                "less than 150 s",
            ),
            (
                None,
                Process::Elsewhere,
                vec![],
                false,
                false,
                "no last_active",
            ),
            (
                Some(NOW - SILENT_SECS),
                Process::Elsewhere,
                vec![],
                false,
                false,
                "less than",
            ),
            (
                old,
                Process::Elsewhere,
                vec![psql.clone()],
                false,
                false,
                "--host-gone",
            ),
            (
                old,
                Process::Elsewhere,
                vec![psql.clone()],
                true,
                true,
                "vouched",
            ),
            (
                recent,
                own(None),
                vec![session("")],
                false,
                false,
                "no application_name",
            ),
        ];
        for (i, (last, process, sessions, host_gone, gone, says)) in cases.into_iter().enumerate() {
            let got = judge_of(last, process, &sessions, host_gone);
            let text = match &got {
                Ok(ev) => ev.join("\n"),
                Err(e) => e.clone(),
            };
            assert_eq!(got.is_ok(), gone, "case {i}: {text}");
            assert!(text.contains(says), "case {i}: {text:?} lacks {says:?}");
        }
    }
}
