"""HAProxy: the TCP load balancer in front of the masters' worker ports, with its runtime API.

Backend `masters` holds one server per slot (named after the slot's agent), standby slots
included: those fail their health checks until a master runs there. `mode tcp`, `balance
leastconn`, `option redispatch`, timeouts far above the workers' 60 s keepalive, and deliberately
no `on-marked-down shutdown-sessions` (it would cut busy workers when a server goes to maint).
"""
import csv
import io
import socket

from . import procs
from .common import HOST, say, wait_until, write_file

BACKEND = "masters"


def target_port(slot, fleet):
    """Where HAProxy sends a slot's workers: the master's worker port, or with `--lb-hook relay`
    the agent's relay port (the agent relays to the master)."""
    if fleet.get("lb_hook") == "relay":
        return slot["relay_port"]
    return slot["worker_port"]


def config(fleet):
    lb = fleet["load_balancer"]
    servers = "".join(
        f"    server {s['name']} {HOST}:{target_port(s, fleet)} check inter 1s fall 2 rise 2\n" for s in fleet["masters"]
    )
    return (
        "# HAProxy for the local bbctl fleet, written by scripts/fleet up\n"
        "global\n"
        f"    stats socket {lb['runtime_socket']} mode 600 level admin\n"
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
        f"    bind {HOST}:{lb['port']}\n"
        f"    default_backend {BACKEND}\n"
        "\n"
        f"backend {BACKEND}\n"
        "    balance leastconn\n"
        "    option redispatch\n"
        f"{servers}"
    )


def start(fleet_dir, fleet):
    lb = fleet["load_balancer"]
    write_file(lb["config"], config(fleet))
    say(f"HAProxy: starting on {HOST}:{lb['port']}")
    lb["pid"] = procs.spawn(["haproxy", "-W", "-db", "-f", lb["config"], "-p", lb["pidfile"]], lb["log"])
    wait_until(
        "HAProxy's runtime API",
        lambda: command(lb["runtime_socket"], "show info"),
        20,
        log=lb["log"],
        alive=lambda: None if procs.is_alive(lb["pid"]) else "haproxy exited",
    )


def command(sock_path, cmd, timeout=3):
    """One runtime API command; returns its answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock_path))
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


def wait_servers_up(fleet, names, timeout=30):
    lb = fleet["load_balancer"]

    def all_up():
        states = server_states(lb["runtime_socket"])
        return all(states.get(n, "").startswith("UP") for n in names)

    wait_until(f"HAProxy to mark {', '.join(names)} UP", all_up, timeout, log=lb["log"])


def stop(lb):
    return procs.stop(lb.get("pid"), [lb["config"]], "HAProxy", term_timeout=10)
