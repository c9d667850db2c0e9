"""The port layout of a fleet and the choice of a free block of ports.

A fleet uses one block of 100 ports starting at its port base P:
P+0 PostgreSQL, P+1 crossbar (WAMP), P+2 HAProxy (the workers' address), and for slot i (0-based,
masters first, then standby slots) P+10+i the master's www/REST port, P+40+i its worker (PB) port
and P+70+i its bbctl agent; P+3+i is the agent's relay port (slots 0-6, `--lb-hook relay`). Without --port-base a block is picked at random among free ones and
claimed in a shared lock-protected directory, so that fleets started at the same time never pick
the same block. Automatic blocks stay below the kernel's ephemeral range (ip_local_port_range,
32768-60999 by default), where outgoing connections would grab ports between our check and our
bind.
"""
import fcntl
import json
import os
import random
import socket
import subprocess
import tempfile
from pathlib import Path

from .common import HOST, FleetError

BLOCK = 100
MAX_SLOTS = 30
# P+3..P+9: the agents' relay ports of the first 7 slots (`up --lb-hook relay`).
RELAY_SLOTS = 7
AUTO_RANGE = (20000, 32000)
CLAIMS = Path(tempfile.gettempdir()) / "bbctl-fleet-ports"


def layout(base, slots):
    """{role: port} for a fleet of `slots` master slots at port base `base`."""
    if slots > MAX_SLOTS:
        raise FleetError(f"at most {MAX_SLOTS} masters + standby slots per fleet (asked for {slots})")
    ports = {"postgres": base, "router": base + 1, "load_balancer": base + 2}
    for i in range(slots):
        if i < RELAY_SLOTS:
            # The agent's relay port (used with `up --lb-hook relay`).
            ports[f"slot{i}.relay"] = base + 3 + i
        ports[f"slot{i}.www"] = base + 10 + i
        ports[f"slot{i}.pb"] = base + 40 + i
        ports[f"slot{i}.agent"] = base + 70 + i
    if max(ports.values()) > 65535:
        raise FleetError(f"--port-base {base} is too high (ports must stay below 65536)")
    return ports


def is_free(port):
    """True when nothing listens on 127.0.0.1:port (or on the wildcard address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def who_listens(port):
    """A hint naming the process that holds a port (from `ss`), or an empty string."""
    try:
        out = subprocess.run(
            ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f" (held by: {out.split('users:')[-1]})" if "users:" in out else ""


def busy_ports(ports):
    return [(role, port) for role, port in ports.items() if not is_free(port)]


def check_requested(base, slots):
    ports = layout(base, slots)
    busy = busy_ports(ports)
    if busy:
        role, port = busy[0]
        raise FleetError(
            f"port {port} ({role}) is already in use{who_listens(port)}; "
            f"choose another --port-base or stop what holds it"
        )
    return ports


def _claim_is_live(path):
    """A claim is live while the fleet directory it names still records this port base."""
    try:
        claim = json.loads(path.read_text())
        state = json.loads((Path(claim["dir"]) / "fleet.json").read_text())
        return state.get("port_base") == int(path.name) and state.get("state") != "down"
    except (OSError, ValueError, KeyError):
        # No fleet.json yet: live while the claiming `up` runs.
        try:
            pid = json.loads(path.read_text())["pid"]
            os.kill(pid, 0)
            return True
        except (OSError, ValueError, KeyError):
            return False


def _ephemeral_low():
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def pick(fleet_dir, slots, requested=None):
    """The port base for a fleet in `fleet_dir`: `requested` if all its ports are free, else a
    free block chosen at random. Either way the block is claimed for this fleet."""
    CLAIMS.mkdir(parents=True, exist_ok=True)
    with open(CLAIMS / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if requested is not None:
            check_requested(requested, slots)
            base = requested
        else:
            low, high = AUTO_RANGE
            high = min(high, _ephemeral_low() - BLOCK)
            bases = list(range(low, high + 1, BLOCK))
            random.shuffle(bases)
            base = None
            for candidate in bases:
                claim = CLAIMS / str(candidate)
                if claim.exists() and _claim_is_live(claim):
                    continue
                if not busy_ports(layout(candidate, slots)):
                    base = candidate
                    break
            if base is None:
                raise FleetError(f"no free block of 100 ports found between {low} and {high + BLOCK}; use --port-base")
        (CLAIMS / str(base)).write_text(json.dumps({"dir": str(fleet_dir), "pid": os.getpid()}))
    return base


def release(fleet_dir, base):
    claim = CLAIMS / str(base)
    try:
        if json.loads(claim.read_text()).get("dir") == str(fleet_dir):
            claim.unlink()
    except (OSError, ValueError):
        pass
