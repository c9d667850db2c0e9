"""HAProxy: the TCP load balancer in front of the masters' worker ports, with its runtime API.

Backend `masters` holds one server per slot (named after the slot's agent), standby slots
included: those fail their health checks until a master runs there. `mode tcp`, `balance
leastconn`, `option redispatch`, timeouts far above the workers' 60 s keepalive, and deliberately
no `on-marked-down shutdown-sessions` (it would cut busy workers when a server goes to maint).

With `up --hosts` there are two (lb1, lb2), each in its host's network namespace, in front of
every master's worker port at the master host's address, its runtime API over TCP on its own
address (`stats socket ipv4@ADDR:PORT level admin`, which the agents reach as `tcp:ADDR:PORT`).
"""
import csv
import io
import socket

from . import procs
from .common import HOST, in_netns, say, wait_until, write_file

BACKEND = "masters"


def target_port(slot, fleet):
    """Where HAProxy sends a slot's workers: the master's worker port, or with `--lb-hook relay`
    the agent's relay port (the agent relays to the master)."""
    if fleet.get("lb_hook") == "relay":
        return slot["relay_port"]
    return slot["worker_port"]


def stats_socket(runtime):
    """haproxy.cfg's `stats socket` line for a runtime API at a unix path or `tcp:ADDR:PORT`."""
    if runtime.startswith("tcp:"):
        return f"    stats socket ipv4@{runtime[len('tcp:'):]} level admin\n"
    return f"    stats socket {runtime} mode 600 level admin\n"


def config(fleet, lb=None):
    """haproxy.cfg of load balancer `lb` (default: the fleet's only one, `load_balancer`)."""
    lb = lb or fleet["load_balancer"]
    servers = "".join(
        f"    server {s['name']} {s.get('address', HOST)}:{target_port(s, fleet)} check inter 1s fall 2 rise 2\n"
        for s in fleet["masters"]
    )
    return (
        "# HAProxy for the local bbctl fleet, written by scripts/fleet up\n"
        "global\n"
        f"{stats_socket(lb['runtime_socket'])}"
        "    maxconn 4096\n"
        "\n"
        "defaults\n"
        "    mode tcp\n"
        "    timeout connect 5s\n"
        "    timeout client 15m\n"
        "    timeout server 15m\n"
        "    option redispatch\n"
        "    retries 3\n"
        "\n"
        "frontend workers\n"
        f"    bind {lb.get('address', HOST)}:{lb['port']}\n"
        f"    default_backend {BACKEND}\n"
        "\n"
        f"backend {BACKEND}\n"
        "    balance leastconn\n"
        "    option redispatch\n"
        f"{servers}"
    )


def start(fleet_dir, fleet, lb=None):
    """Starts load balancer `lb` (default: `load_balancer`), in its host's namespace if it has one."""
    lb = lb if lb is not None else fleet["load_balancer"]
    write_file(lb["config"], config(fleet, lb))
    say(f"HAProxy{' ' + lb['name'] if lb.get('name') else ''}: starting on {lb.get('address', HOST)}:{lb['port']}")
    cmd = ["haproxy", "-W", "-db", "-f", lb["config"], "-p", lb["pidfile"]]
    lb["pid"] = procs.spawn(in_netns(lb.get("netns"), cmd), lb["log"])
    wait_until(
        f"HAProxy's runtime API ({lb['runtime_socket']})",
        lambda: command(lb["runtime_socket"], "show info"),
        20,
        log=lb["log"],
        alive=lambda: None if procs.is_alive(lb["pid"]) else "haproxy exited",
    )


def command(sock_path, cmd, timeout=3):
    """One runtime API command on a unix socket path or at `tcp:ADDR:PORT`; returns its answer."""
    sock_path = str(sock_path)
    if sock_path.startswith("tcp:"):
        addr, port = sock_path[len("tcp:"):].rsplit(":", 1)
        family, target = socket.AF_INET, (addr, int(port))
    else:
        family, target = socket.AF_UNIX, sock_path
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(target)
        s.sendall(cmd.encode() + b"\n")
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def server_states(sock_path):
    """{server name: status} of the backend, e.g. {"master-1": "UP", "master-4": "DOWN"}."""
    text = command(sock_path, "show stat").lstrip("# ")
    states = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row.get("pxname") == BACKEND and row.get("svname") not in ("BACKEND", "FRONTEND"):
            states[row["svname"]] = row["status"]
    return states


def wait_servers_up(fleet, names, timeout=30, lb=None):
    lb = lb or fleet["load_balancer"]

    def all_up():
        states = server_states(lb["runtime_socket"])
        return all(states.get(n, "").startswith("UP") for n in names)

    wait_until(f"HAProxy{' ' + lb['name'] if lb.get('name') else ''} to mark {', '.join(names)} UP", all_up, timeout, log=lb["log"])


def stop(lb):
    what = f"HAProxy {lb['name']}" if lb.get("name") else "HAProxy"
    return procs.stop(lb.get("pid"), [lb["config"]], what, term_timeout=10)
