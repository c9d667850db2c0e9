//! Issue 15, "Prove it": bbctl on the multi-host fleet (`scripts/fleet up --hosts`, docs/fleet.md
//! "Multi-host fleet"): every host a Linux network namespace on a private bridge, the agents on
//! TLS with the fleet CA, two HAProxy load balancers (runtime API over TCP), `bbctl` on the ops
//! host. Partitions set a host's link on the bridge down, then up (docs/faults.md, P1–P3).
//!
//! One fleet (2 masters + 2 standby, 6 workers: 3 through each load balancer) runs every scenario
//! in sequence, each leaving it usable for the next. The test thread enters the ops host's
//! namespace right after the fleet is up: every client it builds and every `bbctl` it runs
//! connects from there (the root namespace has no route to the fleet's subnet).
//!
//! Needs root and `ip netns` (CI has both); without them it fails with one line saying what is
//! missing.

#[path = "../drain/support.rs"]
#[allow(dead_code)]
mod support;
#[path = "../upgrade/support.rs"]
#[allow(dead_code)]
mod upgrade_support;

mod cli;
mod common;
mod partitions;
mod upgrades;

use bbctl_e2e::{Fleet, FleetOptions, netns};
use common::timed;

#[test]
fn multi_host_fleet() {
    let _serial = support::serial();
    let fleet = Fleet::up_hosts(FleetOptions {
        masters: 2,
        standby: 2,
        workers: 6,
    })
    .unwrap_or_else(|e| panic!("{e:#}"));
    // Dropped before the fleet: `scripts/fleet down` runs from where the test started.
    let _ops = netns::enter(fleet.ops_netns()).unwrap();
    netns::assert_in(fleet.ops_netns());

    timed("1 masters list over TLS", || {
        cli::masters_list_over_tls(&fleet)
    });
    timed("2 drain across both load balancers", || {
        cli::drain_across_both_load_balancers(&fleet)
    });
    timed("3 blue-green upgrade under load", || {
        upgrades::blue_green_under_load(&fleet)
    });
    timed("4 master host cut off mid-drain", || {
        partitions::master_host_cut_off_mid_drain(&fleet)
    });
    timed("5 ops cut off mid-upgrade", || {
        upgrades::ops_cut_off_mid_upgrade(&fleet)
    });
    timed(
        "5b ops cut off past the pause timeout, then resumed",
        || upgrades::ops_cut_off_past_the_pause_timeout(&fleet),
    );
    // Last: a load balancer cut off while a drain hands workers off.
    timed("6 lb1 cut off mid-handoff", || {
        partitions::lb1_cut_off_mid_handoff(&fleet)
    });
}
