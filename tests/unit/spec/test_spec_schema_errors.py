"""Pydantic errors become FF-SPEC-001 findings at the YAML line, with a hint that teaches the fix."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import ValidationError

from ffinfra.compile import compile_stack
from ffinfra.errors import SpecInvalid
from ffinfra.spec.findings import Finding, Severity
from ffinfra.spec.models import ClusterSpec, FabricSpec, ZoneSpec
from ffinfra.spec.schema_errors import findings_from_validation_error, model_at
from ffinfra.stack import StackRef


def line_col(text: str, marker: str, col_of: str | None = None) -> tuple[int, int]:
    """1-based line and column of `col_of` (default: the marker itself, stripped) at the marker's first use."""
    i = text.index(marker)
    i = text.index(col_of or marker.strip(), i)
    return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1


@pytest.fixture
def spec_errors(make_stack: Callable[..., StackRef]) -> Callable[[str], list[Finding]]:
    def run(text: str) -> list[Finding]:
        with pytest.raises(SpecInvalid) as info:
            compile_stack(make_stack(text))
        assert all(f.code == "FF-SPEC-001" and f.severity is Severity.ERROR for f in info.value.findings)
        assert all(f.location is not None and f.location.file.endswith("cluster.yaml") for f in info.value.findings)
        return info.value.findings

    return run


def test_unknown_key_gets_did_you_mean_at_its_line(stack_text, spec_errors) -> None:
    text = stack_text("lab").replace("  switch_model: lab-4port", "  switch_modle: lab-4port")
    (f,) = spec_errors(text)
    assert f.path == ("fabric", "switch_modle")
    assert f.message == "unknown key 'switch_modle'"
    assert f.hint == "did you mean 'switch_model'?"
    assert (f.location.line, f.location.col) == line_col(text, "switch_modle")


def test_unknown_nested_key_inside_a_flow_mapping(stack_text, spec_errors) -> None:
    text = stack_text("lab").replace("{model: lab-x86_64,", "{modle: lab-x86_64,")
    (f,) = spec_errors(text)
    assert f.path == ("hardware", "lab-node", "cpu", "modle")
    assert f.hint == "did you mean 'model'?"
    assert (f.location.line, f.location.col) == line_col(text, "{modle", "modle")


def test_unknown_key_without_a_close_match_lists_the_allowed_keys(stack_text, spec_errors) -> None:
    text = stack_text("lab").replace("  repeats: 2\n", "  repeats: 2\n  zzzz: 1\n")
    (f,) = spec_errors(text)
    assert f.message == "unknown key 'zzzz'"
    assert f.hint.startswith("allowed keys: ") and "repeats" in f.hint
    assert (f.location.line, f.location.col) == line_col(text, "  zzzz")


def test_missing_top_level_key_is_reported_at_the_root(stack_text, spec_errors) -> None:
    text = stack_text("lab").replace("name: lab\n", "")
    (f,) = spec_errors(text)
    assert f.path == ("name",)
    assert f.message == "missing required key 'name'"
    assert (f.location.line, f.location.col) == line_col(text, "version: 1")  # the root mapping's first key


def test_missing_nested_key_is_reported_at_its_parent_with_the_models_doc(stack_text, spec_errors) -> None:
    text = stack_text("lab").replace("    - name: z0\n", "    - {spines: 2}\n")
    (f,) = spec_errors(text)
    assert f.path == ("fabric", "zones", 0, "name")
    assert f.message == "missing required key 'name'"
    assert (f.location.line, f.location.col) == line_col(text, "- {spines", "{")


def test_findings_from_validation_error_maps_each_error_to_a_data_path() -> None:
    data = {
        "name": "x",
        "hardware": {},
        "nodes": {},
        "fabric": {"zones": [{"name": "z0"}], "radix": "many"},
        "network": {},
        "storage": {"threefs": {"replication": 0}},
    }
    with pytest.raises(ValidationError) as info:
        ClusterSpec.model_validate(data)
    found = findings_from_validation_error(ClusterSpec, data, info.value)
    by_path = {f.path: f for f in found}
    assert set(by_path) == {
        ("hardware",),
        ("nodes",),
        ("fabric", "radix"),
        ("network", "management"),
        ("storage", "threefs", "replication"),
    }
    assert by_path[("network", "management")].message == "missing required key 'management'"
    assert "(got 'many')" in by_path[("fabric", "radix")].message
    assert all(f.code == "FF-SPEC-001" and f.location is None for f in found)  # compile_stack locates them


