"""fleet_lib.common's TOML writer (agent.toml and bbctl.toml are written with it): what it writes
parses back to the same values."""

import math
import unittest

import fake_up  # noqa: F401 - puts scripts/ on sys.path
from fleet_lib.common import toml_table, toml_value
from support import tomllib

STRINGS = [
    "",
    "plain",
    'a "quoted" \\ back\\slash',
    "new\nline\ttab\r\b\f",
    "\x00\x01\x1f\x7f",
    "caf\u00e9 \u2603",
    "emoji \U0001f680 beyond the BMP",
    "/tmp/dir with spaces/agent.toml",
    "postgresql+psycopg2://buildbot:p%40ss@127.0.0.1:5432/buildbot",
]


class TomlWriter(unittest.TestCase):
    def roundtrip(self, values):
        return tomllib.loads(toml_table(None, values))

    def test_strings(self):
        for s in STRINGS:
            with self.subTest(repr(s)):
                self.assertEqual(self.roundtrip({"v": s}), {"v": s})

    def test_numbers_and_booleans(self):
        values = {"i": 0, "n": -7, "big": 2**40, "f": 1.0, "g": 0.05, "e": 1e100, "t": True, "no": False}
        self.assertEqual(self.roundtrip(values), values)
        self.assertTrue(math.isinf(self.roundtrip({"x": float("inf")})["x"]))

    def test_lists_and_inline_tables(self):
        values = {"workers": [{"name": "worker-1", "password": 'p"w'}, {"name": "w2", "password": ""}], "empty": []}
        self.assertEqual(self.roundtrip(values), values)

    def test_keys_that_are_not_bare_are_quoted(self):
        values = {"a.b": 1, "with space": "x", "caf\u00e9": True, "ok_key-1": 2}
        self.assertEqual(self.roundtrip(values), values)
        self.assertEqual(tomllib.loads("t = " + toml_value({"x y": 1})), {"t": {"x y": 1}})

    def test_tables_and_arrays_of_tables(self):
        text = toml_table("master", {"basedir": "/b"}) + toml_table("master.vars", {"www_port": 1})
        text += toml_table("[masters]", {"name": "m1"}) + toml_table("[masters]", {"name": "m2"})
        self.assertEqual(
            tomllib.loads(text),
            {"master": {"basedir": "/b", "vars": {"www_port": 1}}, "masters": [{"name": "m1"}, {"name": "m2"}]},
        )

    def test_refuses_what_it_cannot_write(self):
        with self.assertRaises(TypeError):
            toml_value(None)


if __name__ == "__main__":
    unittest.main()
