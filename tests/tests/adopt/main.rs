//! Issue 12, end to end on a fleet bbctl did not build: the "hand-made" fleet of tests/handmade/
//! (its operator's own master.cfg with www authentication, its own HAProxy backend and server
//! names, agent TOMLs written by hand from docs/agent-config.md). `bbctl_e2e::handmade` starts it;
//! its module doc says how to use it.
//!
//! One module per topic. Tests that start a fleet of their own hold `bbctl_e2e::serial()` for
//! their whole run (one fleet at a time on a small machine).
mod auth;
mod cli;
mod drain;
mod routing;
mod smoke;
