"""The YAML loader: plain data plus a LineMap of where each key and item was written; syntax errors located."""

from __future__ import annotations

import random
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from ffinfra.errors import UserError
from ffinfra.spec.load import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    LineMap,
    Location,
    SpecSyntaxError,
    load_yaml,
    load_yaml_text,
)
from ffinfra.spec.models import ClusterSpec

SPEC = """\
# a comment
name: demo
fabric:
  radix: 40
  zones:
    - name: z0
      spines: 20
    - {name: z1, leaves: 4}
hosts: [a, b]
"""


def test_data_and_line_map() -> None:
    data, lm = load_yaml_text(SPEC, "c.yaml")
    assert data == {
        "name": "demo",
        "fabric": {"radix": 40, "zones": [{"name": "z0", "spines": 20}, {"name": "z1", "leaves": 4}]},
        "hosts": ["a", "b"],
    }
    assert lm.marks[()] == Location("c.yaml", 2, 1)  # the root mapping starts at its first key
    assert lm.locate(("fabric",)) == Location("c.yaml", 3, 1)
    assert lm.locate(("fabric", "radix")) == Location("c.yaml", 4, 3)
    assert lm.locate(("fabric", "zones", 0)) == Location("c.yaml", 6, 7)  # the item, after "- "
    assert lm.locate(("fabric", "zones", 0, "spines")) == Location("c.yaml", 7, 7)
    assert lm.locate(("fabric", "zones", 1)) == Location("c.yaml", 8, 7)  # the "{" of a flow mapping
    assert lm.locate(("fabric", "zones", 1, "leaves")) == Location("c.yaml", 8, 18)  # a key inside a flow mapping
    assert lm.locate(("hosts", 1)) == Location("c.yaml", 9, 12)


def test_locate_falls_back_to_the_nearest_written_ancestor() -> None:
    _, lm = load_yaml_text(SPEC, "c.yaml")
    assert lm.locate(("fabric", "zones", 0, "leaves")) == Location("c.yaml", 6, 7)
    assert lm.locate(("fabric", "nope", "deeper")) == Location("c.yaml", 3, 1)
    assert lm.locate(("nowhere",)) == Location("c.yaml", 2, 1)
    assert LineMap("x.yaml").locate(("a",)) == Location("x.yaml", 1, 1)


def test_location_str() -> None:
    assert str(Location("stacks/lab/cluster.yaml", 12, 5)) == "stacks/lab/cluster.yaml:12:5"


def _syntax_error(text: str) -> SpecSyntaxError:
    with pytest.raises(SpecSyntaxError) as info:
        load_yaml_text(text, "c.yaml")
    assert isinstance(info.value, UserError)
    assert "error[FF-YAML-001]" in str(info.value)
    return info.value


def test_duplicate_key_is_an_error_at_the_second_key() -> None:
    err = _syntax_error("fabric:\n  radix: 40\n  zones: []\n  radix: 36\n")
    assert err.location == Location("c.yaml", 4, 3)
    assert "duplicate key 'radix'" in str(err)
    assert str(err).startswith("c.yaml:4:3: error[FF-YAML-001]")


def test_duplicate_key_counts_int_and_string_spellings_as_one() -> None:
    err = _syntax_error("a:\n  1: x\n  '1': y\n")
    assert err.location == Location("c.yaml", 3, 3)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "~\n"])
def test_empty_file(text: str) -> None:
    err = _syntax_error(text)
    assert err.location == Location("c.yaml", 1, 1)
    assert "empty" in str(err)


@pytest.mark.parametrize(
    ("text", "line", "col", "needle"),
    [
        ("fabric:\n  radix: 4\n   zones: x\n", 3, 9, "mapping values are not allowed"),
        ("a: [1, 2\nb: 3\n", 2, 2, "expected ',' or ']'"),
        ("a: 1\n---\nb: 2\n", 2, 1, "another document"),
        ("a:\n\tb: 1\n", 2, 1, "cannot start any token"),
    ],
)
def test_syntax_error_location(text: str, line: int, col: int, needle: str) -> None:
    err = _syntax_error(text)
    assert (err.location.line, err.location.col) == (line, col)
    assert needle in str(err)


