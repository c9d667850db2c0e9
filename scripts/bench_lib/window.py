"""The no-service window, read from the Buildbot DB: a poller and the analysis of what it saw.

The poller (every `interval` s) first checks whether each old master's process (its PID at the
arm's start) is alive, then reads in one query every `buildrequest_claims` row, every build and
every `masters` row since the arm began. A claim first seen by a poll *after* the first poll that
found every old process gone was made by a new master: the old ones were all gone before that
poll's query ran, and no new master can start before they are (both procedures stop them all
before the migration). The window is from t_stop (the moment the first old master was told to
stop claiming) to that claim: the upper bound is the reply of the poll that first saw it, the
lower bound the later of the previous poll's request and the claim's own `claimed_at` (whole
seconds)."""
import threading
import time

from .fleet import pid_alive
from .pg import SEP, PgError

QUERY = """
SELECT concat_ws(chr(31), 'c', brid, masterid, claimed_at) FROM buildrequest_claims WHERE claimed_at >= {since}
UNION ALL
SELECT concat_ws(chr(31), 'b', id, buildrequestid, masterid, started_at, coalesce(complete_at, -1))
  FROM builds WHERE started_at >= {since} OR complete_at IS NULL
UNION ALL
SELECT concat_ws(chr(31), 'm', id, active::int, coalesce(last_active, -1), name) FROM masters
"""


class Poller(threading.Thread):
    def __init__(self, db, old_pids, since, interval):
        super().__init__(daemon=True)
        self.db, self.old_pids, self.since, self.interval = db, old_pids, int(since), interval
        self.polls = []          # {t_req, t_rep, alive: [old names], claims: [[brid, masterid, claimed_at]]}
        self.failed = []         # {t, error}
        self.claims = {}         # brid -> [masterid, claimed_at, index of the poll that first saw it]
        self.builds = {}         # id -> [brid, masterid, started_at, complete_at]
        self.masters = {}        # id -> [name, active, last_active]
        self.master_events = []  # [poll index, id, name, active]
        self.halt = threading.Event()

    def run(self):
        tick = time.monotonic()
        while not self.halt.is_set():
            self.halt.wait(max(0.0, tick - time.monotonic()))
            tick = max(tick + self.interval, time.monotonic())
            if not self.halt.is_set():
                self.poll()

    def poll(self):
        t_req = time.time()
        alive = sorted(n for n, pid in self.old_pids.items() if pid_alive(pid))
        try:
            rows = self.db.rows(QUERY.format(since=self.since), timeout=10)
        except PgError as e:
            self.failed.append({"t": round(t_req, 3), "error": str(e)[:200]})
            return
        i = len(self.polls)
        new_claims = []
        for r in rows:
            if r[0] == "c":
                brid, masterid, at = int(r[1]), int(r[2]), int(r[3])
                if brid not in self.claims:
                    self.claims[brid] = [masterid, at, i]
                    new_claims.append([brid, masterid, at])
            elif r[0] == "b":
                self.builds[int(r[1])] = [int(r[2]), int(r[3]), int(r[4]), int(r[5])]
            elif r[0] == "m":
                mid, active, last = int(r[1]), int(r[2]), int(r[3])
                name = SEP.join(r[4:])
                if self.masters.get(mid, [None, None])[1] != active:
                    self.master_events.append([i, mid, name, active])
                self.masters[mid] = [name, active, last]
        self.polls.append({"t_req": round(t_req, 3), "t_rep": round(time.time(), 3), "alive": alive,
                           "claims": new_claims})



def analyse(p, t_stop):
    """The window and its parts from a finished poller and t_stop (wall time)."""
    out = {"t_stop": t_stop, "polls": len(p.polls), "failed_polls": len(p.failed)}
    gaps = [b["t_req"] - a["t_req"] for a, b in zip(p.polls, p.polls[1:])]
    out["poll_gap_median_s"] = round(sorted(gaps)[len(gaps) // 2], 3) if gaps else None
    out["poll_gap_max_s"] = round(max(gaps), 3) if gaps else None
    if t_stop is None:
        return out
    # Builds running when the stop was sent: what a graceful stop waits for.
    running = [b for b in p.builds.values() if b[2] <= t_stop and (b[3] < 0 or b[3] + 1 > t_stop)]
    out["builds_running_at_stop"] = len(running)
    if running and all(b[3] >= 0 for b in running):
        out["longest_remaining_s"] = round(max(b[3] + 1 for b in running) - t_stop, 2)
        out["longest_running_build_s"] = max(b[3] - b[2] for b in running)
    elif running:
        out["longest_remaining_s"] = None
    else:
        out["longest_remaining_s"] = 0.0
    gone = next((i for i, q in enumerate(p.polls) if q["t_req"] >= t_stop and not q["alive"]), None)
    if gone is None:
        return out
    out["old_gone_s"] = round(p.polls[gone]["t_rep"] - t_stop, 2)
    out["old_gone_lo_s"] = round(p.polls[gone - 1]["t_req"] - t_stop, 2) if gone else None
    first = next((i for i in range(gone + 1, len(p.polls)) if p.polls[i]["claims"]), None)
    active = next((e for e in p.master_events if e[0] > gone and e[3]), None)
    if active is not None:
        out["first_master_active_s"] = round(p.polls[active[0]]["t_rep"] - t_stop, 2)
    if first is None:
        return out
    claim = min(p.polls[first]["claims"], key=lambda c: c[2])
    out["first_new_claim"] = {"brid": claim[0], "masterid": claim[1], "claimed_at": claim[2]}
    out["window_s"] = round(p.polls[first]["t_rep"] - t_stop, 2)
    out["window_lo_s"] = round(max(p.polls[first - 1]["t_req"], claim[2]) - t_stop, 2)
    return out


def goal(w, migration_s, start_s):
    """window <= longest remaining build at the stop + migration + new-master start + 10 s."""
    parts = [w.get("longest_remaining_s"), migration_s, start_s]
    if w.get("window_s") is None or any(x is None for x in parts):
        return None, None
    bound = round(sum(parts) + 10, 2)
    return bound, w["window_s"] <= bound

