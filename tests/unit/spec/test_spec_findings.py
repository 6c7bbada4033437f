"""Finding: the compiler-style one-line format, paths, severities."""

from __future__ import annotations

from ffinfra.spec.findings import Finding, Severity, error, format_path, info, warning
from ffinfra.spec.load import LineMap, Location


def test_format_with_location_and_hint() -> None:
    f = Finding(
        "FF-NET-002",
        Severity.ERROR,
        ("fabric", "zones", 0, "leaves"),
        "zone 'z0' has 801 host ports",
        "add leaves",
        Location("stacks/ff2/cluster.yaml", 97, 28),
    )
    assert f.format() == (
        "stacks/ff2/cluster.yaml:97:28: error[FF-NET-002] fabric.zones[0].leaves: zone 'z0' has 801 host ports\n"
        "  hint: add leaves"
    )


def test_format_without_location_or_hint() -> None:
    assert warning("FF-NET-011", ("fabric",), "m").format() == "warning[FF-NET-011] fabric: m"
    assert info("FF-QOS-003", (), "m").format() == "info[FF-QOS-003] (spec): m"


def test_format_path() -> None:
    assert format_path(()) == "(spec)"
    assert format_path(("nodes", "gpu", "hostnames")) == "nodes.gpu.hostnames"
    assert format_path(("hardware", "p", "nics", 1, "numa")) == "hardware.p.nics[1].numa"
    assert format_path((0, "a")) == "[0].a"


def test_severity_order_and_blocking() -> None:
    assert Severity.INFO < Severity.WARNING < Severity.ERROR
    assert error("X", (), "m").is_blocking
    assert not warning("X", (), "m").is_blocking
    assert not info("X", (), "m").is_blocking
    assert Severity.WARNING.label == "warning"


def test_located_fills_the_location_once() -> None:
    lm = LineMap("c.yaml", {("fabric",): Location("c.yaml", 3, 1), ("fabric", "radix"): Location("c.yaml", 4, 3)})
    f = error("FF-NET-001", ("fabric", "radix"), "m").located(lm)
    assert f.location == Location("c.yaml", 4, 3)
    g = error("FF-NET-001", ("fabric", "leaf_uplinks"), "m").located(lm)
    assert g.location == Location("c.yaml", 3, 1)  # the nearest written ancestor
    pinned = Finding("FF-INV-001", Severity.ERROR, ("inventory",), "m", location=Location("n.csv", 2, 1))
    assert pinned.located(lm).location == Location("n.csv", 2, 1)


def test_to_dict() -> None:
    f = Finding("FF-NET-018", Severity.WARNING, ("hardware", "p", "nics", 0), "m", "h", Location("c.yaml", 5, 7))
    assert f.to_dict() == {
        "code": "FF-NET-018",
        "severity": "warning",
        "path": "hardware.p.nics[0]",
        "message": "m",
        "hint": "h",
        "file": "c.yaml",
        "line": 5,
        "col": 7,
    }
    assert warning("X", (), "m").to_dict()["line"] is None
