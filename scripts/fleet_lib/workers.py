"""Buildbot workers: each connects to the load balancer, never to a master directly.

With `up --hosts` the workers run in the `workers` host's network namespace, each connecting to
the load balancer named in its `load_balancer` (lb1, lb2, lb1, ... as DNS round robin would).
"""
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import procs
from .common import FleetError, in_netns, run, say


def _exe(fleet):
    """The `buildbot-worker` of the fleet's venv (the same Buildbot version as its masters)."""
    return Path(fleet["buildbot_venv"]) / "bin" / "buildbot-worker"


def _load_balancer(fleet, w):
    """The load balancer worker `w` connects to: its own with `--hosts`, else the fleet's one."""
    for lb in fleet.get("load_balancers") or []:
        if lb["name"] == w.get("load_balancer"):
            return lb["address"], lb["port"]
    return fleet["load_balancer"]["host"], fleet["load_balancer"]["port"]


def _netns(fleet):
    return (fleet.get("hosts") or {}).get("workers", {}).get("netns")


def create(fleet, log_dir):
    def one(w):
        os.makedirs(os.path.dirname(w["basedir"]), exist_ok=True)
        host, port = _load_balancer(fleet, w)
        run([_exe(fleet), "create-worker", "-r", "--keepalive=60", w["basedir"], f"{host}:{port}",
             w["name"], w["password"]], log_dir / f"worker-{w['name']}.log", f"create-worker {w['name']}")
        if not os.path.exists(os.path.join(w["basedir"], "buildbot.tac")):
            raise FleetError(f"create-worker {w['name']} failed (log: {log_dir}/worker-{w['name']}.log)")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, fleet["workers"]))


def start(fleet, log_dir):
    say(f"workers: starting {', '.join(w['name'] for w in fleet['workers'])}")

    def one(w):
        log = log_dir / f"worker-{w['name']}.log"
        run(in_netns(_netns(fleet), [_exe(fleet), "start", w["basedir"]]), log,
            f"buildbot-worker start {w['name']} (worker log: {w['basedir']}/twistd.log)", timeout=60)
        w["pid"] = procs.read_pidfile(os.path.join(w["basedir"], "twistd.pid"))
        if not procs.is_alive(w["pid"]):
            raise FleetError(f"worker {w['name']} is not running (worker log: {w['basedir']}/twistd.log)")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, fleet["workers"]))


def stop(w):
    pid = procs.read_pidfile(os.path.join(w["basedir"], "twistd.pid")) or w.get("pid")
    return procs.stop(pid, [w["basedir"]], f"worker {w['name']}", term_timeout=10)
