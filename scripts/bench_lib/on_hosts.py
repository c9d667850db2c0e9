"""What a bench needs to measure a `scripts/fleet up --hosts` fleet as well as a loopback one
(docs/fleet.md, "Multi-host fleet"): every load balancer's runtime API (lb1 and lb2 at
`tcp:ADDR:PORT`, or the one unix socket on loopback), the fleet CA for the agents' `https://` URLs,
and the ops host's network namespace, where every connection to the fleet must be made (the root
namespace has no route to the fleet's subnet). On a loopback fleet each of these is the plain
loopback behaviour: no CA, one load balancer, calls made where they are.
"""
import ssl

from fleet_lib import haproxy, hosts, hosts_fleet


def tls_context(fleet):
    """An SSL context trusting the fleet CA (fleet.json `tls.ca_file`); None without one."""
    ca = hosts_fleet.ca_file(fleet)
    return ssl.create_default_context(cafile=ca) if ca else None


def runtimes(fleet):
    """The runtime API of every load balancer: a unix path or `tcp:ADDR:PORT` each."""
    return [lb["runtime_socket"] for lb in hosts_fleet.load_balancers(fleet)]


def set_ready(fleet, backend, server):
    """`set server BACKEND/SERVER state ready` on every load balancer."""
    for runtime in runtimes(fleet):
        haproxy.command(runtime, f"set server {backend}/{server} state ready", timeout=10)


def server_up(fleet, backend, server):
    """True when every load balancer reports SERVER of BACKEND UP."""
    for runtime in runtimes(fleet):
        text = haproxy.command(runtime, "show stat", timeout=10)
        status = next((f[17] for f in (line.split(",") for line in text.splitlines())
                       if len(f) > 17 and f[0] == backend and f[1] == server), None)
        if status != "UP":
            return False
    return True


def in_ops(fleet, fn, *args):
    """fn(*args) from a thread inside the ops host's namespace (threads it starts stay there);
    a plain call on a loopback fleet."""
    return hosts.call_in(hosts_fleet.ops_netns(fleet), fn, *args)


def describe(fleet):
    """The layout for a bench's --json record: subnet, host -> address, load balancers; None on
    loopback."""
    if not fleet.get("hosts"):
        return None
    return {
        "subnet": fleet["network"]["subnet"],
        "hosts": {name: h["address"] for name, h in fleet["hosts"].items()},
        "load_balancers": [{"name": lb["name"], "address": lb["address"], "port": lb["port"],
                            "runtime": lb["runtime_socket"]} for lb in fleet["load_balancers"]],
        "agents_tls": bool(hosts_fleet.ca_file(fleet)),
        "added_latency": None,
    }
