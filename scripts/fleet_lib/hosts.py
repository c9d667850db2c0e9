"""The multi-host layout of `scripts/fleet up --hosts`: Linux network namespaces as hosts.

Every fleet gets a short id derived from its directory (`bb` + 6 hex digits of a hash of DIR's
absolute path) and a private /24 in 10.0.0.0/8 derived from the same hash. Its namespaces are
named `<id>-<host>`: `<id>-net` holds the bridge `br0` (no address: nothing routes in or out of
it) and one veth end `v-<host>` per host; the other end is `eth0` inside the host's namespace,
with the host's address. Links are created inside `<id>-net`, so the root namespace never sees
them. Hosts: `db`, `ops`, `workers`, `lb1`, `lb2` and one `m<i>` per master slot (masters first,
then standby slots).

Daemons are started with `ip netns exec <netns> ...` (common.in_netns); the checks `up` and
`status` make over the network run in the `ops` namespace (`call_in`), where a thread joins the
namespace with setns(2).
"""
import ctypes
import hashlib
import ipaddress
import os
import subprocess
import threading
from pathlib import Path

from .common import FleetError, UsageError

ID_PREFIX = "bb"
BRIDGE = "br0"
# HAProxy's runtime API port on each load balancer's address.
RUNTIME_PORT = 9999
# The port base of a --hosts fleet when --port-base is not given: its ports are on private
# addresses inside the fleet's namespaces, so they cannot clash with anything else.
PORT_BASE = 20000
LOAD_BALANCERS = ("lb1", "lb2")
# Fixed host addresses (last octet); master slot i (1-based) is at MASTER_BASE + i.
FIXED = {"db": 2, "ops": 3, "workers": 4, "lb1": 21, "lb2": 22}
MASTER_BASE = 30
MAX_MASTER_HOSTS = 30
CLONE_NEWNET = 0x40000000


def fleet_id(fleet_dir):
    """`bb` + 6 hex digits of a SHA-256 of DIR's absolute path: unique per directory."""
    return ID_PREFIX + hashlib.sha256(str(Path(fleet_dir).resolve()).encode()).hexdigest()[:6]


def subnet(fid):
    """The fleet's private /24, 10.S.T.0/24 with S in 100..199 and T in 0..255, from its id."""
    h = int(fid.removeprefix(ID_PREFIX), 16)
    return ipaddress.ip_network(f"10.{100 + (h >> 8) % 100}.{h & 0xFF}.0/24")


def master_host(i):
    """The host name of master slot i (0-based): m1, m2, ..."""
    return f"m{i + 1}"


def layout(fleet_dir, slot_names, workers):
    """fleet.json's `network` and `hosts` for a fleet in DIR with these master slots and workers
    (names). `runs` lists what runs on each host."""
    if len(slot_names) > MAX_MASTER_HOSTS:
        raise UsageError(f"--hosts supports at most {MAX_MASTER_HOSTS} masters + standby slots")
    fid = fleet_id(fleet_dir)
    net = subnet(fid)
    base = int(net.network_address)
    runs = {
        "db": ["postgres", "crossbar"],
        "ops": [],
        "workers": list(workers),
        "lb1": ["haproxy lb1"],
        "lb2": ["haproxy lb2"],
    }
    octets = dict(FIXED)
    for i, name in enumerate(slot_names):
        octets[master_host(i)] = MASTER_BASE + i + 1
        runs[master_host(i)] = [f"agent {name}", f"master {name}"]
    hosts = {
        host: {"netns": f"{fid}-{host}", "address": str(ipaddress.ip_address(base + octets[host])), "runs": runs[host]}
        for host in ["db", *(master_host(i) for i in range(len(slot_names))), "lb1", "lb2", "workers", "ops"]
    }
    network = {"id": fid, "subnet": str(net), "netns": f"{fid}-net", "bridge": BRIDGE, "created": []}
    return network, hosts


def load_balancer_of(worker_index):
    """The load balancer worker i (0-based) connects to: lb1, lb2, lb1, ... (DNS round robin)."""
    return LOAD_BALANCERS[worker_index % len(LOAD_BALANCERS)]


