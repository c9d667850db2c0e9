"""The crossbar.io WAMP router every master uses as its message queue (realm `buildbot`).

One router worker, the anonymous role allowed everything on URI prefix "" (Buildbot's WAMP MQ has
no authentication), a web transport on 127.0.0.1 with the websocket on path `ws`. A "/" path of
type nodeinfo would swallow `/ws`, so there is none.
"""
import http.client
import json

from . import procs
from .common import HOST, crossbar_venv, say, wait_until, write_file

REALM = "buildbot"


def config(port):
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
                        "endpoint": {"type": "tcp", "interface": HOST, "port": port},
                        "paths": {"ws": {"type": "websocket"}},
                    }
                ],
            }
        ],
    }


def start(fleet_dir, port):
    """Writes the config and starts crossbar (without waiting for it); returns fleet.json state."""
    cbdir = fleet_dir / "crossbar"
    write_file(cbdir / "config.json", json.dumps(config(port), indent=2) + "\n")
    log = fleet_dir / "logs" / "crossbar.log"
    exe = crossbar_venv() / "bin" / "crossbar"
    say(f"crossbar: starting on {HOST}:{port}")
    pid = procs.spawn([exe, "start", "--cbdir", cbdir, "--loglevel", "info"], log, cwd=cbdir)
    return {"pid": pid, "port": port, "cbdir": str(cbdir), "log": str(log), "url": f"ws://{HOST}:{port}/ws"}


def serves_ws(port):
    """Whether the router serves its websocket path. Crossbar listens on the transport's port
    before it adds the transport's paths, so an accepted connection is not enough: until `/ws` is
    there a WAMP client gets 404 (and a master started then loses its MQ for good)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=1)
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
        lambda: serves_ws(state["port"]),
        timeout,
        log=state["log"],
        alive=lambda: None if procs.is_alive(state["pid"]) else "crossbar exited",
    )
