"""scripts/bench_lib: the no-service window as bench-migrate computes it from its DB polls, the goal,
the libpq parameters it derives from fleet.json's DB URL, and the restore prelude bench-db-backup
replays (the agent's own)."""

import types
import unittest

import fake_up  # noqa: F401 - puts scripts/ on sys.path
from bench_lib.dbops import agent_prelude
from bench_lib.pg import Db, PgError
from bench_lib.window import analyse, goal

T_STOP = 1000.0


def poller(alive_until, claims_at, builds):
    """Polls every 0.25 s from T_STOP - 1 to T_STOP + 20 (each answered 0.05 s later): the old
    masters alive while t < alive_until; claims_at = {t: [[brid, masterid, claimed_at]]} first
    seen by the poll sent at t."""
    polls = []
    for i in range(int(21 / 0.25)):
        t = T_STOP - 1 + i * 0.25
        polls.append({"t_req": t, "t_rep": t + 0.05, "alive": ["master-1"] if t < alive_until else [],
                      "claims": claims_at.get(t, [])})
    return types.SimpleNamespace(polls=polls, failed=[], builds=builds, master_events=[])


class Window(unittest.TestCase):
    def test_window_from_the_first_claim_after_the_old_masters_are_gone(self):
        # A build started before the stop and ended 6 s after it (complete_at has whole seconds).
        builds = {1: [1, 1, 990, 1006], 2: [2, 1, 980, 995]}
        p = poller(alive_until=1006.6, claims_at={1015.0: [[7, 2, 1014]]}, builds=builds)
        w = analyse(p, T_STOP)
        self.assertEqual(w["builds_running_at_stop"], 1)
        self.assertEqual(w["longest_remaining_s"], 7.0)
        self.assertEqual(w["longest_running_build_s"], 16)
        self.assertEqual(w["old_gone_s"], 6.8)     # the poll sent at 1006.75, answered at 1006.8
        self.assertEqual(w["old_gone_lo_s"], 6.5)  # the previous poll, sent at 1006.5, saw it alive
        self.assertEqual(w["window_s"], 15.05)
        self.assertEqual(w["window_lo_s"], 14.75)  # the previous poll's request, later than claimed_at
        self.assertEqual(w["first_new_claim"], {"brid": 7, "masterid": 2, "claimed_at": 1014})

    def test_a_claim_seen_before_the_old_masters_were_gone_is_theirs(self):
        p = poller(alive_until=1006.6, claims_at={1002.0: [[5, 1, 1001]], 1006.75: [[6, 1, 1006]]}, builds={})
        w = analyse(p, T_STOP)
        self.assertNotIn("window_s", w)
        self.assertEqual(w["longest_remaining_s"], 0.0)

    def test_no_stop_no_window(self):
        w = analyse(poller(alive_until=0, claims_at={}, builds={}), None)
        self.assertNotIn("window_s", w)
        self.assertEqual(w["polls"], 84)

    def test_goal(self):
        w = {"window_s": 20.0, "longest_remaining_s": 6.0}
        self.assertEqual(goal(w, 3.0, 1.0), (20.0, True))
        self.assertEqual(goal(w, 3.0, 0.5), (19.5, False))
        self.assertEqual(goal(w, None, 1.0), (None, None))
        self.assertEqual(goal({"longest_remaining_s": 6.0}, 3.0, 1.0), (None, None))


class Postgres(unittest.TestCase):
    def test_libpq_parameters_from_the_sqlalchemy_url(self):
        db = Db("postgresql+psycopg2://buildbot:p%40ss@127.0.0.1:21300/buildbot")
        self.assertEqual(db.conn_args(), ["-h", "127.0.0.1", "-p", "21300", "-U", "buildbot", "-d", "buildbot"])
        env = db.env("bbctl-backup:x")
        self.assertEqual(env["PGPASSWORD"], "p@ss")
        self.assertEqual(env["PGAPPNAME"], "bbctl-backup:x")
        self.assertNotIn("p@ss", " ".join(db.conn_args()))

    def test_refuses_other_databases(self):
        with self.assertRaises(PgError):
            Db("sqlite:///state.sqlite")


class Prelude(unittest.TestCase):
    def test_the_agents_restore_prelude_is_found(self):
        sql = agent_prelude()
        self.assertIsNotNone(sql, "no `const PRELUDE` in server/src/buildbot_db/restore.rs")
        self.assertIn("DROP TABLE IF EXISTS public.%I CASCADE", sql)
        self.assertIn("END $$;", sql)
        self.assertNotIn('\\"', sql)


if __name__ == "__main__":
    unittest.main()
