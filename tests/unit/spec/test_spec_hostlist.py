"""Slurm hostlist expressions: expansion keeps padding, compression is its inverse."""

from __future__ import annotations

import pytest

from ffinfra.spec import hostlist
from ffinfra.spec.hostlist import HostlistError, compress, expand


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("ctl01", ["ctl01"]),
        ("a,b,c", ["a", "b", "c"]),
        ("gpu[0001-0003]", ["gpu0001", "gpu0002", "gpu0003"]),
        ("mgmt[01-02,05]", ["mgmt01", "mgmt02", "mgmt05"]),
        ("r[1-2]n[01-02]", ["r1n01", "r1n02", "r2n01", "r2n02"]),
        ("n[8-11]", ["n8", "n9", "n10", "n11"]),
        ("n[0-2]", ["n0", "n1", "n2"]),
        ("gpu[0998-1001]", ["gpu0998", "gpu0999", "gpu1000", "gpu1001"]),
        ("gpu[998-1001]", ["gpu998", "gpu999", "gpu1000", "gpu1001"]),
        ("gpu[099-101]", ["gpu099", "gpu100", "gpu101"]),
        ("x[1-2],y[3],z", ["x1", "x2", "y3", "z"]),
        ("st[01-02]-ib", ["st01-ib", "st02-ib"]),
        (" a , b ", ["a", "b"]),
    ],
)
def test_expand(expr: str, names: list[str]) -> None:
    assert expand(expr) == names


def test_expand_keeps_padding_across_a_width_change() -> None:
    names = expand("n[001-1000]")
    assert len(names) == 1000
    assert names[:2] == ["n001", "n002"]
    assert names[998:] == ["n999", "n1000"]
    assert len(expand("gpu[0001-1250]")) == 1250


@pytest.mark.parametrize(
    ("names", "expr"),
    [
        (["gpu0998", "gpu0999", "gpu1000", "gpu1001"], "gpu[0998-1001]"),
        (["gpu998", "gpu999", "gpu1000"], "gpu[998-1000]"),
        (["mgmt01", "mgmt02", "mgmt05"], "mgmt[01-02,05]"),
        (["ctl01"], "ctl01"),
        (["a", "b"], "a,b"),
        (["a1", "b1", "a2"], "a1,b1,a2"),  # order is kept: only adjacent names fold
        (["n1", "n01"], "n1,n01"),  # different widths never share a range
        (["n3", "n1"], "n3,n1"),
        (["n1", "n1"], "n1,n1"),
        (["r1n01", "r1n02", "r2n01"], "r1n[01-02],r2n01"),
        ([], ""),
    ],
)
def test_compress(names: list[str], expr: str) -> None:
    assert compress(names) == expr
    assert expand(expr) == names


@pytest.mark.parametrize(
    "expr",
    ["gpu[0001-1250]", "mgmt[01-02,05]", "n[001-1000]", "gpu[998-1001]", "a,b,c", "n[0-10]", "stor[001-180]"],
)
def test_round_trip(expr: str) -> None:
    names = expand(expr)
    assert expand(compress(names)) == names


@pytest.mark.parametrize(
    ("expr", "needle"),
    [
        ("gpu[1-", "unbalanced"),
        ("gpu1-2]", "unbalanced"),
        ("gpu[a-b]", "bad range"),
        ("gpu[]", "bad range"),
        ("gpu[5-1]", "backwards"),
        ("gpu[1-99999999999]", "too large"),
    ],
)
def test_expand_errors(expr: str, needle: str) -> None:
    with pytest.raises(HostlistError, match=needle):
        expand(expr)


def test_expand_refuses_products_that_are_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostlist, "MAX_HOSTS", 100)
    assert len(expand("a[1-10]b[1-10]")) == 100
    with pytest.raises(HostlistError, match="too many names"):
        expand("a[1-20]b[1-20]")


def test_hostlist_error_is_a_value_error() -> None:
    assert issubclass(HostlistError, ValueError)
