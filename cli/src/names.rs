//! Which name bbctl prints for a master. Operators name masters in the inventory (`m3`); each
//! agent has a name of its own (`name` in its TOML, `MasterInfo.agent_name`, the `agent` of its
//! events), and Buildbot has a third (`host:basedir`). Everything bbctl prints uses the
//! inventory name — Buildbot's name only for a master outside the inventory — and an inventory
//! name that differs from its agent's own name is accepted but warned about, once per command.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// The warning for an inventory entry whose agent calls itself something else; `None` when the
/// names agree.
pub fn mismatch(inventory_name: &str, agent_name: &str) -> Option<String> {
    (inventory_name != agent_name).then(|| {
        format!(
            "warning: inventory name \"{inventory_name}\" answers as agent \"{agent_name}\"; \
             bbctl output uses inventory names"
        )
    })
}

/// The mismatches already warned about in this command (each is printed once).
#[derive(Debug, Default)]
pub struct Warned(Mutex<BTreeSet<(String, String)>>);

impl Warned {
    /// Prints the mismatch warning for this pair on stderr unless it was printed already.
    pub fn check(&self, inventory_name: &str, agent_name: &str) {
        let Some(warning) = mismatch(inventory_name, agent_name) else {
            return;
        };
        let pair = (inventory_name.to_string(), agent_name.to_string());
        if self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(pair)
        {
            eprintln!("{warning}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::mismatch;

    #[test]
    fn only_a_differing_agent_name_is_warned_about() {
        assert_eq!(mismatch("master-3", "master-3"), None);
        assert_eq!(
            mismatch("m3", "master-3").as_deref(),
            Some(
                "warning: inventory name \"m3\" answers as agent \"master-3\"; bbctl output uses \
                 inventory names"
            )
        );
    }
}
