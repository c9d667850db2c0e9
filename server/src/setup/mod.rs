//! The agent binary's setup commands, which run without the server: `bbctl-agent init` writes
//! an agent config for a Buildbot master that already exists ([`init`], rendered by
//! [`init_render`]), and `bbctl-agent check-config` tells what a config would meet when the agent
//! starts ([`check`]). Both return [`Line`]s; `main` prints them and maps the outcome to the exit
//! code (docs/agent-config.md, "Setup commands").
//!
//! This module only reads what the domain modules offer (the config loader, `master::process`,
//! the load-balancer hooks, the Buildbot REST client); nothing imports it.

pub mod check;
mod check_probes;
pub mod executable;
pub mod init;
pub mod init_render;
mod init_rest;
mod init_values;
pub mod master_cfg;
pub mod pytext;

#[cfg(test)]
mod check_tests;
#[cfg(test)]
mod init_tests;

/// What a line of a setup command's report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `init`: a value written, and how it was found.
    Found,
    /// `init`: a guess the operator must confirm, or a value they must set.
    Check,
    /// Something worth knowing that needs nothing done.
    Note,
    /// `check-config`: a probe that passed.
    Ok,
    /// `check-config`: what would stop the agent or a drain.
    Problem,
}

impl Kind {
    /// The line's prefix, before `: `.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Found => "found",
            Kind::Check => "check",
            Kind::Note => "note",
            Kind::Ok => "ok",
            Kind::Problem => "problem",
        }
    }
}

/// One line of a report: `KIND: TEXT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: Kind,
    pub text: String,
}

impl Line {
    pub fn new(kind: Kind, text: impl Into<String>) -> Self {
        Line {
            kind,
            text: text.into(),
        }
    }
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.text)
    }
}
