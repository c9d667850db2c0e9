//! "No master of the fleet is active": the rule every backup, upgrade and restore checks first.
//!
//! A row of Buildbot's `masters` table that says active is in the way unless the CLI vouches
//! for it as stopped (its agent says the process is gone: a crashed master keeps `active`
//! until expired) or Buildbot itself would consider it expired (`last_active` older than
//! [`EXPIRY_SECS`]). Any session connected to the database that is not bbctl's own
//! (`application_name` starting with [`OWN_PREFIX`]) is in the way too: a live master always
//! holds pool connections, and this catches masters bbctl does not know about.

use bbctl_api::{BuildbotMasterRow, DbRefusal, DbSession};

/// Buildbot expires a master whose `last_active` is older than this (seconds).
pub const EXPIRY_SECS: i64 = 600;
/// The `application_name` prefix of bbctl's own sessions.
pub const OWN_PREFIX: &str = "bbctl-";

/// `Err` names every row and session in the way.
pub fn judge(
    masters: &[BuildbotMasterRow],
    sessions: &[DbSession],
    vouched_stopped: &[String],
    now: i64,
) -> Result<(), DbRefusal> {
    let active_masters: Vec<BuildbotMasterRow> = masters
        .iter()
        .filter(|m| m.active)
        .filter(|m| !vouched_stopped.iter().any(|v| v == &m.name))
        .filter(|m| m.last_active.is_none_or(|t| now - t <= EXPIRY_SECS))
        .cloned()
        .collect();
    let sessions: Vec<DbSession> = sessions
        .iter()
        .filter(|s| !s.application_name.starts_with(OWN_PREFIX))
        .cloned()
        .collect();
    if active_masters.is_empty() && sessions.is_empty() {
        Ok(())
    } else {
        Err(DbRefusal {
            active_masters,
            sessions,
        })
    }
}

/// One line naming what is in the way (the message of the 409).
pub fn describe(refusal: &DbRefusal) -> String {
    let mut parts = Vec::new();
    if !refusal.active_masters.is_empty() {
        let names: Vec<&str> = refusal
            .active_masters
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        parts.push(format!(
            "active in Buildbot's masters table: {}",
            names.join(", ")
        ));
    }
    if !refusal.sessions.is_empty() {
        let names: Vec<String> = refusal
            .sessions
            .iter()
            .map(|s| {
                let app = if s.application_name.is_empty() {
                    "no application_name"
                } else {
                    &s.application_name
                };
                match &s.client_addr {
                    Some(addr) => format!("pid {} ({app}, {addr})", s.pid),
                    None => format!("pid {} ({app})", s.pid),
                }
            })
            .collect();
        parts.push(format!(
            "other sessions connected to the database: {}",
            names.join(", ")
        ));
    }
    format!(
        "the Buildbot database is in use ({}); stop every master using it first",
        parts.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn row(name: &str, active: bool, last_active: Option<i64>) -> BuildbotMasterRow {
        BuildbotMasterRow {
            id: 1,
            name: name.into(),
            active,
            last_active,
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

    #[test]
    fn an_active_row_refuses_unless_vouched_or_expired() {
        let live = row("h:/m1", true, Some(NOW - 5));
        let err = judge(std::slice::from_ref(&live), &[], &[], NOW).unwrap_err();
        assert_eq!(err.active_masters, std::slice::from_ref(&live));
        assert!(describe(&err).contains("h:/m1"), "{}", describe(&err));
        assert!(judge(std::slice::from_ref(&live), &[], &["h:/m1".into()], NOW).is_ok());
        assert!(judge(&[live], &[], &["h:/other".into()], NOW).is_err());
        let crashed_long_ago = row("h:/m2", true, Some(NOW - EXPIRY_SECS - 1));
        assert!(judge(&[crashed_long_ago], &[], &[], NOW).is_ok());
        let just_inside = row("h:/m3", true, Some(NOW - EXPIRY_SECS));
        assert!(judge(&[just_inside], &[], &[], NOW).is_err());
        assert!(judge(&[row("h:/m4", true, None)], &[], &[], NOW).is_err());
        assert!(judge(&[row("h:/m5", false, Some(NOW))], &[], &[], NOW).is_ok());
    }

    #[test]
    fn a_foreign_session_refuses_and_bbctl_sessions_do_not() {
        let err = judge(
            &[],
            &[session("psql"), session("bbctl-backup:u-1")],
            &[],
            NOW,
        )
        .unwrap_err();
        assert_eq!(err.sessions, [session("psql")]);
        assert!(err.active_masters.is_empty());
        let msg = describe(&err);
        assert!(msg.contains("pid 42 (psql, 127.0.0.1)"), "{msg}");
        assert!(!msg.contains("masters table"), "{msg}");
        assert!(judge(&[], &[session("bbctl-agent")], &[], NOW).is_ok());
        let unnamed = judge(&[], &[session("")], &[], NOW).unwrap_err();
        assert!(describe(&unnamed).contains("no application_name"));
    }
}
