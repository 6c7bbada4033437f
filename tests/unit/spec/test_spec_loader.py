"""The YAML loader: plain data plus a LineMap of where each key and item was written; syntax errors located."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffinfra.errors import UserError
from ffinfra.spec.load import LineMap, Location, SpecSyntaxError, load_yaml, load_yaml_text

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