@pytest.mark.parametrize(
    ("text", "line", "col", "needle"),
    [
        ("base: &b {x: 1}\nother:\n  <<: *b\n", 3, 3, "merge keys"),
        ("a:\n  [1, 2]: x\n", 2, 3, "keys must be strings"),
        ("a:\n  ~: x\n", 2, 3, "keys must be strings"),
        ("a:\n  when: 2024-13-45\n", 2, 9, "month must be in"),  # well-formed YAML, impossible date
        ("a:\n  n: !!int abc\n", 2, 6, "invalid literal"),
        ("a:\n  n: !custom x\n", 2, 6, "could not determine a constructor"),
        ("a: &x [1, *x]\n", 1, 4, "recursive YAML alias"),
        ("a: &x {b: *x}\n", 1, 4, "recursive YAML alias"),
    ],
)
def test_yaml_that_is_not_plain_data_is_refused_at_its_line(text: str, line: int, col: int, needle: str) -> None:
    err = _syntax_error(text)
    assert (err.location.line, err.location.col) == (line, col)
    assert needle in str(err)


def test_aliases_to_plain_data_are_fine() -> None:
    data, lm = load_yaml_text("a: &x [1, 2]\nb: *x\n", "c.yaml")
    assert data == {"a": [1, 2], "b": [1, 2]}
    assert lm.locate(("b",)) == Location("c.yaml", 2, 1)


def test_load_yaml_reads_a_file_and_names_it_as_displayed(tmp_path: Path) -> None:
    p = tmp_path / "cluster.yaml"
    p.write_text("name: x\nfabric:\n  radix: 8\n")
    data, lm = load_yaml(p, "stacks/x/cluster.yaml")
    assert data == {"name": "x", "fabric": {"radix": 8}}
    assert str(lm.locate(("fabric", "radix"))) == "stacks/x/cluster.yaml:3:3"


def test_load_yaml_of_a_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot read"):
        load_yaml(tmp_path / "nope.yaml")


def test_alias_bombs_are_refused_not_expanded() -> None:
    text = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    prev = "a"
    for name in "bcdefghi":  # 9^9 nodes once expanded
        text += f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n"
        prev = name
    err = _syntax_error(text)
    assert "more than" in str(err)


# ------------------------------------------------------------------------------------------------- hostile files
# Each is refused with a located FF-YAML-001 and a hint, never a RecursionError (which `ffinfra` would report as an
# internal error, exit 70), and each bound is checked before the work it bounds.


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 5000 + "]" * 5000 + "\n",  # flow sequences, the example
        "a: " + "{b: " * 5000 + "1" + "}" * 5000 + "\n",  # flow mappings
        "".join("  " * i + f"k{i}:\n" for i in range(400)) + "  " * 400 + "v: 1\n",  # block mappings
        "a:\n" + "".join("  " * i + "-\n" for i in range(1, 400)) + "  " * 400 + "- 1\n",  # block sequences
    ],
    ids=["flow-seq", "flow-map", "block-map", "block-seq"],
)
def test_deep_nesting_is_refused_where_it_passes_the_limit(text: str) -> None:
    err = _syntax_error(text)
    assert f"nests more than {MAX_DEPTH} levels deep" in str(err)
    assert "\n  hint: " in str(err)
    assert err.location.line <= MAX_DEPTH + 1  # where the limit was passed, not the end of the file


def _depth(data: object) -> int:
    children = data.values() if isinstance(data, dict) else data if isinstance(data, list) else None
    return 0 if children is None else 1 + max((_depth(c) for c in children), default=0)


