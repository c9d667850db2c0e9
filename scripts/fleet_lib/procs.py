"""Daemons by PID: start them detached, tell whether they live, and stop exactly them.

Every daemon is started in its own session (setsid) with stdin from /dev/null and its output in a
log file, so that no signal sent to our process group reaches it and its PID is known. A PID is
trusted only while the process still looks like ours (its command line or working directory
mentions a path of this fleet), so a reused PID is never signalled.
"""
import os
import signal
import subprocess
import time
from pathlib import Path

_children = []  # keeps Popen objects referenced for the lifetime of `up`


def spawn(cmd, log, env=None, cwd=None):
    """Starts a daemon detached from us; returns its PID."""
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(str(c) for c in cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            [str(c) for c in cmd],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    _children.append(proc)
    return proc.pid


def _stat(pid):
    """(state, ppid, pgrp, starttime) from /proc/PID/stat, or None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[19])


def is_alive(pid):
    """True when PID runs and is not a zombie (kill -0 succeeds on zombies; this does not)."""
    if not pid:
        return False
    st = _stat(int(pid))
    return st is not None and st[0] not in ("Z", "X")


def belongs(pid, markers):
    """True when the process mentions one of `markers` (paths) in its command line or cwd."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = ""
    return any(str(m) in cmdline or (cwd + "/").startswith(str(m).rstrip("/") + "/") for m in markers)


def read_pidfile(path):
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _snapshot():
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st:
                procs[int(entry)] = st
    return procs


def descendants(pid):
    """(pid, starttime) of every live descendant of PID and of every member of its process group."""
    procs = _snapshot()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, st in procs.items() if st[1] in frontier and p not in found}
        found |= frontier
    found |= {p for p, st in procs.items() if st[2] == pid and p != pid}
    return {(p, procs[p][3]) for p in found}


def _kill_leftovers(children):
    for pid, start in children:
        st = _stat(pid)
        if st and st[3] == start and st[0] not in ("Z", "X"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_dead(pid, timeout):
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def stop(pid, markers, what, term_timeout=15.0, sig=signal.SIGTERM):
    """Stops one daemon of ours: `sig`, wait, then SIGKILL; its leftover children are killed too.

    Returns a short description of what happened (for the operator), or None if it was not running.
    """
    if not pid or not is_alive(pid):
        return None
    if not belongs(pid, markers):
        return f"{what}: PID {pid} is no longer ours (reused); left alone"
    children = descendants(pid)
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return None
    how = "stopped"
    if not wait_dead(pid, term_timeout):
        os.kill(pid, signal.SIGKILL)
        how = f"killed (did not stop within {term_timeout:.0f}s of {signal.Signals(sig).name})"
        wait_dead(pid, 5)
    children |= descendants(pid) if is_alive(pid) else set()
    _kill_leftovers(children)
    return f"{what} (PID {pid}) {how}"
