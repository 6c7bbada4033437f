"""Every spec field has an update policy, and every policy in the table can fire.

The walk mirrors what ffinfra.plan.spec_diff can report: a scalar (or a list of scalars, read whole) at its own
path; an optional model at its own path (set ↔ unset) and below it; a dict entry at `dict.*`; a list item at
`list.*` (by name or by index). A required model or a dict as a whole is never reported at its own path, so it
needs no policy of its own. `*` in a walked path is replaced by concrete sample keys before asking policy_for.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from ffinfra.plan.policy import _TABLE, _regex, dotted, patterns, policy_for
from ffinfra.spec.models import ClusterSpec

Walked = tuple[str, ...]  # "*" for a dict key or a list item


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """(the type without None, whether None was allowed)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        if len(args) == 1:
            return args[0], optional
        return typing.Union[tuple(args)], optional  # noqa: UP007  (a runtime union of several scalars)
    return tp, False


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _scalar(tp: Any) -> bool:
    """A type the diff compares as one value: str, int, float, bool, a Literal, or a union of those."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return True
    if origin in (typing.Union, types.UnionType):
        return all(_scalar(a) for a in typing.get_args(tp))
    return tp in (str, int, float, bool)


def _walk_type(tp: Any, path: Walked, out: set[Walked], reported_here: bool) -> None:
    tp, optional = _unwrap(tp)
    origin = typing.get_origin(tp)
    if _is_model(tp):
        if reported_here or optional:
            out.add(path)  # set ↔ unset, or an entry/item added or removed
        _walk_model(tp, path, out)
    elif origin is dict:
        _, value = typing.get_args(tp)
        if reported_here or optional:
            out.add(path)
        _walk_type(value, (*path, "*"), out, reported_here=True)
    elif origin in (list, tuple):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if all(_scalar(a) for a in args):
            out.add(path)  # a list of scalars is read whole
        else:
            if reported_here or optional:
                out.add(path)
            (item,) = set(args)
            _walk_type(item, (*path, "*"), out, reported_here=True)
    else:
        assert _scalar(tp), f"{dotted(path)}: type {tp!r} is not handled by this walk"
        out.add(path)


def _walk_model(model: type[BaseModel], path: Walked, out: set[Walked]) -> None:
    for name, info in model.model_fields.items():
        _walk_type(info.annotation, (*path, name), out, reported_here=False)


def reportable_paths() -> set[Walked]:
    out: set[Walked] = set()
    _walk_model(ClusterSpec, (), out)
    return out


def concrete(path: Walked, key: str | int = "p") -> tuple[str | int, ...]:
    return tuple(key if seg == "*" else seg for seg in path)


PATHS = sorted(reportable_paths())


def test_the_walk_sees_the_whole_spec():
    dotted_paths = {".".join(p) for p in PATHS}
    # a few landmarks at every depth, so a broken walk cannot pass by seeing nothing
    assert {
        "name",
        "hardware.*",
        "hardware.*.cpu.sockets",
        "hardware.*.gpus",
        "hardware.*.gpus.nvlink_pairs.*",
        "hardware.*.nics.*",
        "hardware.*.nics.*.numa",
        "nodes.*.ip_offset",
        "fabric.zones.*.spines",
        "storage.ratio",
        "storage.threefs.shuffle_method",
        "qos.classes.storage.sl",
        "scheduler.slurm.partitions.*.groups",
        "nccl.env.*",
        "os.sysctl.*",
        "validation.suppress",
    } <= dotted_paths
    assert len(PATHS) > 120


@pytest.mark.parametrize("path", PATHS, ids=lambda p: ".".join(p))
def test_every_spec_field_has_an_update_policy(path: Walked):
    # dict keys are strings; list items are reported by name (zones, NICs, partitions) or by index
    for key in ("p", 0) if "*" in path else ("p",):
        pol = policy_for(concrete(path, key))
        assert pol is not None, f"{dotted(concrete(path, key))} has no update policy in ffinfra/plan/policy.py"
        assert pol.action, f"{pol.pattern}: a policy needs an action, even if it is 'none'"


def test_policy_for_takes_concrete_paths():
    assert policy_for(("hardware", "p", "cpu", "sockets")).pattern == "hardware.*.cpu.**"
    assert policy_for(("hardware", "p", "cpu", "model")).pattern == "hardware.*.cpu.model"
    assert policy_for(("fabric", "zones", "z0", "spines")).pattern == "fabric.zones.**"
    assert policy_for(("nccl", "env", "NCCL_IB_TIMEOUT")).pattern == "nccl.**"
    assert policy_for(("no", "such", "field")) is None


def _first_matches() -> dict[str, list[str]]:
    """pattern → the walked paths it is the first match for."""
    compiled = [(p, _regex(p)) for p in patterns()]
    won: dict[str, list[str]] = {p: [] for p in patterns()}
    for path in PATHS:
        for key in ("p", 0) if "*" in path else ("p",):
            text = dotted(concrete(path, key))
            winner = next((p for p, rx in compiled if rx.match(text)), None)
            if winner is not None:
                won[winner].append(".".join(path))
    return won


def _matches() -> dict[str, list[str]]:
    return {p: [".".join(w) for w in PATHS if _regex(p).match(dotted(concrete(w)))] for p in patterns()}


# Patterns that match no path the spec diff can report: a required model or a dict as a whole is never reported
# at its own path, and list items are reported one by one (by name, or by index). Each of these repeats the
# policy of its `.**` twin, so nothing is lost; they are kept (reported to the lead, not deleted) and listed here
# so that the list cannot grow silently.
NEVER_REPORTED = {
    "network.management",  # a required model: never set ↔ unset; its fields match network.management.**
    "scheduler.slurm.partitions",  # partitions are reported at scheduler.slurm.partitions.<name>
    "os.sysctl",  # entries are reported at os.sysctl.<key>
}


def test_every_pattern_matches_a_reportable_path():
    dead = sorted(p for p, hits in _matches().items() if not hits)
    assert set(dead) == NEVER_REPORTED, f"patterns that match no reportable spec path: {dead}"


def test_no_pattern_is_shadowed_by_an_earlier_one():
    matches, won = _matches(), _first_matches()
    shadowed = {p: matches[p] for p in patterns() if matches[p] and not won[p]}
    assert not shadowed, f"patterns shadowed by earlier ones for all their paths: {shadowed}"


def test_patterns_are_unique_and_well_formed():
    pats = patterns()
    assert len(pats) == len(set(pats)), "a pattern appears twice: the second can never fire"
    for p, _impact, action in _TABLE:
        assert "**" not in p[:-2], f"{p}: '**' only at the end"
        assert action, f"{p}: empty action"
