"""`scripts/fleet down`: stop exactly what `up` started, by the PIDs recorded under DIR.

Order: workers, HAProxy, masters (every slot's twistd.pid: a master started later on a standby
slot is stopped too), agents, masters again (in case an agent restarted one), crossbar,
PostgreSQL; with `up --hosts`, then the network namespaces the fleet made (recorded in
fleet.json's `network.created`; the bridge and the veths go with them), and nothing else. Safe to
run twice; the data stays in DIR until the next `up` there.
"""
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import haproxy, hosts, hosts_fleet, masters, ports, postgres, procs, state, workers
from .common import say


def _parallel(fn, items):
    with ThreadPoolExecutor(max_workers=8) as pool:
        return [m for m in pool.map(fn, items) if m]


def stop_all(fleet):
    fleet_dir = Path(fleet["dir"])
    messages = []
    messages += _parallel(workers.stop, fleet.get("workers", []))
    for lb in hosts_fleet.load_balancers(fleet):
        if lb.get("pid"):
            messages.append(haproxy.stop(lb))
    messages += _parallel(lambda m: masters.stop_master(m, fleet_dir), fleet.get("masters", []))
    messages += _parallel(
        lambda m: procs.stop(m.get("agent_pid"), [m["agent_config"]], f"agent {m['name']}", term_timeout=10),
        fleet.get("masters", []),
    )
    messages += _parallel(lambda m: masters.stop_master(m, fleet_dir), fleet.get("masters", []))
    router = fleet.get("router", {})
    if router.get("pid"):
        messages.append(procs.stop(router["pid"], [router["cbdir"]], "crossbar", term_timeout=15))
    if fleet.get("postgres", {}).get("pid"):
        messages.append(postgres.stop(fleet["postgres"], fleet_dir / "logs" / "postgres-setup.log"))
    for m in messages:
        if m:
            say(m)
    left = state.alive_parts(fleet)
    if fleet.get("network") and not left:
        namespaces = hosts.destroy(fleet["network"])
        if namespaces:
            left.append(f"network namespaces {', '.join(namespaces)}")
        else:
            say(f"hosts: network namespaces {fleet['network']['id']}-* removed")
    fleet["state"] = "down" if not left else "partly-down"
    state.save(fleet)
    if fleet.get("port_base") is not None and not left:
        ports.release(fleet["dir"], fleet["port_base"])
    return left


def run(args):
    fleet_dir = Path(args.dir).resolve()
    fleet = state.load(fleet_dir)
    if fleet is None:
        say(f"no fleet in {fleet_dir} (no fleet.json): nothing to stop")
        return 0
    left = stop_all(fleet)
    if left:
        say(f"ERROR: still running after down: {', '.join(left)}")
        return 1
    say(f"fleet in {fleet_dir} is down")
    return 0
