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
    def __init__(self, location: Location, message: str, hint: str = ""):
        self.location = location
        self.hint = hint
        super().__init__(f"{location}: error[FF-YAML-001] {message}" + (f"\n  hint: {hint}" if hint else ""))


# Limits on hostile input, each checked before the work it bounds, so a bad file is refused in well under a second.
MAX_BYTES = 256 * 1024  # ff2 (1,400 nodes) is 6 KB; PyYAML reads about 200 KB/s of dense YAML
MAX_DEPTH = 32  # the schema's deepest key (hardware.<p>.gpus.nvlink_pairs[i][j]) is 7 levels down
MAX_NODES = 100_000  # a 100k-GPU spec has a few hundred (hostlists keep specs short); 100k take ~0.3 s to walk
_SHORTER = "hostlists keep a spec short (gpu[0001-1250]); per-node facts belong in the inventory CSV"


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark):
        self.mark = mark


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (plain YAML silently keeps the last one) and deep nesting."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        # PyYAML composes recursively, three Python frames a level: `a: [[[[…` 400 deep ends in a RecursionError.
        if self.depth >= MAX_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _too_deep(loc: Location) -> SpecSyntaxError:
    hint = "spec keys lie a handful of levels deep: look for runaway brackets, or anchors nested in anchors"
    return SpecSyntaxError(loc, f"the spec nests more than {MAX_DEPTH} levels deep", hint)


def _walk(node: yaml.Node, path: Path_, lm: LineMap, active: frozenset[int] = frozenset()) -> Any:
    lm.marks[path] = Location(lm.file, node.start_mark.line + 1, node.start_mark.column + 1)
    if len(lm.marks) > MAX_NODES:  # aliases of aliases ("billion laughs") multiply a few lines into billions
        raise SpecSyntaxError(
            _loc(lm, node), f"the spec expands to more than {MAX_NODES:,} YAML nodes", f"{_SHORTER}; avoid aliases"
        )
    if len(path) >= MAX_DEPTH:  # aliases can nest anchors inside anchors deeper than the text does
        raise _too_deep(_loc(lm, node))
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        if id(node) in active:  # `a: &x [*x]`: an alias inside its own anchor would recurse forever
            raise SpecSyntaxError(_loc(lm, node), "recursive YAML alias")
        active = active | {id(node)}
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise SpecSyntaxError(_loc(lm, key_node), "YAML merge keys (<<) are not supported; write the keys out")
            key = _scalar(key_node, lm)
            if not isinstance(key, str | int):
                raise SpecSyntaxError(_loc(lm, key_node), "mapping keys must be strings")
            key = str(key)
            if key in out:
                raise SpecSyntaxError(_loc(lm, key_node), f"duplicate key '{key}'")
            out[key] = _walk(value_node, (*path, key), lm, active)
            # point the key itself (not its value) so errors land on the line a person reads
            lm.marks[(*path, key)] = _loc(lm, key_node)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, (*path, i), lm, active) for i, item in enumerate(node.value)]
    return _scalar(node, lm)


def _scalar(node: yaml.Node, lm: LineMap) -> Any:
    # Construction can fail on well-formed YAML: unknown tags (!foo), `!!int abc`, dates such as 2024-13-45.
    try:
        return _loader().construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
        problem = exc.problem if isinstance(exc, yaml.MarkedYAMLError) and exc.problem else str(exc)
        raise SpecSyntaxError(_loc(lm, node), f"YAML value: {problem}") from None


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
    except _TooDeep as exc:
        raise _too_deep(Location(file, exc.mark.line + 1, exc.mark.column + 1)) from None
    except yaml.reader.ReaderError:  # a control character; it carries no line, so find it
        m = yaml.reader.Reader.NON_PRINTABLE.search(text)
        i = m.start() if m else 0
        loc = Location(file, text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1)
        raise SpecSyntaxError(loc, f"YAML syntax: character #x{ord(text[i]):04x} is not allowed") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        raise SpecSyntaxError(loc, f"YAML syntax: {exc.problem or exc}") from None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == "tag:yaml.org,2002:null"):
        raise SpecSyntaxError(Location(file, 1, 1), "the spec is empty")  # also a lone `---` or `~`
    try:
        return _walk(root, (), lm), lm
    finally:
        _loader().constructed_objects.clear()  # the shared loader caches every node it built: drop them


def load_yaml(path: Path, display: str | None = None) -> tuple[Any, LineMap]:
    file = display or str(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)  # never more: a multi-gigabyte file is refused without reading it all
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise SpecSyntaxError(Location(file, 1, 1), f"the spec is larger than {MAX_BYTES // 1024} KiB", _SHORTER)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raw = exc.object[: exc.start]
        loc = Location(file, raw.count(b"\n") + 1, exc.start - (raw.rfind(b"\n") + 1) + 1)
        raise SpecSyntaxError(loc, f"not UTF-8 text: byte 0x{exc.object[exc.start]:02x}") from None
    # the universal newlines that Path.read_text applied, so lines count the same whatever the file's line ends
    return load_yaml_text(text.replace("\r\n", "\n").replace("\r", "\n"), file)
