//! Integration tests of `bbctl`: the real binary against fake agents on loopback.

mod builds;
mod drain;
mod events;
mod fake_agent;
mod fake_upgrade;
mod help;
mod lifecycle;
mod masters;
mod migrate;
mod operator;
mod routing;
mod support;
mod upgrade;
mod workers;
