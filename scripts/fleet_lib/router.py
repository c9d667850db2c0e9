"""The crossbar.io WAMP router every master uses as its message queue (realm `buildbot`).

One router worker, the anonymous role allowed everything on URI prefix "" (Buildbot's WAMP MQ has
no authentication), a web transport on 127.0.0.1 (on the db host's address with `up --hosts`) with the websocket on path `ws`. A "/" path of
type nodeinfo would swallow `/ws`, so there is none.
"""
import http.client
import json

from . import procs
from .common import HOST, crossbar_venv, in_netns, say, wait_until, write_file

REALM = "buildbot"


def config(port, host=HOST):
    return {
        "version": 2,
        "controller": {},
        "workers": [
            {
                "type": "router",
                "realms": [
                    {
                        "name": REALM,
                        "roles": [
                            {
                                "name": "anonymous",
                                "permissions": [
                                    {
                                        "uri": "",
                                        "match": "prefix",
                                        "allow": {"call": True, "register": True, "publish": True, "subscribe": True},
                                        "disclose": {"caller": False, "publisher": False},
                                        "cache": True,
                                    }
                                ],
                            }
                        ],
                    }
                ],
                "transports": [
                    {
                        "type": "web",
                        "endpoint": {"type": "tcp", "interface": host, "port": port},
                        "paths": {"ws": {"type": "websocket"}},
                    }
                ],
            }
        ],
    }


def start(fleet_dir, port, host=HOST, netns=None):
    """Writes the config and starts crossbar (without waiting for it), inside network namespace
    `netns` if given; returns fleet.json state."""
    cbdir = fleet_dir / "crossbar"
    write_file(cbdir / "config.json", json.dumps(config(port, host), indent=2) + "\n")
    log = fleet_dir / "logs" / "crossbar.log"
    exe = crossbar_venv() / "bin" / "crossbar"
    say(f"crossbar: starting on {host}:{port}")
    pid = procs.spawn(in_netns(netns, [exe, "start", "--cbdir", cbdir, "--loglevel", "info"]), log, cwd=cbdir)
    state = {"pid": pid, "port": port, "cbdir": str(cbdir), "log": str(log), "url": f"ws://{host}:{port}/ws"}
    if netns:
        state.update(host=host, netns=netns)
    return state


def serves_ws(port, host=HOST):
    """Whether the router serves its websocket path. Crossbar listens on the transport's port
    before it adds the transport's paths, so an accepted connection is not enough: until `/ws` is
    there a WAMP client gets 404 (and a master started then loses its MQ for good)."""
    conn = http.client.HTTPConnection(host, port, timeout=1)
    try:
        conn.request("GET", "/ws")
        return conn.getresponse().status != 404
    except OSError:
        return False
    finally:
        conn.close()


def wait_ready(state, timeout=60):
    wait_until(
        "crossbar to serve its websocket path /ws",
        lambda: serves_ws(state["port"], state.get("host", HOST)),
        timeout,
        log=state["log"],
        alive=lambda: None if procs.is_alive(state["pid"]) else "crossbar exited",
    )
