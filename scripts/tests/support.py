"""Shared by the Python unit tests: a TOML parser and a check of a parsed value against a Rust type."""

import os
import re

try:
    import tomllib
except ImportError:  # Python < 3.11: scripts/install-deps puts tomli into the tools venv
    import tomli as tomllib

from rust_source import SourceShapeError

__all__ = ["check_rust_value", "load_toml", "tomllib"]

_INT_RANGES = {
    "u8": (0, 2**8 - 1),
    "u16": (0, 2**16 - 1),
    "u32": (0, 2**32 - 1),
    "u64": (0, 2**64 - 1),
    "usize": (0, 2**64 - 1),
    "i32": (-(2**31), 2**31 - 1),
    "i64": (-(2**63), 2**63 - 1),
}


def load_toml(path):
    with open(path, "rb") as f:
        return tomllib.load(f)


def check_rust_value(value, rust_type, structs, where):
    """Problems (a list of strings) found deserializing `value` (parsed JSON or TOML) into `rust_type`
    the way serde would, with the structs of `structs` ({name: rust_source.Struct}). PathBuf values
    must be absolute: every path scripts/fleet writes is (docs/fleet.md)."""
    t = rust_type.strip()
    m = re.fullmatch(r"(Option|Vec|Box)<(.+)>", t)
    if m:
        outer, inner = m.groups()
        if outer == "Option":
            return [] if value is None else check_rust_value(value, inner, structs, where)
        if outer == "Box":
            return check_rust_value(value, inner, structs, where)
        if not isinstance(value, list):
            return [f"{where}: expected a list ({t}), got {value!r}"]
        out = []
        for i, item in enumerate(value):
            out += check_rust_value(item, inner, structs, f"{where}[{i}]")
        return out
    m = re.fullmatch(r"(?:BTreeMap|HashMap)<\s*String\s*,\s*(.+)>", t)
    if m:
        if not isinstance(value, dict):
            return [f"{where}: expected a table/object ({t}), got {value!r}"]
        out = []
        for key, item in value.items():
            out += check_rust_value(item, m.group(1), structs, f"{where}.{key}")
        return out
    if t in _INT_RANGES:
        lo, hi = _INT_RANGES[t]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            return [f"{where}: expected an integer in {lo}..={hi} ({t}), got {value!r}"]
        return []
    if t in ("f32", "f64"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected a number ({t}), got {value!r}"]
    if t == "bool":
        return [] if isinstance(value, bool) else [f"{where}: expected true/false, got {value!r}"]
    if t == "String":
        return [] if isinstance(value, str) else [f"{where}: expected a string, got {value!r}"]
    if t == "PathBuf":
        if not isinstance(value, str):
            return [f"{where}: expected a path (string), got {value!r}"]
        return [] if os.path.isabs(value) else [f"{where}: the path {value!r} is not absolute"]
    if t in structs:
        return check_struct(value, structs[t], structs, where)
    raise SourceShapeError(f"{where}: the tests do not know the Rust type {t}: teach scripts/tests/support.py")


def check_struct(value, struct, structs, where):
    if not isinstance(value, dict):
        return [f"{where}: expected a table/object ({struct.name}), got {value!r}"]
    out = []
    for name, field in struct.fields.items():
        if name not in value:
            if not field.optional:
                out.append(f"{where}.{name}: missing ({struct.name}.{name}: {field.type} is required)")
            continue
        out += check_rust_value(value[name], field.type, structs, f"{where}.{name}")
    if struct.deny_unknown:
        out += [f"{where}.{k}: unknown to {struct.name} (deny_unknown_fields)" for k in value if k not in struct.fields]
    return out
