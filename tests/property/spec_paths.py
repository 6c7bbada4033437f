"""Every path into plain YAML data (dict keys and list indices), for tests that poke one value anywhere."""

from __future__ import annotations

from typing import Any


def yaml_paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for k, v in items:
        out.append((*prefix, k))
        out.extend(yaml_paths(v, (*prefix, k)))
    return out