def test_nesting_up_to_the_limit_is_fine() -> None:
    inner = MAX_DEPTH - 1  # the root mapping is the first level
    data, _ = load_yaml_text("a: " + "[" * inner + "]" * inner + "\n", "c.yaml")
    assert _depth(data) == MAX_DEPTH


def test_anchors_nested_in_anchors_cannot_build_deep_data() -> None:
    """Each anchor is shallow, but expanding the aliases would nest 8 × 8 = 64 levels."""
    text = "a0: &a0 [[[[[[[[1]]]]]]]]\n"
    for i in range(1, 8):
        text += f"a{i}: &a{i} [[[[[[[[*a{i - 1}]]]]]]]]\n"
    err = _syntax_error(text)
    assert "levels deep" in str(err)


def test_a_file_over_the_size_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    p = tmp_path / "cluster.yaml"
    with p.open("wb") as f:
        f.truncate(8 * 1024**3)  # 8 GiB, sparse: reading it all would take minutes and the memory
    with pytest.raises(SpecSyntaxError) as info:
        load_yaml(p, "stacks/x/cluster.yaml")
    assert str(info.value).startswith(
        f"stacks/x/cluster.yaml:1:1: error[FF-YAML-001] the spec is larger than {MAX_BYTES // 1024} KiB"
    )
    assert "hint: hostlists keep a spec short" in str(info.value)


def test_a_file_at_the_size_limit_is_read(tmp_path: Path) -> None:
    p = tmp_path / "cluster.yaml"
    body = "name: x\n"
    p.write_text(body + "#" * (MAX_BYTES - len(body) - 1) + "\n")
    assert load_yaml(p)[0] == {"name": "x"}


@pytest.mark.parametrize("seed", range(5))
def test_binary_garbage_is_a_located_user_error(tmp_path: Path, seed: int) -> None:
    p = tmp_path / "cluster.yaml"
    p.write_bytes(random.Random(seed).randbytes(4096))
    with pytest.raises(SpecSyntaxError, match=r"error\[FF-YAML-001\] not UTF-8 text: byte 0x"):
        load_yaml(p)


def test_windows_line_ends_count_lines_as_the_editor_shows_them(tmp_path: Path) -> None:
    p = tmp_path / "cluster.yaml"
    p.write_bytes(b"name: x\r\nfabric:\r\n  radix: 8\r\n  radix: 9\r\n")
    with pytest.raises(SpecSyntaxError) as info:
        load_yaml(p)
    assert (info.value.location.line, info.value.location.col) == (4, 3)


def test_a_wide_alias_bomb_stops_at_the_node_limit_with_a_hint() -> None:
    text = "a: &a [" + ", ".join(["x"] * 1000) + "]\nb: &b [" + ", ".join(["*a"] * 1000) + "]\n"  # 10^6 nodes
    err = _syntax_error(text)
    assert f"more than {MAX_NODES:,} YAML nodes" in str(err) and "avoid aliases" in str(err)
    assert err.location.line == 1  # inside the anchored list the aliases repeat


def _schema_depth(tp: object) -> int:
    """YAML nodes on the longest path from a value of type `tp` down to a scalar, both ends counted (as the loader
    counts: a model, list or dict is one node, a scalar another)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return 1 + max(_schema_depth(f.annotation) for f in tp.model_fields.values())
    if origin in (list, tuple, dict):
        return 1 + max((_schema_depth(a) for a in args if a is not Ellipsis), default=1)
    if origin is None or origin is typing.Literal:
        return 1
    return max(_schema_depth(a) for a in args)  # Optional, Union, Annotated: no node of their own


def test_the_depth_limit_is_far_above_the_deepest_spec_key() -> None:
    """hardware.<profile>.gpus.nvlink_pairs[i][j]: root, hardware, profile, gpus, the list, a pair, a number."""
    assert _schema_depth(ClusterSpec) == 7
    assert 4 * _schema_depth(ClusterSpec) <= MAX_DEPTH
