"""Command-line parsing of scripts/fleet and the dispatch to up / status / down."""
import argparse
import os

from . import down, fleet_store, status, up
from .common import BUILDBOT_VERSION, REPO, FleetError, UsageError, say


def parser():
    p = argparse.ArgumentParser(prog="scripts/fleet", description="A real local Buildbot multimaster fleet.")
    sub = p.add_subparsers(dest="command", required=True)
    default_dir = os.environ.get("BBCTL_FLEET_DIR", ".fleet")

    u = sub.add_parser("up", help="install what is missing, start a fleet and wait until it serves")
    u.add_argument("--masters", type=int, default=3, help="running masters (default 3)")
    u.add_argument("--standby", type=int, default=0, help="standby slots: agent + basedir, no master (default 0)")
    u.add_argument("--workers", type=int, default=4, help="workers (default 4)")
    u.add_argument("--dir", default=default_dir, help="fleet directory (default .fleet)")
    u.add_argument("--port-base", type=int, default=None, help="first port of the fleet's block of 100 (default: a free block)")
    u.add_argument("--config", dest="master_cfg", default=str(REPO / "scripts" / "fleet-configs" / "master.cfg"),
                   help="the master.cfg copied into every slot (default: scripts/fleet-configs/master.cfg)")
    u.add_argument("--start-via", choices=["agent", "direct"], default=os.environ.get("BBCTL_FLEET_START_VIA", "agent"),
                   help="start masters through their agent (default) or directly (fallback)")
    u.add_argument("--lb-hook", choices=["haproxy", "relay"], default="haproxy",
                   help="the agents' load-balancer hook: drive HAProxy's runtime API (default), or relay "
                        "the worker port through the agent (HAProxy then targets the agents' relay ports)")
    u.add_argument("--buildbot-version", default=BUILDBOT_VERSION,
                   help=f"the Buildbot the masters and workers run: an installed venv ~/.cache/bbctl/buildbot-VERSION "
                        f"(default {BUILDBOT_VERSION}; 4.2.1 is installed too)")
    u.add_argument("--fleet-store", choices=list(fleet_store.BACKENDS),
                   default=os.environ.get("BBCTL_FLEET_STORE", "postgres"),
                   help="where the agents keep the fleet's control state: the fleet's PostgreSQL (default: role "
                        "bbctl, database bbctl_fleet, a [fleet] table in every agent.toml) or each agent's own "
                        "SQLite file (no [fleet] table); default from BBCTL_FLEET_STORE")
    u.add_argument("--hosts", action="store_true",
                   help="spread the fleet over network namespaces as hosts (db, m1..., lb1, lb2, workers, ops) on "
                        "a private bridge, two HAProxy load balancers, agents over TLS (needs root; docs/fleet.md)")
    u.add_argument("--no-build", action="store_true", help="do not run cargo build (use the binaries already built)")
    u.add_argument("--keep-on-failure", action="store_true", help="leave what started running when up fails")

    s = sub.add_parser("status", help="show every part of the fleet and whether it is alive")
    s.add_argument("--dir", default=default_dir)
    s.add_argument("--json", action="store_true", help="machine-readable output")

    d = sub.add_parser("down", help="stop everything up started (by PID)")
    d.add_argument("--dir", default=default_dir)
    return p


def main(argv):
    args = parser().parse_args(argv)
    try:
        return {"up": up.run, "status": status.run, "down": down.run}[args.command](args)
    except UsageError as e:
        say(f"ERROR: {e}")
        return 2
    except FleetError as e:
        say(f"ERROR: {e}")
        return 1
    except KeyboardInterrupt:
        say(f"interrupted; `scripts/fleet down --dir {args.dir}` stops what was started")
        return 130
