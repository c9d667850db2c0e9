"""DIR/fleet.json (the description of every part, for tests and scripts) and DIR/bbctl.toml (the
inventory `bbctl` reads), plus the rules for reusing a fleet directory."""
import json
import shutil
from pathlib import Path

from . import procs
from .common import FleetError, toml_table, write_file

# What `up` creates inside DIR; a new `up` in a stopped fleet's DIR removes exactly these.
OWNED = ["fleet.json", "bbctl.toml", "token", "logs", "postgres", "crossbar", "haproxy", "masters",
         "agents", "workers", "secrets", "tls"]


def path(fleet_dir):
    return Path(fleet_dir) / "fleet.json"


def load(fleet_dir):
    try:
        return json.loads(path(fleet_dir).read_text())
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise FleetError(f"{path(fleet_dir)} is not valid JSON: {e}") from e


def save(fleet):
    write_file(path(fleet["dir"]), json.dumps(fleet, indent=2) + "\n")


def recorded_pids(fleet):
    """(what, pid) of every daemon recorded in fleet.json, masters read from their twistd.pid."""
    out = []
    for key in ("postgres", "router", "load_balancer"):
        if fleet.get(key, {}).get("pid"):
            out.append((key, fleet[key]["pid"]))
    for lb in fleet.get("load_balancers") or []:
        if lb.get("pid") and lb["pid"] != fleet.get("load_balancer", {}).get("pid"):
            out.append((f"load_balancer {lb['name']}", lb["pid"]))
    for m in fleet.get("masters", []):
        if m.get("agent_pid"):
            out.append((f"agent {m['name']}", m["agent_pid"]))
        pid = procs.read_pidfile(Path(m["basedir"]) / "twistd.pid") or m.get("master_pid")
        if pid:
            out.append((f"master {m['name']}", pid))
    for w in fleet.get("workers", []):
        pid = procs.read_pidfile(Path(w["basedir"]) / "twistd.pid") or w.get("pid")
        if pid:
            out.append((f"worker {w['name']}", pid))
    return out


def alive_parts(fleet):
    return [what for what, pid in recorded_pids(fleet) if procs.is_alive(pid)]


def prepare_dir(fleet_dir):
    """Makes DIR ready for a new fleet: refuses a running fleet or a foreign non-empty directory,
    clears what a stopped fleet left."""
    fleet_dir = Path(fleet_dir)
    if fleet_dir.exists() and not fleet_dir.is_dir():
        raise FleetError(f"{fleet_dir} exists and is not a directory")
    old = load(fleet_dir) if fleet_dir.exists() else None
    if old is not None:
        alive = alive_parts(old)
        if alive:
            raise FleetError(
                f"a fleet is already up in {fleet_dir} ({', '.join(alive)} running); "
                f"`scripts/fleet status --dir {fleet_dir}` shows it, `scripts/fleet down --dir {fleet_dir}` stops it"
            )
        for name in OWNED:
            p = fleet_dir / name
            if p.is_symlink():
                target = p.resolve()
                p.unlink()
                shutil.rmtree(target, ignore_errors=True)
            elif p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    elif fleet_dir.exists() and any(fleet_dir.iterdir()):
        raise FleetError(f"{fleet_dir} is not empty and holds no fleet.json: choose another --dir")
    fleet_dir.mkdir(parents=True, exist_ok=True)
    fleet_dir.chmod(0o755)  # PostgreSQL runs as user postgres and must traverse it


def inventory_defaults(fleet):
    """bbctl.toml's [defaults]: the token file, and with `up --hosts` the fleet CA (`ca_file`)."""
    defaults = {"token_file": fleet["token_file"]}
    if fleet.get("tls"):
        defaults["ca_file"] = fleet["tls"]["ca_file"]
    return defaults


def write_inventory(fleet):
    text = "# The bbctl inventory of the local fleet, written by scripts/fleet up\n"
    text += toml_table("defaults", inventory_defaults(fleet))
    for m in fleet["masters"]:
        text += "\n" + toml_table("[masters]", {"name": m["name"], "url": m["agent_url"], "standby": m["standby"]})
    write_file(Path(fleet["dir"]) / "bbctl.toml", text)
