//! Who asks: the `requested_by` an agent records for a change made through `bbctl`.

use crate::support::{Fleet, command};

/// Issue 12: without `$USER` and `$LOGNAME` (cron, systemd units, `env -i`) the agents recorded
/// `unknown@host`; the uid's user name says who it was.
#[test]
fn without_user_or_logname_the_uid_names_the_operator() {
    let fleet = Fleet::two();
    let me = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let me = String::from_utf8(me.stdout).unwrap().trim().to_string();
    assert!(!me.is_empty());
    let inventory = fleet.inventory();
    let out = command(&[
        "--inventory",
        inventory.to_str().unwrap(),
        "drain",
        "master-2",
        "--detach",
    ])
    .env_remove("USER")
    .env_remove("LOGNAME")
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let drain = fleet.agent(1).with(|s| s.drain.clone().unwrap());
    let who = drain.requested_by.unwrap();
    assert!(who.starts_with(&format!("{me}@")), "{who}");
}