@pytest.mark.parametrize(
    ("old", "new", "marker", "path", "needle"),
    [
        ("radix: 4 ", "radix: four ", "radix:", ("fabric", "radix"), "valid integer"),
        ("memory_gb: 2\n", "memory_gb: [2]\n", "memory_gb", ("hardware", "lab-node", "memory_gb"), "valid integer"),
        ("design: zone-subnets", "design: fat", "design:", ("fabric", "design"), "got 'fat'"),
        (
            "hostnames: cn[01-04]",
            "hostnames: cn[01-",
            "hostnames: cn[01-",
            ("nodes", "compute", "hostnames"),
            "unbalanced",
        ),
        (
            "cidr: 10.210.0.0/24",
            "cidr: 10.210.0.1/24",
            "management:",
            ("network", "management", "cidr"),
            "not a network",
        ),
        ("radix: 4 ", "radix: 2 ", "radix:", ("fabric", "radix"), "greater than or equal to 4"),
        ("    - name: z0\n", "    - name: Z0\n", "name: Z0", ("fabric", "zones", 0, "name"), "should match pattern"),
    ],
)
def test_wrong_values(stack_text, spec_errors, old, new, marker, path, needle) -> None:
    text = stack_text("lab").replace(old, new, 1)
    assert text != stack_text("lab")
    (f,) = spec_errors(text)
    assert f.path == path
    assert needle in f.message
    assert not f.message.startswith("Value error")
    assert f.location.line == line_col(text, marker)[0]


def test_every_schema_error_is_reported_at_once(stack_text, spec_errors) -> None:
    text = (
        stack_text("lab")
        .replace("radix: 4 ", "radix: four ")
        .replace("memory_gb: 2\n", "memory_gb: two\n")
        .replace("  switch_model: lab-4port", "  switch_modle: lab-4port")
    )
    found = spec_errors(text)
    assert {f.path for f in found} == {
        ("fabric", "radix"),
        ("hardware", "lab-node", "memory_gb"),
        ("fabric", "switch_modle"),
    }


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_a_spec_that_is_not_a_mapping(spec_errors, text) -> None:
    (f,) = spec_errors(text)
    assert f.path == ()
    assert "valid dictionary" in f.message


def test_a_section_of_the_wrong_shape(stack_text, spec_errors) -> None:
    text = stack_text("lab").replace("  zones:\n    - name: z0\n", "  zones: z0\n")
    (f,) = spec_errors(text)
    assert f.path == ("fabric", "zones")
    assert f.location.line == line_col(text, "zones: z0")[0]


def test_zone_names_and_nic_devices_must_be_unique(stack_text, spec_errors) -> None:
    text = stack_text("lab").replace("    - name: z0\n", "    - name: z0\n    - name: z0\n")
    (f,) = spec_errors(text)
    assert f.path == ("fabric", "zones") and "appears twice" in f.message
    text = stack_text("lab").replace("{device: eth0,", "{device: mlx5_0,")
    (f,) = spec_errors(text)
    assert f.path == ("hardware", "lab-node", "nics") and "'mlx5_0' appears twice" in f.message


def test_model_at_follows_models_lists_and_dicts() -> None:
    assert model_at(ClusterSpec, ()) is ClusterSpec
    assert model_at(ClusterSpec, ("fabric",)) is FabricSpec
    assert model_at(ClusterSpec, ("fabric", "zones", 0)) is ZoneSpec
    assert model_at(ClusterSpec, ("hardware", "any", "cpu")).__name__ == "CpuSpec"
    assert model_at(ClusterSpec, ("fabric", "radix")) is None
    assert model_at(ClusterSpec, ("nope",)) is None
