//! Issue 7, "Fault matrix" (docs/faults.md): each fault is injected into a real fleet and the test
//! checks that nothing is lost — every build request ends SUCCESS exactly once (or RETRY then
//! SUCCESS where a build's worker or master was cut), no worker is left paused, no load-balancer
//! server is left in maint except a stopped master's, no request stays claimed by a stopped
//! master.
//!
//! Six fleets, one per test, run one at a time (2-core machines): faults that do not conflict
//! share a fleet, in an order where each leaves the fleet usable for the next.

#[path = "../drain/support.rs"]
#[allow(dead_code)]
mod support;
#[path = "../upgrade/support.rs"]
#[allow(dead_code)]
mod upgrade_support;

mod agent_pause;
mod common;
mod fleet_store;
mod half_attached;
mod master_kill;
mod masters_expire;
mod operators;
mod postgres_restart;
mod router_restart;
mod state_db;
mod upgrade_preflight;
mod worker_restart;

use bbctl_e2e::{Fleet, FleetOptions};

/// Fault 7 (a master SIGKILLed mid-drain), then fault 11 (a worker restarting in the middle of
/// its handoff) on another master of the same fleet.
#[test]
fn master_and_worker_crashes_during_drains() {
    let _serial = support::serial();
    let fleet = Fleet::up(FleetOptions::default()).unwrap();
    master_kill::master_sigkilled_mid_drain(&fleet, 0);
    worker_restart::worker_restarts_mid_handoff(&fleet, 1);
}

/// Fault 3 (an agent down when an upgrade starts), fault 12 (two operators), fault 9
/// (PostgreSQL down across many drain ticks, then back), fault 9b (a worker attaching while
/// PostgreSQL is down is left half-attached; its master's agent frees it), fault 13 (the agent's state DB
/// corrupted, then deleted, mid-drain).
#[test]
fn operators_agents_and_the_database() {
    let _serial = support::serial();
    let fleet = Fleet::up(FleetOptions::default()).unwrap();
    upgrade_preflight::agent_down_refuses_the_upgrade(&fleet, 2);
    operators::drain_refused_while_an_upgrade_holds_the_lease(&fleet);
    operators::upgrade_refused_while_a_drain_holds_a_master(&fleet, 2);
    postgres_restart::postgres_down_mid_drain(&fleet, 0);
    half_attached::worker_attaches_while_postgres_is_down(&fleet, 1, 2);
    state_db::state_db_deleted_mid_drain(&fleet, 1);
    operators::concurrent_drains_follow_one_drain(&fleet, 1);
}

/// Fault 4 (an agent becomes unreachable in the middle of a blue-green upgrade: past
/// `--pause-timeout`, exit 3, then `upgrade resume`; within it, the upgrade goes on by itself).
#[test]
fn agent_unreachable_mid_upgrade() {
    let _serial = support::serial();
    let opts = FleetOptions {
        masters: 2,
        standby: 2,
        workers: 3,
    };
    let fleet = Fleet::up(opts).unwrap();
    agent_pause::agent_unreachable_pauses_the_upgrade(&fleet, 0);
}

/// Issue 14: fault 14b (a paused coordinator is fenced off; a second operator finishes the
/// upgrade), fault 14c (PostgreSQL — Buildbot's DB and the fleet store — restarted in the middle
/// of the upgrade back), then fault 14a (the coordinator's host lost mid-upgrade; resumed through
/// another agent).
#[test]
fn fleet_store_fencing_and_restart() {
    let _serial = support::serial();
    let opts = FleetOptions {
        masters: 2,
        standby: 2,
        workers: 3,
    };
    let fleet = Fleet::up(opts).unwrap();
    fleet_store::paused_coordinator_is_fenced(&fleet);
    fleet_store::postgres_restart_mid_upgrade(&fleet);
    fleet_store::coordinator_host_lost(&fleet);
}

/// Issue 14: fault 14d (the coordinator's host lost for good: `masters expire` of its master,
/// then `upgrade resume` with an inventory without it).
#[test]
fn fleet_store_lost_host() {
    let _serial = support::serial();
    let opts = FleetOptions {
        masters: 2,
        standby: 2,
        workers: 3,
    };
    let fleet = Fleet::up(opts).unwrap();
    fleet_store::lost_host_taken_out_of_the_inventory(&fleet);
}

/// Fault 8 (the WAMP router restarts while a build runs): it breaks every master, so it has a
/// small fleet of its own.
#[test]
fn router_restart() {
    let _serial = support::serial();
    let opts = FleetOptions {
        masters: 2,
        standby: 0,
        workers: 2,
    };
    let fleet = Fleet::up(opts).unwrap();
    router_restart::router_restarts(&fleet);
}

/// Issue 14 fault 4: a SIGKILLed master's claimed request comes back with `bbctl masters
/// expire` (Buildbot alone keeps it claimed), a live master is refused; then `masters prune`.
#[test]
fn sigkilled_master_expired() {
    let _serial = support::serial();
    let opts = FleetOptions {
        masters: 2,
        standby: 0,
        workers: 2,
    };
    let fleet = Fleet::up(opts).unwrap();
    masters_expire::sigkilled_master_gives_its_request_back(&fleet, 0);
}
