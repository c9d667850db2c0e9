//! Process liveness as `scripts/fleet` sees it: a zombie is dead (`kill -0` would say alive).

use std::fs;

/// True when `pid` names a running process that is not a zombie.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state letter follows the command name, which is in parentheses and may hold spaces.
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    !matches!(state, None | Some("Z") | Some("X"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_is_alive() {
        assert!(pid_alive(std::process::id()));
    }

    #[test]
    fn a_reaped_child_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!pid_alive(pid));
    }

    #[test]
    fn an_unreaped_child_is_a_zombie_and_counts_as_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let zombie =
            crate::wait_until("`true` to exit", std::time::Duration::from_secs(10), || {
                let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
                Ok(stat.contains(") Z ").then_some(()))
            });
        assert!(zombie.is_ok(), "{zombie:?}");
        assert!(!pid_alive(pid));
        child.wait().unwrap();
    }
}
