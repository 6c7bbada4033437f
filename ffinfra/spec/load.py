"""YAML → plain data plus a LineMap that knows where every key and item came from.

No semantics here: models.py gives the data its shape, checks/ give it meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ffinfra.errors import UserError

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class LineMap:
    """Maps a spec path such as ('fabric', 'zones', 0, 'spines') to where it was written."""

    file: str
    marks: dict[Path_, Location] = field(default_factory=dict)

    def locate(self, path: Path_) -> Location:
        # Fall back to the nearest written ancestor: a missing key is reported where its parent is.
        p = tuple(path)
        while p:
            if p in self.marks:
                return self.marks[p]
            p = p[:-1]
        return self.marks.get((), Location(self.file, 1, 1))


class SpecSyntaxError(UserError):
    def __init__(self, location: Location, message: str):
        self.location = location
        super().__init__(f"{location}: error[FF-YAML-001] {message}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (plain YAML silently keeps the last one)."""


def _walk(node: yaml.Node, path: Path_, lm: LineMap) -> Any:
    lm.marks[path] = Location(lm.file, node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise SpecSyntaxError(_loc(lm, key_node), "YAML merge keys (<<) are not supported; write the keys out")
            key = _UniqueKeyLoader.construct_object(_loader(), key_node)  # scalars only
            if not isinstance(key, str | int):
                raise SpecSyntaxError(_loc(lm, key_node), "mapping keys must be strings")
            key = str(key)
            if key in out:
                raise SpecSyntaxError(_loc(lm, key_node), f"duplicate key '{key}'")
            out[key] = _walk(value_node, (*path, key), lm)
            # point the key itself (not its value) so errors land on the line a person reads
            lm.marks[(*path, key)] = _loc(lm, key_node)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, (*path, i), lm) for i, item in enumerate(node.value)]
    return _loader().construct_object(node)


_LOADER_SINGLETON: list[yaml.SafeLoader] = []


def _loader() -> yaml.SafeLoader:
    # Scalar construction needs a loader instance; its stream is never read.
    if not _LOADER_SINGLETON:
        _LOADER_SINGLETON.append(_UniqueKeyLoader(""))
    return _LOADER_SINGLETON[0]


def _loc(lm: LineMap, node: yaml.Node) -> Location:
    return Location(lm.file, node.start_mark.line + 1, node.start_mark.column + 1)


def load_yaml_text(text: str, file: str) -> tuple[Any, LineMap]:
    lm = LineMap(file)
    try:
        root = yaml.compose(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        raise SpecSyntaxError(loc, f"YAML syntax: {exc.problem or exc}") from None
    if root is None:
        raise SpecSyntaxError(Location(file, 1, 1), "the spec is empty")
    return _walk(root, (), lm), lm


def load_yaml(path: Path, display: str | None = None) -> tuple[Any, LineMap]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    return load_yaml_text(text, display or str(path))
