"""scripts/test's closing lines (`scripts/test --summarize LOG`): totals over every `test result:`
line, and a failure when a test was ignored, filtered out or skipped, or when no test ran."""

import subprocess
import tempfile
import unittest

from rust_source import REPO

CARGO_OK = """\
     Running unittests src/lib.rs (target/debug/deps/bbctl-0123)

running 3 tests
test a ... ok
test b ... ok
test c ... ok

test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

   Doc-tests bbctl_wamp

running 1 test
test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.20s
"""
PYTHON_OK = """\
     Running scripts/tests (Python unittest)
test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.80s
"""


def summarize(log):
    with tempfile.NamedTemporaryFile("w", suffix=".log") as f:
        f.write(log)
        f.flush()
        proc = subprocess.run(
            [str(REPO / "scripts" / "test"), "--summarize", f.name],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    return proc.returncode, proc.stdout.rstrip("\n").split("\n")


class Summary(unittest.TestCase):
    def test_adds_up_every_result_line(self):
        code, lines = summarize(PYTHON_OK + CARGO_OK)
        self.assertEqual((code, lines[-1]), (0, "16 passed, 0 failed, 0 skipped"))
        self.assertNotIn("FAILED", "\n".join(lines))

    def test_an_ignored_test_fails_the_run_and_is_named(self):
        log = (
            CARGO_OK
            + """\
     Running tests/drain.rs (target/debug/deps/drain-4567)
test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s
"""
        )
        code, lines = summarize(log)
        self.assertEqual(code, 1)
        self.assertEqual(lines[-1], "7 passed, 0 failed, 1 skipped")
        text = "\n".join(lines)
        self.assertIn("FAILED: 1 test(s) did not run", text)
        self.assertIn("tests/drain.rs (target/debug/deps/drain-4567): 1 ignored, 0 filtered out", text)

    def test_filtered_out_tests_count_as_skipped(self):
        code, lines = summarize(
            "test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 5 filtered out; finished in 0.01s\n"
        )
        self.assertEqual((code, lines[-1]), (1, "2 passed, 0 failed, 5 skipped"))

    def test_a_skipped_python_test_fails_the_run(self):
        code, lines = summarize(
            CARGO_OK + PYTHON_OK.replace("12 passed; 0 failed; 0 ignored", "11 passed; 0 failed; 1 ignored")
        )
        self.assertEqual((code, lines[-1]), (1, "15 passed, 0 failed, 1 skipped"))
        self.assertIn("scripts/tests (Python unittest): 1 ignored", "\n".join(lines))

    def test_failures_are_counted_and_fail(self):
        code, lines = summarize(
            CARGO_OK + "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out\n"
        )
        self.assertEqual((code, lines[-1]), (1, "5 passed, 2 failed, 0 skipped"))

    def test_no_test_at_all_fails(self):
        code, lines = summarize("error: could not compile `bbctl`\n")
        self.assertEqual((code, lines[-1]), (1, "0 passed, 0 failed, 0 skipped"))
        self.assertIn("FAILED: no test ran", "\n".join(lines))


if __name__ == "__main__":
    unittest.main()
