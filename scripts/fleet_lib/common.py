"""Shared helpers of scripts/fleet: messages, errors, paths, running commands, waiting, HTTP."""
import json
import os
import re
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
BUILDBOT_VERSION = "4.3.0"
HOST = "127.0.0.1"


class FleetError(Exception):
    """A failure with a message meant for the operator (it names the log that explains it)."""


class UsageError(FleetError):
    """A bad argument: nothing was done (exit code 2)."""


def say(msg):
    print(f"fleet: {msg}", file=sys.stderr, flush=True)


def cache_dir():
    return Path(os.environ.get("BBCTL_CACHE") or Path.home() / ".cache" / "bbctl")


def buildbot_venv(version=BUILDBOT_VERSION):
    """The venv of a Buildbot version, as scripts/install-deps names it."""
    return cache_dir() / f"buildbot-{version}"


def installed_buildbot_versions():
    """The Buildbot versions whose venv scripts/install-deps finished (marker file + bin/buildbot)."""
    found = []
    for d in cache_dir().glob("buildbot-*"):
        if (d / ".bbctl-installed").is_file() and os.access(d / "bin" / "buildbot", os.X_OK):
            found.append(d.name[len("buildbot-"):])
    return sorted(found, key=lambda v: [int(p) if p.isdigit() else p for p in re.split(r"[.]", v)])


def check_buildbot_version(version):
    """The venv of `version`; UsageError naming the installed versions when there is none."""
    installed = installed_buildbot_versions()
    if version not in installed:
        raise UsageError(
            f"--buildbot-version {version}: no such Buildbot installed under {cache_dir()} "
            f"(installed: {', '.join(installed) or 'none'}; scripts/install-deps installs 4.3.0 and 4.2.1)"
        )
    return buildbot_venv(version)


def crossbar_venv():
    return cache_dir() / "crossbar"


def tail(path, lines=15):
    """The last lines of a log file, indented, for error messages."""
    try:
        text = Path(path).read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "".join(f"\n    {line}" for line in text)


def run(cmd, log, what, env=None, cwd=None, timeout=300):
    """Runs a command to completion, its output appended to `log`; raises FleetError on failure."""
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(str(c) for c in cmd)}\n".encode())
        out.flush()
        try:
            proc = subprocess.run(
                [str(c) for c in cmd],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise FleetError(f"{what}: no answer after {timeout}s (log: {log}){tail(log)}") from e
        except OSError as e:
            raise FleetError(f"{what}: cannot run {cmd[0]}: {e}") from e
    if proc.returncode != 0:
        raise FleetError(f"{what} failed with exit code {proc.returncode} (log: {log}){tail(log)}")


def wait_until(what, check, timeout, log=None, interval=0.25, alive=None):
    """Polls `check()` until it returns a truthy value, which is returned.

    `alive()` (optional) is polled too: when it returns a message, waiting stops early with it (a
    daemon that died will never become ready). Exceptions from `check` count as "not yet".
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - any failure means "not ready yet"
            last = e
        if alive is not None:
            dead = alive()
            if dead:
                where = f" (log: {log}){tail(log)}" if log else ""
                raise FleetError(f"{what}: {dead}{where}")
        if time.monotonic() >= deadline:
            detail = f"; last error: {last}" if last else ""
            where = f" (log: {log}){tail(log)}" if log else ""
            raise FleetError(f"timed out after {timeout:.0f}s waiting for {what}{detail}{where}")
        time.sleep(interval)


def in_netns(netns, cmd):
    """`cmd` run inside network namespace `netns` (`ip netns exec`, which execs it: same PID), or
    `cmd` itself when `netns` is None (the loopback fleet)."""
    return ["ip", "netns", "exec", netns, *cmd] if netns else list(cmd)


def http_json(method, url, body=None, token=None, timeout=10, cafile=None):
    """One HTTP call; returns (status, parsed JSON or text). Raises OSError when unreachable.
    `https://` URLs are verified against `cafile` (the fleet CA of `up --hosts`)."""
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def toml_value(value):
    """A TOML literal for the simple values our generated files hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def _toml_string(text):
    """A TOML basic string: printable ASCII as is, everything else escaped (\\uXXXX, or \\UXXXXXXXX
    beyond the BMP, where a JSON string would have a surrogate pair that TOML refuses)."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def toml_key(key):
    """A bare key when TOML allows one, else a quoted key."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def toml_table(name, values):
    lines = [f"[{name}]"] if name else []
    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def write_file(path, text, mode=0o644):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
