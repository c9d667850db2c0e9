"""What the Rust side reads, taken from its source, so that the Python tests follow it when it changes.

Deliberately small parsers for the plain shapes used there: serde structs with one field per line
(tests/src/info.rs, cli/src/inventory.rs) and the agent's `Reader` calls with a literal dotted key
(server/src/config/). A shape they do not understand fails loudly instead of checking less.
"""

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class SourceShapeError(AssertionError):
    """The Rust source no longer has the shape these parsers read: update scripts/tests/rust_source.py."""


@dataclass
class Field:
    name: str
    # The Rust type as written, e.g. `Option<u32>`, `Vec<FleetMaster>`, `PathBuf`.
    type: str
    # `#[serde(default)]`: may be absent.
    default: bool

    @property
    def optional(self):
        return self.default or self.type.startswith("Option<")


@dataclass
class Struct:
    name: str
    fields: dict
    # `#[serde(deny_unknown_fields)]`: a key that is not a field is an error.
    deny_unknown: bool


_FIELD = re.compile(r"^(?:pub(?:\([^)]*\))?\s+)?(\w+)\s*:\s*(.+?),$")


def structs(path):
    """{name: Struct} of every `struct NAME { ... }` with named fields in the Rust file `path`."""
    text = (REPO / path).read_text()
    out = {}
    pattern = r"((?:^#\[[^\n]*\]\n)*)^(?:pub\s+)?struct\s+(\w+)\s*\{\n(.*?)^\}"
    for m in re.finditer(pattern, text, re.MULTILINE | re.DOTALL):
        attrs, name, body = m.group(1), m.group(2), m.group(3)
        if "rename" in attrs or "flatten" in attrs:
            raise SourceShapeError(f"{path}: struct {name} uses a serde attribute the tests do not model: {attrs}")
        fields, pending = {}, []
        for raw in body.splitlines():
            line = raw.strip()
            if not line or line.startswith("//"):
                continue
            if line.startswith("#["):
                pending.append(line)
                continue
            fm = _FIELD.match(line)
            if not fm:
                raise SourceShapeError(f"{path}: struct {name}: cannot read the field line {line!r}")
            joined = " ".join(pending)
            if "rename" in joined or "flatten" in joined or "alias" in joined:
                raise SourceShapeError(f"{path}: struct {name}.{fm.group(1)} uses {joined}: the tests do not model it")
            fields[fm.group(1)] = Field(fm.group(1), fm.group(2).strip(), "serde(default" in joined)
            pending = []
        out[name] = Struct(name, fields, "deny_unknown_fields" in attrs)
    if not out:
        raise SourceShapeError(f"{path}: no struct found")
    return out


def agent_config_keys():
    """(every key the agent reads, the required ones) from the `Reader` calls in server/src/config/.

    The agent refuses a key it never read (Reader::finish) and a missing `req_*` key."""
    keys, required = set(), set()
    for path in sorted((REPO / "server" / "src" / "config").rglob("*.rs")):
        for m in re.finditer(r"\.(req|opt)_\w+\(\s*\"([a-z0-9_.]+)\"", path.read_text()):
            keys.add(m.group(2))
            if m.group(1) == "req":
                required.add(m.group(2))
    if not required or "name" not in keys:
        raise SourceShapeError(
            "server/src/config/ no longer reads its keys through Reader calls with literal keys "
            '(r.req_str("name"), r.opt_str("master.db_url"), ...): update scripts/tests/rust_source.py'
        )
    return keys, required


def lb_keys_by_kind():
    """{kind: the keys it uses} from the validation of `[load_balancer]` (server/src/lb/config.rs),
    which refuses a key that the kind does not use."""
    text = (REPO / "server" / "src" / "lb" / "config.rs").read_text()
    out = {}
    for m in re.finditer(r"\"(\w+)\"\s*=>(?:(?!\"\w+\"\s*=>).)*?&\[([^\]]*)\]", text, re.DOTALL):
        out[m.group(1)] = set(re.findall(r"\"(\w+)\"", m.group(2)))
    if not {"none", "haproxy", "relay"} <= set(out):
        raise SourceShapeError(f"server/src/lb/config.rs: cannot find the keys of each kind (found {out})")
    return out
