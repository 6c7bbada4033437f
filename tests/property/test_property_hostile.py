"""Property tests over hostile input: each class is refused with a finding, never accepted, hung or crashed.

- P_Keys: ffinfra accepts exactly the keys with which OpenSM builds the partitions the spec asks for (modelled below
  on OpenSM's own partition code), and refuses every other combination.
- Numbers that are not finite, anywhere in the spec: refused at the field that holds them.
- Hostlists: counted without being expanded; refused over the limit, whatever their shape.
- Nesting: any depth is either read or refused as FF-YAML-001, never a RecursionError.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from spec_paths import yaml_paths

from ffinfra.checks.fabric import partition_keys
from ffinfra.spec import hostlist
from ffinfra.spec.load import MAX_DEPTH, SpecSyntaxError, load_yaml_text
from ffinfra.spec.models import ClusterSpec
from ffinfra.spec.schema_errors import findings_from_validation_error

LAB = yaml.safe_load((Path(__file__).resolve().parents[2] / "stacks" / "lab" / "cluster.yaml").read_text())
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------------------------------------- P_Keys


def opensm_partitions(default: int, compute: int, storage: int) -> list[tuple[str, int]]:
    """The partitions OpenSM ends with for our partitions.conf: (name, 15-bit key), in creation order.

    A model of linux-rdma/opensm osm_prtn.c: the default partition is made first with 0x7fff; then each line's key
    loses its membership bit, a key of 0 gets a generated one, and a key already in the table merges into it.
    """
    table: dict[int, str] = {0x7FFF: "Default"}
    generated = 0
    for name, pkey in (("Default", default), ("compute", compute), ("storage", storage)):
        key = pkey & 0x7FFF
        if key == 0:  # generate_pkey(): the next free key counting up from 1
            generated += 1
            while generated in table:
                generated += 1
            key = generated
        table.setdefault(key, name)
    return sorted(((n, k) for k, n in table.items()), key=lambda nk: ["Default", "compute", "storage"].index(nk[0]))


def as_intended(default: int, compute: int, storage: int) -> bool:
    """OpenSM makes three partitions with the keys configured, the default one 0x7fff."""
    return (
        opensm_partitions(default, compute, storage)
        == [
            ("Default", 0x7FFF),
            ("compute", compute & 0x7FFF),
            ("storage", storage & 0x7FFF),
        ]
        and default & 0x7FFF == 0x7FFF
    )


PKEY = st.integers(0, 0xFFFF) | st.sampled_from([0x0000, 0x8000, 0x7FFF, 0xFFFF, 0x0010, 0x8010, 0x0020])


@SETTINGS
@given(PKEY, PKEY, PKEY)
def test_pkeys_are_accepted_exactly_when_opensm_builds_what_the_spec_says(default: int, compute: int, storage: int):
    data = copy.deepcopy(LAB)
    data["fabric"]["partitions"] = {
        "default_pkey": f"0x{default:04x}",
        "compute_pkey": f"0x{compute:04x}",
        "storage_pkey": f"0x{storage:04x}",
    }
    spec = ClusterSpec.model_validate(data)
    found = list(partition_keys(SimpleNamespace(spec=spec)))
    assert {f.code for f in found} <= {"FF-NET-022", "FF-NET-023"}
    assert all(f.is_blocking and f.path[:2] == ("fabric", "partitions") for f in found)
    assert (found == []) is as_intended(default, compute, storage), [f.message for f in found]


def test_the_opensm_model_merges_and_generates_as_opensm_does() -> None:
    assert opensm_partitions(0x7FFF, 0x0010, 0x0020) == [("Default", 0x7FFF), ("compute", 0x10), ("storage", 0x20)]
    assert opensm_partitions(0x7FFF, 0x0010, 0x8010) == [("Default", 0x7FFF), ("compute", 0x10)]  # merged
    assert opensm_partitions(0x7FFF, 0x0000, 0x0020) == [("Default", 0x7FFF), ("compute", 0x1), ("storage", 0x20)]
    assert opensm_partitions(0xFFFF, 0x7FFF, 0x0020) == [("Default", 0x7FFF), ("storage", 0x20)]


# -------------------------------------------------------------------------------------------- numbers not finite

NOT_FINITE = st.sampled_from([math.inf, -math.inf, math.nan])
NOT_FINITE_TEXT = st.sampled_from(["inf", "-inf", "nan", "NaN", "Infinity", "1e999", "-1e999", "1.5e400"])


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        data = data[p]
    return data


LAB_PATHS = yaml_paths(LAB)
NUMERIC_PATHS = [p for p in LAB_PATHS if type(_get(LAB, p)) in (int, float)]  # bool is an int, but not a number


def _refused_at(data: dict[str, Any], path: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        ClusterSpec.model_validate(data)
    found = findings_from_validation_error(ClusterSpec, data, info.value)
    assert path in [f.path for f in found], [f.format() for f in found]


@SETTINGS
@given(st.sampled_from(LAB_PATHS), NOT_FINITE)
def test_a_float_that_is_not_finite_is_refused_wherever_it_lands(path: tuple[Any, ...], value: float) -> None:
    """A float has no place in a string, a choice or a section either: every path refuses inf and nan."""
    data = copy.deepcopy(LAB)
    _get(data, path[:-1])[path[-1]] = value
    _refused_at(data, path)


@SETTINGS
@given(st.sampled_from(NUMERIC_PATHS), NOT_FINITE_TEXT)
def test_a_number_written_as_infinite_text_is_refused_where_a_number_belongs(path: tuple[Any, ...], text: str):
    assert len(NUMERIC_PATHS) > 10
    data = copy.deepcopy(LAB)
    _get(data, path[:-1])[path[-1]] = text
    _refused_at(data, path)


# ------------------------------------------------------------------------------------------------------- hostlists


@st.composite
def expressions(draw: st.DrawFn, big: bool) -> str:
    """Hostlist expressions of up to 3 comma-separated parts, each up to 3 bracketed range sets."""
    top = 10**12 if big else 40
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        part = draw(st.from_regex(r"[a-z]{1,3}", fullmatch=True))
        for _ in range(draw(st.integers(0, 3))):
            ranges = []
            for _ in range(draw(st.integers(1, 2))):
                lo = draw(st.integers(0, top))
                hi = draw(st.integers(lo, lo + top))
                ranges.append(str(lo) if lo == hi else f"{lo}-{hi}")
            part += "[" + ",".join(ranges) + "]" + draw(st.from_regex(r"[a-z]{0,2}", fullmatch=True))
        parts.append(part)
    return ",".join(parts)


@settings(max_examples=100, deadline=None)
@given(expressions(big=False))
def test_count_is_the_length_of_the_expansion(expr: str) -> None:
    assume(hostlist.count(expr) <= hostlist.MAX_HOSTS)
    assert len(hostlist.expand(expr)) == hostlist.count(expr)


@settings(max_examples=100, deadline=None)
@given(expressions(big=True))
def test_any_size_is_counted_and_refused_over_the_limit_before_expansion(expr: str) -> None:
    """Up to (10^12)^9 names: if anything expanded them before refusing, this test would never end."""
    n = hostlist.count(expr)
    if n > hostlist.MAX_HOSTS:
        with pytest.raises(hostlist.HostlistTooLarge) as info:
            hostlist.expand(expr)
        assert info.value.count == n
        data = copy.deepcopy(LAB)
        data["nodes"]["compute"]["hostnames"] = expr
        with pytest.raises(ValidationError) as err:
            ClusterSpec.model_validate(data)
        (f,) = findings_from_validation_error(ClusterSpec, data, err.value)
        assert (f.code, f.path) == ("FF-NODE-011", ("nodes", "compute", "hostnames"))
        assert f"more than the {hostlist.MAX_HOSTS:,}" in f.message


# ---------------------------------------------------------------------------------------------------------- nesting

OPEN_CLOSE = {"seq": ("[", "]"), "map": ("{k: ", "}")}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(sorted(OPEN_CLOSE)), min_size=1, max_size=3 * MAX_DEPTH))
def test_any_nesting_is_read_or_refused_as_yaml_never_a_recursion_error(kinds: list[str]) -> None:
    text = "a: " + "".join(OPEN_CLOSE[k][0] for k in kinds) + "1" + "".join(OPEN_CLOSE[k][1] for k in kinds[::-1])
    if len(kinds) + 1 < MAX_DEPTH:  # the root mapping is one level
        load_yaml_text(text + "\n", "c.yaml")
    else:
        with pytest.raises(SpecSyntaxError, match=f"nests more than {MAX_DEPTH} levels deep"):
            load_yaml_text(text + "\n", "c.yaml")