def _ip(*args, check=True):
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    if check and proc.returncode != 0:
        raise FleetError(f"`ip {' '.join(args)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def existing_namespaces():
    try:
        out = _ip("netns", "list")
    except FileNotFoundError as e:
        raise FleetError("`ip` (iproute2) is missing: install it (scripts/install-deps)") from e
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _addresses(netns=None):
    """The IPv4 networks of the addresses and routes in a namespace (the root one by default)."""
    prefix = ["-n", netns] if netns else []
    nets = []
    for line in _ip(*prefix, "-4", "-o", "addr", "show", check=False).splitlines():
        parts = line.split()
        if "inet" in parts:
            nets.append(ipaddress.ip_interface(parts[parts.index("inet") + 1]).network)
    for line in _ip(*prefix, "-4", "route", "show", check=False).splitlines():
        dest = line.split()[0] if line.split() else ""
        if dest and dest != "default" and dest[0].isdigit():
            nets.append(ipaddress.ip_network(dest, strict=False))
    return nets


def conflicts(network, namespaces, used_networks):
    """Why the fleet's namespaces or subnet cannot be used (a list of reasons; empty = free)."""
    out = [f"network namespace {ns} already exists" for ns in sorted(namespaces) if ns.startswith(network["id"] + "-")]
    net = ipaddress.ip_network(network["subnet"])
    out += [f"subnet {net} overlaps {used} (already in use)" for used in used_networks if net.overlaps(used)]
    return out


def check_free(network, fleet_dir):
    """Refuses (UsageError, one line) when the fleet's namespaces exist or its subnet is in use in
    the root namespace or any other namespace."""
    if os.geteuid() != 0:
        raise UsageError("--hosts needs root (it creates network namespaces with `ip netns`)")
    namespaces = existing_namespaces()
    used = _addresses()
    for ns in namespaces:
        used += _addresses(ns)
    found = conflicts(network, namespaces, used)
    if found:
        raise UsageError(f"--hosts: {found[0]}; `scripts/fleet down --dir {fleet_dir}` removes what a fleet in "
                         f"{fleet_dir} made; another fleet needs another --dir")


def create(network, hosts, save):
    """Creates the namespaces, the bridge and the veths; records every namespace in
    network["created"] (and calls `save()`) as soon as it exists, so `down` can remove it."""
    def add_ns(ns):
        _ip("netns", "add", ns)
        network["created"].append(ns)
        save()
        _ip("-n", ns, "link", "set", "lo", "up")

    net_ns = network["netns"]
    add_ns(net_ns)
    _ip("-n", net_ns, "link", "add", BRIDGE, "type", "bridge")
    _ip("-n", net_ns, "link", "set", BRIDGE, "up")
    prefix = ipaddress.ip_network(network["subnet"]).prefixlen
    for host, h in hosts.items():
        add_ns(h["netns"])
        veth = f"v-{host}"
        _ip("-n", net_ns, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h["netns"])
        _ip("-n", net_ns, "link", "set", veth, "master", BRIDGE, "up")
        _ip("-n", h["netns"], "addr", "add", f"{h['address']}/{prefix}", "dev", "eth0")
        _ip("-n", h["netns"], "link", "set", "eth0", "up")


def destroy(network):
    """Removes the namespaces this fleet made (their veths and the bridge go with them); returns
    those still there afterwards."""
    created = list(network.get("created", []))
    present = set(existing_namespaces())
    # Host namespaces first, the bridge's last.
    for ns in sorted(created, key=lambda n: n == network.get("netns")):
        if ns in present:
            _ip("netns", "del", ns, check=False)
    present = set(existing_namespaces())
    left = [ns for ns in created if ns in present]
    network["created"] = left
    return left


_libc = None


def _setns(netns):
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into network namespace {netns}: {os.strerror(err)}")
    finally:
        os.close(fd)


def call_in(netns, fn, *args, **kwargs):
    """fn(*args, **kwargs) in a thread that joined network namespace `netns` (sockets it opens,
    threads and processes it starts are in that namespace); returns its value or raises its
    exception. `netns` None: a plain call."""
    if netns is None:
        return fn(*args, **kwargs)
    result = {}

    def target():
        try:
            _setns(netns)
            result["value"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            result["error"] = e

    thread = threading.Thread(target=target, name=f"netns-{netns}", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.5)
    if "error" in result:
        raise result["error"]
    return result.get("value")
