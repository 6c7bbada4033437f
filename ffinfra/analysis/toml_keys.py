"""Compare a TOML file ffinfra renders with the upstream template of the same service, key by key.

    problems = check_against(rendered_text, template_text)     → ["server.base.groups[].ibsocket.sl: unknown key", ...]
    missing_keys(rendered_text, template_text)                  → template keys the rendered file does not set

3FS reads its configuration into typed structures and rejects a key it does not know or a value of the wrong type
at start-up, on hosts we cannot start here (no RDMA, no FoundationDB). So every key a renderer writes must exist in
upstream's template of that file with the same TOML type, and the small per-node files (`*_app.toml`,
`*_launcher.toml`) must set every key their template has. Keys are dotted paths; an array of tables is `name[]`,
and its elements are checked against the union of the keys of the template's elements.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from typing import Any


def toml_type(value: Any) -> str:
    if isinstance(value, bool):  # before int: a bool is an int in Python, not in TOML
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return "datetime"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, list):
        return "array of tables" if value and all(isinstance(x, dict) for x in value) else "array"
    raise TypeError(f"not a TOML value: {value!r}")


def flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Every key of a parsed TOML document as a dotted path → its TOML type. Tables and arrays of tables are keys
    too; the elements of an array of tables share one path, `name[]`."""
    out: dict[str, str] = {}
    for key, value in doc.items():
        path = f"{prefix}.{key}" if prefix else key
        kind = toml_type(value)
        out[path] = kind
        if kind == "table":
            out.update(flatten(value, path))
        elif kind == "array of tables":
            for element in value:
                out.update(flatten(element, f"{path}[]"))
    return out


# Arrays of tables that upstream's templates leave empty, so the templates cannot show their elements' keys: those
# come from the structure 3FS reads them into. `[ib_devices] subnets`: IBConfig::Subnet in
# src/common/net/ib/IBDevice.h, read in IBDevice.cc (`subnet.subnet()`, a CIDR string; `subnet.network_zones()`).
EMPTY_ARRAY_ELEMENTS: dict[str, dict[str, str]] = {"subnets": {"subnet": "string", "network_zones": "array"}}


def _element_kind(path: str, want: dict[str, str]) -> str | None:
    """The type of `path` when it is a key of an element of an array the template leaves empty."""
    array, sep, key = path.rpartition("[].")
    if not sep or "." in key or want.get(array) != "array":
        return None
    return EMPTY_ARRAY_ELEMENTS.get(array.rsplit(".", 1)[-1], {}).get(key)


def check_against(rendered: str, template: str) -> list[str]:
    """`path: why` for every key of `rendered` that `template` does not have, or has with another type. An empty
    array in the template takes any array; an array of tables takes an empty array."""
    have, want = flatten(tomllib.loads(rendered)), flatten(tomllib.loads(template))
    for path in have:
        kind = _element_kind(path, want)
        if kind is not None:
            want[path] = kind
    problems = []
    for path, kind in sorted(have.items()):
        if path not in want:
            problems.append(f"{path}: unknown key (not in the upstream template)")
        elif kind != want[path] and {kind, want[path]} != {"array", "array of tables"}:
            problems.append(f"{path}: {kind}, but the upstream template has a {want[path]}")
    return problems


def missing_keys(rendered: str, template: str) -> list[str]:
    """The template's keys that `rendered` does not set (tables count as set when any of their keys is)."""
    have = flatten(tomllib.loads(rendered))
    want = flatten(tomllib.loads(template))
    return sorted(p for p, kind in want.items() if p not in have and kind not in ("table", "array of tables"))
