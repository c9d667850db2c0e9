//! Integration tests of `bbctl`: the real binary against fake agents on loopback.

mod builds;
mod cordon;
mod discovery;
mod drain;
mod events;
mod fake_agent;
mod fake_registry;
mod fake_store;
mod fake_upgrade;
mod help;
mod init_inventory;
mod lifecycle;
mod masters;
mod masters_hygiene;
mod migrate;
mod operator;
mod rebalance;
mod routing;
mod schedulers;
mod support;
mod upgrade;
mod upgrade_lease;
mod workers;
