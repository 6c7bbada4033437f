"""Spec diff on plain data: named list items are matched by name; an item renamed in place is a rename."""

from __future__ import annotations

from typing import Any

from ffinfra.plan.spec_diff import _walk


def walk(old: Any, new: Any) -> list[tuple[str, Any, Any, str]]:
    out: list[tuple[tuple[str | int, ...], Any, Any, str]] = []
    _walk(old, new, (), out)
    return [(".".join(map(str, p)), o, n, k) for p, o, n, k in out]


def zones(*names: str, spines: int = 2) -> dict[str, Any]:
    return {"zones": [{"name": n, "spines": spines} for n in names]}


def test_inserting_a_named_item_is_one_addition():
    assert walk(zones("z0", "z1"), zones("za", "z0", "z1")) == [
        ("zones.za", None, {"name": "za", "spines": 2}, "added")
    ]


def test_a_field_of_a_named_item_is_reported_under_its_name():
    assert walk(zones("z0", "z1"), zones("z0", "z1", spines=4)) == [
        ("zones.z0.spines", 2, 4, "changed"),
        ("zones.z1.spines", 2, 4, "changed"),
    ]


def test_an_item_renamed_in_place_is_a_rename():
    assert walk(zones("z0", "z1"), zones("z0", "z9")) == [("zones.z1.name", "z1", "z9", "changed")]


def test_a_rename_with_other_changes_reports_both_under_the_old_name():
    old = {"nics": [{"device": "eno1", "rate_gbps": 25}]}
    new = {"nics": [{"device": "eth0", "rate_gbps": 100}]}
    assert walk(old, new) == [
        ("nics.eno1.device", "eno1", "eth0", "changed"),
        ("nics.eno1.rate_gbps", 25, 100, "changed"),
    ]


def test_items_that_trade_places_are_not_renames():
    assert walk(zones("z0", "z1"), zones("z1", "z2")) == [
        ("zones.z0", {"name": "z0", "spines": 2}, None, "removed"),
        ("zones.z2", None, {"name": "z2", "spines": 2}, "added"),
    ]


def test_lists_of_scalars_read_whole_and_unnamed_items_by_index():
    assert walk({"hosts": ["a", "b"]}, {"hosts": ["a", "c"]}) == [("hosts", ["a", "b"], ["a", "c"], "changed")]
    assert walk({"pairs": [[0, 1]]}, {"pairs": [[0, 1], [2, 3]]}) == [("pairs.1", None, [2, 3], "added")]
    # the first item of an empty list of named things is named too
    assert walk({"parts": []}, {"parts": [{"name": "a"}]}) == [("parts.a", None, {"name": "a"}, "added")]
    assert walk({"parts": [{"name": "a"}]}, {"parts": []}) == [("parts.a", {"name": "a"}, None, "removed")]
