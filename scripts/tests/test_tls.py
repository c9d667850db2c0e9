"""The fleet CA of `up --hosts` (fleet_lib.tls), made for real with openssl: the CA is a CA, an
agent's certificate is an end-entity certificate it signed for the agent's IP address (what rustls
checks, docs/agent-config.md `[tls]`), and keys are private."""

import os
import ssl
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path

import fake_up  # noqa: F401 - puts scripts/ on sys.path
from fleet_lib import tls


def text_of(cert):
    return subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-text"], capture_output=True, text=True,
                          check=True).stdout


class FleetCa(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="bbctl-tls-test-")
        d = Path(cls.tmp.name)
        cls.paths = tls.paths(d)
        log = d / "tls.log"
        tls.make_ca(cls.paths, "bb123456", log)
        cls.agent = tls.agent_cert(cls.paths, "master-1", "10.150.7.31", "m1", log)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_files_are_where_fleet_json_says_and_keys_are_private(self):
        self.assertEqual(self.agent, {"cert_file": f"{self.paths['dir']}/master-1.crt",
                                      "key_file": f"{self.paths['dir']}/master-1.key"})
        for key in (self.paths["ca_key"], self.agent["key_file"]):
            self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600, key)
        self.assertEqual(stat.S_IMODE(os.stat(self.paths["dir"]).st_mode), 0o700)

    def test_the_ca_is_a_ca_and_the_agent_certificate_an_end_entity_for_its_ip(self):
        ca = text_of(self.paths["ca_file"])
        self.assertRegex(ca, r"Basic Constraints: critical\s+CA:TRUE")
        agent = text_of(self.agent["cert_file"])
        self.assertRegex(agent, r"Basic Constraints: critical\s+CA:FALSE")
        self.assertRegex(agent, r"Extended Key Usage:\s+TLS Web Server Authentication")
        self.assertRegex(agent, r"Subject Alternative Name:\s+IP Address:10\.150\.7\.31, DNS:m1")
        self.assertIn("Issuer: CN = bbctl fleet CA bb123456", agent)

    def test_the_ca_verifies_the_agent_certificate(self):
        proc = subprocess.run(["openssl", "verify", "-CAfile", self.paths["ca_file"], self.agent["cert_file"]],
                              capture_output=True, text=True, check=False)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_key_and_certificate_load_together(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.agent["cert_file"], self.agent["key_file"])
        ssl.create_default_context(cafile=self.paths["ca_file"])


if __name__ == "__main__":
    unittest.main()
