"""A small deterministic TOML writer for the configuration ffinfra renders (3FS's files).

Keys stay in the order of the document (the upstream template's, since ffinfra edits a parsed template); a table
writes its plain keys first, then its sub-tables and arrays of tables. Only what those files hold is supported:
strings, booleans, integers, finite floats, arrays of those, tables and arrays of tables. `tomllib.loads(dumps(d))`
gives `d` back; tests/unit/render/test_threefs.py holds every upstream template to that.
"""

from __future__ import annotations

import math
import re
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else _string(k)


def _string(s: str) -> str:
    if "'" not in s and "\n" not in s and all(c >= " " or c == "\t" for c in s):
        return f"'{s}'"  # literal string: what upstream's templates use
    escaped = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    escaped = "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"not a finite float: {v!r}")
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[ " + ", ".join(_value(x) for x in v) + " ]" if v else "[]"
    raise TypeError(f"cannot write {type(v).__name__} as a TOML value")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _table(doc: dict[str, Any], path: list[str], out: list[str]) -> None:
    for k, v in doc.items():
        if not isinstance(v, dict) and not _is_table_array(v):
            out.append(f"{_key(k)} = {_value(v)}")
    for k, v in doc.items():
        sub = [*path, _key(k)]
        if isinstance(v, dict):
            plain = any(not isinstance(x, dict) and not _is_table_array(x) for x in v.values())
            if plain or not v:
                out.append("")
                out.append(f"[{'.'.join(sub)}]")
            _table(v, sub, out)
        elif _is_table_array(v):
            for element in v:
                out.append("")
                out.append(f"[[{'.'.join(sub)}]]")
                _table(element, sub, out)


def dumps(doc: dict[str, Any]) -> str:
    out: list[str] = []
    _table(doc, [], out)
    return "\n".join(out).lstrip("\n") + "\n"
