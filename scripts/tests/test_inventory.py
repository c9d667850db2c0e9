"""DIR/bbctl.toml (fleet_lib.state.write_inventory) against what `bbctl` reads (cli/src/inventory.rs):
serde structs File / Defaults / MasterEntry with deny_unknown_fields, then the checks of
Inventory::from_file."""

import unittest
from pathlib import Path
from urllib.parse import urlsplit

import fake_up
from rust_source import structs
from support import check_rust_value, load_toml

INVENTORY = "cli/src/inventory.rs"


class Inventory(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.structs = structs(INVENTORY)
        cls.cases = []
        for args in (["--masters", "3", "--standby", "2", "--workers", "1"], ["--masters", "1", "--workers", "0"]):
            with fake_up.FakeFleet() as fleet:
                info = fleet.up(*args)
                inventory = load_toml(info["inventory"])
                token = Path(info["token_file"]).read_text()
                cls.cases.append((" ".join(args), info, inventory, token))

    def test_deserializes_into_the_inventory_file_struct(self):
        self.assertTrue(self.structs["File"].deny_unknown, "cli/src/inventory.rs: File refuses unknown keys")
        for label, _, inventory, _ in self.cases:
            with self.subTest(label):
                self.assertEqual(check_rust_value(inventory, "File", self.structs, "bbctl.toml"), [])

    def test_passes_the_checks_of_from_file(self):
        for label, _, inventory, token in self.cases:
            with self.subTest(label):
                masters = inventory["masters"]
                self.assertTrue(masters, "no [[masters]]")
                names = [m["name"] for m in masters]
                self.assertTrue(all(n.strip() for n in names), "a master has an empty name")
                self.assertEqual(len(names), len(set(names)), "a master appears twice")
                for m in masters:
                    has_token = any(k in m for k in ("token", "token_file")) or any(
                        k in inventory.get("defaults", {}) for k in ("token", "token_file")
                    )
                    self.assertTrue(has_token, f"master {m['name']} has no token or token_file")
                    self.assertIn(urlsplit(m["url"]).scheme, ("http", "https"))
                    self.assertTrue(urlsplit(m["url"]).netloc)
                self.assertTrue(token.strip(), "the token file is empty")

    def test_names_every_slot_of_fleet_json(self):
        for label, info, inventory, _ in self.cases:
            with self.subTest(label):
                self.assertEqual(inventory["defaults"], {"token_file": info["token_file"]})
                self.assertEqual(
                    [(m["name"], m["url"], m.get("standby", False)) for m in inventory["masters"]],
                    [(m["name"], m["agent_url"], m["standby"]) for m in info["masters"]],
                )


if __name__ == "__main__":
    unittest.main()
