"""A bad spec ends as SpecInvalid (or another UserError) with located findings, never as a Python traceback."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from ffinfra.compile import compile_stack
from ffinfra.errors import SpecInvalid, UserError
from ffinfra.stack import find_stack


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and list index path of the spec, parents before children."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(data)
    cur = out
    for p in path[:-1]:
        cur = cur[p]
    if value is _DELETE:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return out


_DELETE = object()
# ... and numbers that are not finite: floats YAML writes as .inf/.nan, and a string pydantic would read as inf
MUTATIONS = [_DELETE, None, "x", -1, 10**9, [], {"x": 1}, float("inf"), float("nan"), "1e999"]


def _compile_must_not_crash(tmp_path, data_or_text: Any) -> None:
    folder = tmp_path / "s"
    folder.mkdir(exist_ok=True)
    text = data_or_text if isinstance(data_or_text, str) else yaml.safe_dump(data_or_text, sort_keys=False)
    (folder / "cluster.yaml").write_text(text)
    try:
        compile_stack(find_stack(str(folder / "cluster.yaml")))
    except SpecInvalid as exc:
        assert exc.findings, "SpecInvalid without findings"
        assert all(f.location is not None for f in exc.findings)
    except UserError:
        pass


def test_every_single_field_mutation_of_the_lab_spec_is_a_user_error(tmp_path, lab_dict) -> None:
    paths = list(_paths(lab_dict))
    assert len(paths) > 50
    for path in paths:
        for value in MUTATIONS:
            try:
                _compile_must_not_crash(tmp_path, _set(lab_dict, path, value))
            except Exception as exc:  # pragma: no cover - the message names the mutation
                raise AssertionError(f"setting {path} to {value!r} crashed: {exc!r}") from exc


@pytest.mark.parametrize(
    "text",
    [
        "",
        "::",
        "[",
        "- 1\n",
        "null\n",
        "name: [\n",
        "{",
        "\x00",
        "name: lab\nname: lab\n",
        "a: &x [*x]\n",
        "name: !!python/object:os.system echo\n",
        "nodes: {a: {role: compute, hostnames: 'n[1-99999999999]', profile: p}}\n",
        "name: a\u0007b\n",
        # hostile: deep nesting (a RecursionError before), alias bombs, anchors nested deeper than the text
        "a: " + "[" * 5000 + "]" * 5000 + "\n",
        "a: " + "{b: " * 3000 + "1" + "}" * 3000 + "\n",
        "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v: 1\n",
        "a: &a ["
        + ", ".join(["x"] * 1000)
        + "]\nb: &b ["
        + ", ".join(["*a"] * 1000)
        + "]\nc: ["
        + ", ".join(["*b"] * 1000)
        + "]\n",
        "a0: &a0 [[[[[[[[1]]]]]]]]\n" + "".join(f"a{i}: &a{i} [[[[[[[[*a{i - 1}]]]]]]]]\n" for i in range(1, 9)),
        "a: " + "9" * 5000 + "\n",  # an integer past Python's 4300-digit conversion limit
        "name: .inf\nversion: .nan\n",
        "nodes: {a: {role: compute, hostnames: 'n[0000001-9999999]', profile: p}}\n",
        "nodes: {a: {role: compute, hostnames: 'r[1-99999]n[1-99999]s[1-99999]', profile: p}}\n",
    ],
)
def test_malformed_files_are_user_errors(tmp_path, text: str) -> None:
    _compile_must_not_crash(tmp_path, text)


def test_absurd_sizes_in_a_real_spec_are_findings_at_the_hostnames_line(tmp_path, lab_dict) -> None:
    for group in ("compute", "storage"):
        lab_dict["nodes"][group]["hostnames"] = f"{group}[000001-060000]"  # each fits; together they do not
    lab_dict["nodes"]["controller"]["hostnames"] = "ctl[0000001-9999999]"
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "cluster.yaml").write_text(yaml.safe_dump(lab_dict, sort_keys=False))
    with pytest.raises(SpecInvalid) as info:
        compile_stack(find_stack(str(folder / "cluster.yaml")))
    found = [(f.code, f.path) for f in info.value.findings if f.code != "FF-SPEC-002"]
    # the controller's own hostlist is over the limit; the total is not checked until each group is valid
    assert found == [("FF-NODE-011", ("nodes", "controller", "hostnames"))]


def test_a_huge_spec_file_is_refused_before_it_is_read(tmp_path) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    with (folder / "cluster.yaml").open("wb") as f:
        f.truncate(16 * 1024**3)  # sparse: reading 16 GiB would take minutes and the memory
    with pytest.raises(UserError, match=r"cluster.yaml:1:1: error\[FF-YAML-001\] the spec is larger than 256 KiB"):
        compile_stack(find_stack(str(folder / "cluster.yaml")))


@pytest.mark.parametrize("seed", range(8))
def test_binary_garbage_is_a_user_error(tmp_path, seed: int) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "cluster.yaml").write_bytes(random.Random(seed).randbytes(2048))
    with pytest.raises(UserError, match=r"error\[FF-YAML-001\]"):
        compile_stack(find_stack(str(folder / "cluster.yaml")))


@pytest.mark.parametrize(
    "edit",
    [
        {"fabric": {"radix": 256, "oversubscription": 16.0, "zones": [{"name": "z0"}]}},
        {"fabric": {"radix": 4, "leaf_uplinks": 1000, "zones": [{"name": "z0", "spines": 1000, "leaves": 1000}]}},
        {"fabric": {"radix": 4, "zones": [{"name": "z0", "spines": 1, "leaves": 1}]}},
        {
            "fabric": {
                "radix": 4,
                "design": "single-subnet",
                "inter_zone": {"links": 1000},
                "zones": [{"name": "a"}, {"name": "b"}],
            }
        },
        {"fabric": {"radix": 4, "zones": [{"name": f"z{i}"} for i in range(9)]}},
        {"network": {"management": {"cidr": "10.0.0.0/32"}, "ipoib": {"cidr": "fd00::/126"}}},
        {"network": {"management": {"cidr": "10.0.0.0/24", "first_host": 100000}}},
        {"nodes": {"a": {"role": "storage", "hostnames": "", "profile": "lab-node"}}},
        {"storage": {"ratio": {"compute_per_storage": 1e-9}}},
        {"storage": {"ratio": {"bandwidth_fraction": 4}}},
    ],
)
def test_extreme_sections_are_user_errors(tmp_path, lab_dict, edit: dict[str, Any]) -> None:
    _compile_must_not_crash(tmp_path, {**lab_dict, **edit})


def test_a_file_that_is_not_utf8_is_a_user_error(tmp_path, stack_text) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "cluster.yaml").write_bytes(stack_text("lab").encode().replace(b"lab-x86_64", b"lab-\xff"))
    with pytest.raises(UserError, match=r"cluster.yaml:11:\d+: error\[FF-YAML-001\] not UTF-8"):
        compile_stack(find_stack(str(folder / "cluster.yaml")))


def test_an_inventory_that_is_not_utf8_is_ff_inv_001(tmp_path, stack_text) -> None:
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "cluster.yaml").write_text(stack_text("lab") + "inventory: {csv: nodes.csv}\n")
    (folder / "nodes.csv").write_bytes(b"hostname,serial\ncn01,\xff\n")
    with pytest.raises(SpecInvalid) as info:
        compile_stack(find_stack(str(folder / "cluster.yaml")))
    (f,) = [f for f in info.value.findings if f.code != "FF-SPEC-002"]  # the lab's notes on 3FS fields aside
    assert (f.code, f.location.line, f.location.col) == ("FF-INV-001", 2, 6)
    assert f.location.file.endswith("nodes.csv")
