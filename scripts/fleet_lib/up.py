"""`scripts/fleet up`: install, build, then start every part in order and wait until it serves.

Order: PostgreSQL (crossbar boots meanwhile) -> master basedirs (workers are created meanwhile) ->
HAProxy -> agents -> masters, through their agents, one after another -> workers. fleet.json is
rewritten after every step, so `down` can always stop what a failed `up` had started.

With `--hosts` (hosts.py, hosts_fleet.py) the namespaces, the bridge and the fleet CA come first;
then the same steps run from a thread inside the ops host's namespace, every daemon started in its
own host's namespace.
"""
import os
import secrets
import subprocess
import threading
import time
from pathlib import Path

from . import down, fleet_store, haproxy, hosts, hosts_fleet, masters, ports, postgres, router, state, tls, workers
from .common import (
    HOST,
    REPO,
    SCRIPTS,
    FleetError,
    UsageError,
    check_buildbot_version,
    http_json,
    say,
    wait_until,
    write_file,
)


def install_deps():
    say("checking dependencies (scripts/install-deps)")
    proc = subprocess.run([str(SCRIPTS / "install-deps")], stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        raise FleetError("scripts/install-deps failed (see its messages above)")


def target_dir():
    target = os.environ.get("CARGO_TARGET_DIR")
    if not target:
        return REPO / "target"
    return Path(target) if os.path.isabs(target) else REPO / target


def binaries(build, log):
    """Paths of bbctl-agent and bbctl: BBCTL_AGENT_BIN / BBCTL_BIN, else built by cargo now."""
    agent, cli = os.environ.get("BBCTL_AGENT_BIN"), os.environ.get("BBCTL_BIN")
    if agent and cli:
        build = False
    if build:
        say(f"building bbctl-agent and bbctl (cargo build; log: {log})")
        with open(log, "ab") as out:
            proc = subprocess.run(["cargo", "build", "-p", "bbctl-agent", "-p", "bbctl"], cwd=REPO,
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, check=False)
        if proc.returncode != 0:
            raise FleetError(f"cargo build failed (log: {log})")
    agent = Path(agent) if agent else target_dir() / "debug" / "bbctl-agent"
    cli = Path(cli) if cli else target_dir() / "debug" / "bbctl"
    for b in (agent, cli):
        if not os.access(b, os.X_OK):
            raise FleetError(f"{b} is missing: build it (cargo build -p bbctl-agent -p bbctl) or set BBCTL_AGENT_BIN/BBCTL_BIN")
    return agent, cli


def skeleton(fleet_dir, args, base, venv):
    p = ports.layout(base, args.masters + args.standby)
    token_file = fleet_dir / "token"
    write_file(token_file, secrets.token_urlsafe(32) + "\n", mode=0o600)
    logs = fleet_dir / "logs"
    fleet = {
        "version": 1,
        "state": "starting",
        "dir": str(fleet_dir),
        "port_base": base,
        "start_via": args.start_via,
        "lb_hook": args.lb_hook,
        "token_file": str(token_file),
        "inventory": str(fleet_dir / "bbctl.toml"),
        "buildbot_version": args.buildbot_version,
        "buildbot_venv": str(venv),
        "master_cfg": str(Path(args.master_cfg).resolve()),
        "master_cfg_v2": str(REPO / masters.CONFIGS / "master-v2.cfg"),
        "realm": router.REALM,
        "router_url": f"ws://{HOST}:{p['router']}/ws",
        "db_url": None,
        "fleet_store": fleet_store.skeleton(fleet_dir, args.fleet_store, p["postgres"]),
        "postgres": {"port": p["postgres"]},
        "router": {"port": p["router"]},
        "load_balancer": {
            "host": HOST,
            "port": p["load_balancer"],
            "backend": haproxy.BACKEND,
            "runtime_socket": str(fleet_dir / "haproxy" / "admin.sock"),
            "config": str(fleet_dir / "haproxy" / "haproxy.cfg"),
            "pidfile": str(fleet_dir / "haproxy" / "haproxy.pid"),
            "log": str(logs / "haproxy.log"),
            "pid": None,
        },
        "masters": [],
        "workers": [],
    }
    for i, name in enumerate(masters.slot_names(args.masters, args.standby)):
        fleet["masters"].append({
            "name": name,
            "standby": i >= args.masters,
            "agent_url": f"http://{HOST}:{p[f'slot{i}.agent']}/",
            "agent_port": p[f"slot{i}.agent"],
            "agent_pid": None,
            "agent_config": str(fleet_dir / "agents" / name / "agent.toml"),
            "agent_state_dir": str(fleet_dir / "agents" / name / "state"),
            "agent_log": str(logs / f"agent-{name}.log"),
            "rest_url": f"http://{HOST}:{p[f'slot{i}.www']}/",
            "www_port": p[f"slot{i}.www"],
            "worker_port": p[f"slot{i}.pb"],
            "relay_port": p.get(f"slot{i}.relay"),
            "basedir": str(fleet_dir / "masters" / name),
            "master_pid": None,
        })
    for i in range(args.workers):
        name = f"worker-{i + 1}"
        fleet["workers"].append({
            "name": name,
            "basedir": str(fleet_dir / "workers" / name),
            "password": secrets.token_hex(8),
            "pid": None,
        })
    return fleet


def wait_workers_connected(fleet, timeout=90):
    rest = next(m["rest_url"] for m in fleet["masters"] if not m["standby"])
    names = {w["name"] for w in fleet["workers"]}

    def connected():
        status, body = http_json("GET", rest + "api/v2/workers", timeout=3)
        rows = {w["name"]: w for w in body["workers"]} if status == 200 else {}
        return all(rows.get(n, {}).get("connected_to") for n in names)

    wait_until(f"workers {', '.join(sorted(names))} to connect (through HAProxy)", connected, timeout,
               log=fleet["workers"][0]["basedir"] + "/twistd.log" if fleet["workers"] else None)


def make_hosts(fleet_dir, fleet):
    """--hosts: the namespaces, the bridge, the fleet CA and one certificate per agent."""
    network = fleet["network"]
    say(f"hosts: network namespaces {network['id']}-* on {network['subnet']} (bridge in {network['netns']})")
    hosts.create(network, fleet["hosts"], lambda: state.save(fleet))
    log = fleet_dir / "logs" / "tls.log"
    say(f"TLS: the fleet CA {fleet['tls']['ca_file']} and one certificate per agent")
    tls.make_ca(fleet["tls"], network["id"], log)
    for m in fleet["masters"]:
        m["tls"] = tls.agent_cert(fleet["tls"], m["name"], m["address"], m["host"], log)
    state.save(fleet)


def bring_up(fleet_dir, args, fleet):
    logs = fleet_dir / "logs"
    cafile = hosts_fleet.ca_file(fleet)
    fleet["router"] = router.start(fleet_dir, fleet["router"]["port"], **hosts_fleet.db_place(fleet))
    state.save(fleet)
    clients = {"clients": fleet["network"]["subnet"]} if fleet.get("network") else {}
    fleet["postgres"] = postgres.setup(fleet_dir, fleet["postgres"]["port"], logs / "postgres-setup.log",
                                       **hosts_fleet.db_place(fleet), **clients)
    fleet["db_url"] = fleet["postgres"].pop("db_url")
    state.save(fleet)
    if fleet["fleet_store"]["backend"] == "postgres":
        postgres.create_fleet_store(fleet["postgres"], fleet["fleet_store"], logs / "postgres-setup.log")

    created = {}

    def create_workers():
        try:
            workers.create(fleet, logs)
        except FleetError as e:
            created["error"] = e

    creator = threading.Thread(target=create_workers)
    creator.start()
    try:
        masters.create_basedirs(fleet, args.master_cfg, logs / "create-master.log")
    finally:
        creator.join()
    if "error" in created:
        raise created["error"]

    for lb in hosts_fleet.load_balancers(fleet):
        haproxy.start(fleet_dir, fleet, lb)
        state.save(fleet)
    if fleet.get("load_balancers"):
        hosts_fleet.sync_load_balancer(fleet)
    state.save(fleet)
    router.wait_ready(fleet["router"])

    token = Path(fleet["token_file"]).read_text().strip()
    for slot in fleet["masters"]:
        masters.write_agent_config(slot, fleet)
        masters.start_agent(slot, fleet["agent_bin"])
    state.save(fleet)
    for slot in fleet["masters"]:
        try:
            masters.wait_agent(slot, cafile=cafile)
        except FleetError as e:
            if args.start_via == "agent":
                raise
            say(f"warning: {e}")

    for slot in fleet["masters"]:
        if slot["standby"]:
            continue
        say(f"{slot['name']}: starting the master ({'through its agent' if args.start_via == 'agent' else 'directly'})")
        if args.start_via == "agent":
            masters.start_master_via_agent(slot, token, cafile=cafile)
        else:
            masters.start_master_direct(slot, fleet, logs / f"master-{slot['name']}.log")
        masters.wait_active(slot)
        state.save(fleet)

    for lb in hosts_fleet.load_balancers(fleet):
        haproxy.wait_servers_up(fleet, [m["name"] for m in fleet["masters"] if not m["standby"]], lb=lb)
    workers.start(fleet, logs)
    state.save(fleet)
    wait_workers_connected(fleet)

    state.write_inventory(fleet)
    fleet["state"] = "up"
    state.save(fleet)


def summary(fleet, seconds):
    lines = [
        f"fleet up in {fleet['dir']} ({seconds:.1f}s)",
        f"  PostgreSQL   {fleet['postgres'].get('host', HOST)}:{fleet['postgres']['port']}  pid {fleet['postgres']['pid']}",
        f"  crossbar     {fleet['router_url']}  pid {fleet['router']['pid']}",
    ]
    for lb in hosts_fleet.load_balancers(fleet):
        label = f"HAProxy {lb['name']}" if lb.get("name") else "HAProxy"
        lines.append(f"  {label:<12} {lb.get('address', HOST)}:{lb['port']}  pid {lb['pid']}  "
                     f"runtime API {lb['runtime_socket']}")
    lines.append(f"  fleet store  {fleet_store.describe(fleet.get('fleet_store'))}")
    for m in fleet["masters"]:
        what = "standby (no master)" if m["standby"] else f"master pid {m['master_pid']}  REST {m['rest_url']}"
        lines.append(f"  {m['name']:<12} agent {m['agent_url']} pid {m['agent_pid']}  {what}  workers port {m['worker_port']}")
    for w in fleet["workers"]:
        lines.append(f"  {w['name']:<12} pid {w['pid']}  {w['basedir']}")
    ops = hosts_fleet.ops_netns(fleet)
    for name, h in (fleet.get("hosts") or {}).items():
        lines.append(f"  host {name:<7} {h['address']:<15} netns {h['netns']:<14} {', '.join(h['runs']) or '-'}")
    run_in = f"ip netns exec {ops} " if ops else ""
    lines += [
        f"  inventory    {fleet['inventory']}  ({run_in}bbctl --inventory {fleet['inventory']} masters list)",
        f"  description  {fleet['dir']}/fleet.json;  logs in {fleet['dir']}/logs",
    ]
    return "\n".join(lines)


def run(args):
    fleet_dir = Path(args.dir).resolve()
    if args.masters < 1 or args.standby < 0 or args.workers < 0:
        raise FleetError("need --masters >= 1, --standby >= 0, --workers >= 0")
    if args.fleet_store not in fleet_store.BACKENDS:
        raise UsageError(f"--fleet-store (or BBCTL_FLEET_STORE) {args.fleet_store}: not one of "
                         f"{', '.join(fleet_store.BACKENDS)}")
    if args.lb_hook == "relay" and args.masters + args.standby > ports.RELAY_SLOTS:
        raise FleetError(f"--lb-hook relay supports at most {ports.RELAY_SLOTS} masters + standby slots")
    if args.hosts:
        if args.lb_hook != "haproxy":
            raise UsageError("--hosts runs two HAProxy load balancers: --lb-hook relay is not supported with it")
        network, _ = hosts.layout(fleet_dir, masters.slot_names(args.masters, args.standby), [])
        hosts.check_free(network, fleet_dir)
    started = time.monotonic()
    install_deps()
    venv = check_buildbot_version(args.buildbot_version)
    state.prepare_dir(fleet_dir)
    if args.hosts:
        base = args.port_base or hosts.PORT_BASE
        ports.layout(base, args.masters + args.standby)
    else:
        base = ports.pick(fleet_dir, args.masters + args.standby, args.port_base)
    fleet = skeleton(fleet_dir, args, base, venv)
    if args.hosts:
        hosts_fleet.shape(fleet, fleet_dir)
    (fleet_dir / "logs").mkdir(exist_ok=True)
    state.save(fleet)
    try:
        agent_bin, cli_bin = binaries(not args.no_build, fleet_dir / "logs" / "build.log")
        fleet["agent_bin"], fleet["bbctl_bin"] = str(agent_bin), str(cli_bin)
        if args.hosts:
            make_hosts(fleet_dir, fleet)
        hosts.call_in(hosts_fleet.ops_netns(fleet), bring_up, fleet_dir, args, fleet)
    except BaseException as e:  # noqa: BLE001 - any failure, Ctrl-C included, stops what had started
        state.save(fleet)
        if isinstance(e, FleetError):
            say(f"ERROR: {e}")
        else:
            say(f"ERROR: {type(e).__name__}: {e}")
        if args.keep_on_failure:
            say(f"leaving what started running (--keep-on-failure); `scripts/fleet down --dir {fleet_dir}` stops it")
        else:
            say("stopping what had started (logs are kept)")
            down.stop_all(fleet)
        return 1
    print(summary(fleet, time.monotonic() - started))
    return 0
