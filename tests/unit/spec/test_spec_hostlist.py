"""Slurm hostlist expressions: expansion keeps padding, compression is its inverse."""

from __future__ import annotations

import pytest

from ffinfra.spec import hostlist
from ffinfra.spec.hostlist import HostlistError, HostlistTooLarge, compress, count, expand


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
    assert count(expr) == len(names)


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
        ("gpu[1-99999999999]", r"names 99,999,999,999 hosts, more than the 100,000"),
        ("gpu[1-" + "9" * 19 + "]", "at most 18 digits"),
        ("gpu[1-" + "9" * 5000 + "]", "at most 18 digits"),  # not int()'s own 4300-digit ValueError
        ("gpu[\u0661-\u0663]", "bad range"),  # Arabic-Indic digits: int() would take them, hostnames should not
    ],
)
def test_expand_errors(expr: str, needle: str) -> None:
    with pytest.raises(HostlistError, match=needle):
        expand(expr)


def test_expand_refuses_products_that_are_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hostlist, "MAX_HOSTS", 100)
    assert len(expand("a[1-10]b[1-10]")) == 100
    with pytest.raises(HostlistTooLarge, match="names 400 hosts, more than the 100 ffinfra takes"):
        expand("a[1-20]b[1-20]")


def test_the_limit_leaves_room_for_the_largest_clusters_we_build() -> None:
    """Fire-Flyer 2 has ~1,400 nodes; bench/compile.py builds 12,500 compute + 1,786 storage nodes (100k GPUs)."""
    assert hostlist.MAX_HOSTS == 100_000
    assert len(expand("gpu[00001-12500]")) == 12_500
    assert len(expand("gpu[000001-100000]")) == hostlist.MAX_HOSTS


@pytest.mark.parametrize(
    ("expr", "n"),
    [
        ("gpu[0000001-9999999]", 9_999_999),
        ("n[1-999999999999999999]", 999_999_999_999_999_999),  # 10^18 names: only a count can answer this
        ("r[1-999999]n[1-999999]s[1-999999]", 999_999**3),
        ("a,b,r[1-1000000]", 1_000_002),
    ],
)
def test_absurd_sizes_are_counted_not_expanded(expr: str, n: int) -> None:
    """count() and expand()'s refusal read the ranges only: building these lists would never finish."""
    assert count(expr) == n
    with pytest.raises(HostlistTooLarge) as info:
        expand(expr)
    assert (info.value.count, info.value.limit) == (n, hostlist.MAX_HOSTS)
    assert f"more than the {hostlist.MAX_HOSTS:,} ffinfra takes in one hostlist" in str(info.value)


def test_a_long_expression_is_shortened_in_the_message() -> None:
    expr = ",".join(f"n{i}" for i in range(200_000))
    with pytest.raises(HostlistTooLarge) as info:
        expand(expr)
    assert len(str(info.value)) < 200 and "names 200,000 hosts" in str(info.value)


def test_hostlist_error_is_a_value_error() -> None:
    assert issubclass(HostlistError, ValueError)
