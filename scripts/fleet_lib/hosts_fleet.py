"""What `scripts/fleet up --hosts` changes in a fleet's description (fleet.json), before anything
runs: every part gets its host (hosts.py) and the addresses and URLs that go with it.

- `network`: the fleet's id, subnet, bridge namespace and the namespaces made so far (`created`);
- `hosts`: host name -> {netns, address, runs}; `hosts.ops` is where bbctl runs;
- `load_balancers`: lb1 and lb2, {name, host, address, netns, port, runtime, runtime_socket,
  backend, config, pidfile, log, pid}; `load_balancer` stays, describing lb1 for older readers
  (its `host` is lb1's address, its `runtime_socket` lb1's `tcp:ADDR:PORT`);
- every master slot: `host`, `address`, `netns`, `tls` (its certificate and key), an `https://`
  agent URL and an `http://` REST URL at the host's address;
- every worker: `load_balancer` (lb1, lb2, lb1, ...);
- `tls`: the fleet CA (`ca_file`, bbctl's; `ca_key`).
"""
from pathlib import Path

from . import fleet_store, hosts, tls


def shape(fleet, fleet_dir):
    """Turns the loopback skeleton of `up` into the --hosts one (in place; runs nothing)."""
    fleet_dir = Path(fleet_dir)
    network, host_map = hosts.layout(
        fleet_dir, [m["name"] for m in fleet["masters"]], [w["name"] for w in fleet["workers"]]
    )
    fleet["network"], fleet["hosts"] = network, host_map
    db = host_map["db"]
    fleet["router_url"] = f"ws://{db['address']}:{fleet['router']['port']}/ws"
    fleet["postgres"]["host"] = db["address"]
    store = fleet.get("fleet_store") or {}
    fleet["fleet_store"] = fleet_store.skeleton(fleet_dir, store.get("backend", "postgres"),
                                                fleet["postgres"]["port"], db["address"])
    fleet["tls"] = tls.paths(fleet_dir)
    old = fleet["load_balancer"]
    logs = Path(old["log"]).parent
    fleet["load_balancers"] = []
    for name in hosts.LOAD_BALANCERS:
        h = host_map[name]
        runtime = f"tcp:{h['address']}:{hosts.RUNTIME_PORT}"
        fleet["load_balancers"].append({
            "name": name,
            "host": name,
            "address": h["address"],
            "netns": h["netns"],
            "port": old["port"],
            "runtime": runtime,
            "runtime_socket": runtime,
            "backend": old["backend"],
            "config": str(fleet_dir / "haproxy" / f"{name}.cfg"),
            "pidfile": str(fleet_dir / "haproxy" / f"{name}.pid"),
            "log": str(logs / f"haproxy-{name}.log"),
            "pid": None,
        })
    sync_load_balancer(fleet)
    for i, m in enumerate(fleet["masters"]):
        name = hosts.master_host(i)
        h = host_map[name]
        m.update(host=name, address=h["address"], netns=h["netns"])
        m["agent_url"] = f"https://{h['address']}:{m['agent_port']}/"
        m["rest_url"] = f"http://{h['address']}:{m['www_port']}/"
        m["tls"] = {
            "cert_file": str(Path(fleet["tls"]["dir"]) / f"{m['name']}.crt"),
            "key_file": str(Path(fleet["tls"]["dir"]) / f"{m['name']}.key"),
        }
    for i, w in enumerate(fleet["workers"]):
        w["load_balancer"] = hosts.load_balancer_of(i)
    return fleet


def sync_load_balancer(fleet):
    """fleet.json's `load_balancer` (one load balancer, for older readers) from lb1."""
    lb1 = fleet["load_balancers"][0]
    fleet["load_balancer"] = {
        "name": lb1["name"],
        "host": lb1["address"],
        "port": lb1["port"],
        "backend": lb1["backend"],
        "runtime_socket": lb1["runtime"],
        "config": lb1["config"],
        "pidfile": lb1["pidfile"],
        "log": lb1["log"],
        "pid": lb1["pid"],
    }


def load_balancers(fleet):
    """Every load balancer of the fleet: lb1 and lb2 with --hosts, else the one `load_balancer`."""
    return fleet.get("load_balancers") or [fleet["load_balancer"]]


def ops_netns(fleet):
    """The ops host's namespace (None for a loopback fleet): where up's and status's checks run."""
    return (fleet.get("hosts") or {}).get("ops", {}).get("netns")


def db_place(fleet):
    """Keyword arguments placing PostgreSQL and crossbar on the db host (none on loopback)."""
    db = (fleet.get("hosts") or {}).get("db")
    return {"host": db["address"], "netns": db["netns"]} if db else {}


def ca_file(fleet):
    return (fleet.get("tls") or {}).get("ca_file")
