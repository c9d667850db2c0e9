//! Masters named as the operator knows them in drain outputs and event summaries (issue 12):
//! the agents report where a worker went by Buildbot's master name (`host:/path/to/basedir`),
//! which the operator never typed. Each agent of the inventory tells its master's Buildbot name
//! (`GET /v1/master`, `buildbot_name`); a name found there becomes the inventory name, in
//! `to_master` and in the text of messages and events. A master outside the inventory keeps Buildbot's name.

use bbctl_api::{Event, MasterInfo};

use crate::client::ApiError;
use crate::ctx::Ctx;
use crate::inventory::Target;
use crate::report::DrainRow;

/// Buildbot's master names → inventory names.
#[derive(Debug, Clone, Default)]
pub struct MasterNames {
    /// Longest Buildbot name first, so that `h:/m10` is replaced before `h:/m1`.
    pairs: Vec<(String, String)>,
}

impl MasterNames {
    /// Asks every agent of the inventory for its master's Buildbot name. Best effort: an agent
    /// that does not answer leaves its master under Buildbot's name.
    pub async fn load(ctx: &Ctx) -> Self {
        Self::from_answers(ctx, &ctx.masters().await)
    }

    /// [`Self::load`] from answers of `ctx.masters()` the caller already has.
    pub fn from_answers(ctx: &Ctx, answers: &[(Target, Result<MasterInfo, ApiError>)]) -> Self {
        let pairs = answers.iter().filter_map(|(target, answer)| {
            let info = answer.as_ref().ok()?;
            let buildbot = info.buildbot_name.clone()?;
            Some((buildbot, ctx.name_for(target, &info.agent_name)))
        });
        MasterNames::new(pairs)
    }

    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut pairs: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(buildbot, _)| !buildbot.is_empty())
            .collect();
        pairs.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        MasterNames { pairs }
    }

    /// The operator's name for Buildbot's master `buildbot`.
    pub fn name(&self, buildbot: &str) -> String {
        self.pairs
            .iter()
            .find(|(b, _)| b == buildbot)
            .map_or_else(|| buildbot.to_owned(), |(_, name)| name.clone())
    }

    /// `text` with every known Buildbot master name replaced by the inventory name. A name
    /// counts only as a whole (not followed by more of a path: `h:/m1` is not in `h:/m1x`).
    pub fn rewrite(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (buildbot, name) in &self.pairs {
            let mut result = String::with_capacity(out.len());
            let mut rest = out.as_str();
            while let Some(at) = rest.find(buildbot.as_str()) {
                let after = &rest[at + buildbot.len()..];
                let whole = !after
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || "/_-".contains(c));
                result.push_str(&rest[..at]);
                result.push_str(if whole { name } else { buildbot });
                rest = after;
            }
            result.push_str(rest);
            out = result;
        }
        out
    }

    /// A drain row as the operator reads it: where each worker went, and the message.
    pub fn apply(&self, row: &mut DrainRow) {
        for h in &mut row.status.workers_handed_off {
            if let Some(to) = &h.to_master {
                h.to_master = Some(self.name(to));
            }
        }
        if let Some(message) = &row.status.message {
            row.status.message = Some(self.rewrite(message));
        }
    }

    /// An agent's event as the operator reads it: from `agent` (the inventory name of the agent
    /// it came from), with Buildbot's master names replaced.
    pub fn event(&self, agent: &str, mut event: Event) -> Event {
        event.agent = agent.to_owned();
        event.summary = self.rewrite(&event.summary);
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> MasterNames {
        MasterNames::new([
            ("host:/srv/bb/m1".to_owned(), "m1".to_owned()),
            ("host:/srv/bb/m10".to_owned(), "m10".to_owned()),
        ])
    }

    #[test]
    fn buildbot_names_become_inventory_names() {
        let n = names();
        assert_eq!(n.name("host:/srv/bb/m10"), "m10");
        assert_eq!(
            n.name("other:/srv/x"),
            "other:/srv/x",
            "outside the inventory"
        );
        assert_eq!(
            n.rewrite("worker w1 attached to host:/srv/bb/m10 1.8 s after it was free"),
            "worker w1 attached to m10 1.8 s after it was free"
        );
        assert_eq!(
            n.rewrite("to host:/srv/bb/m1, then host:/srv/bb/m1."),
            "to m1, then m1."
        );
        assert_eq!(
            n.rewrite("host:/srv/bb/m1x and host:/srv/bb/m1/sub"),
            "host:/srv/bb/m1x and host:/srv/bb/m1/sub"
        );
    }
}
