"""Pydantic errors become FF-SPEC-001 findings at the YAML line, with a hint that teaches the fix."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml
from pydantic import ValidationError

from ffinfra.compile import compile_stack
from ffinfra.docs.spec_reference import _models
from ffinfra.errors import SpecInvalid
from ffinfra.spec.findings import Finding, Severity
from ffinfra.spec.models import ClusterSpec, FabricSpec, Model, ZoneSpec, refusal
from ffinfra.spec.schema_errors import FINITE_HINT, findings_from_validation_error, model_at
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
    text = stack_text("lab").replace("{model: lab-x86_64,", "{modle: lab-x86_64,", 1)
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
        .replace("memory_gb: 2\n", "memory_gb: two\n", 1)
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


# ------------------------------------------------------------------------------------------------- numbers not finite
# YAML reads .inf/.nan as floats and 1e999 (no dot) as a string; pydantic would coerce "inf", "nan", "1e999" into
# floats. None of them is a number a spec can mean, so every float of every model refuses them.

NOT_FINITE = [".inf", "-.inf", ".nan", ".NaN", "1.0e+999", "1e999", "-1e999", '"inf"', '"-Infinity"', "nan", "NaN"]
# (path, value the lab may hold there) for a float of every kind: pass marks, ratios, sizes, bounded, optional
FLOAT_FIELDS = [
    ("acceptance", "line_rate_fraction"),
    ("acceptance", "ib_write_bw_gbit"),
    ("acceptance", "fio_read_gbyte"),
    ("acceptance", "iperf3_gbit"),
    ("fabric", "oversubscription"),
    ("hardware", "lab-node", "nvme", "size_tb"),
    ("storage", "ratio", "compute_per_storage"),
]


def _set(data: dict, path: tuple[str, ...], value: object) -> dict:
    cur = data
    for key in path[:-1]:
        cur = cur.setdefault(key, {})
    cur[path[-1]] = value
    return data


@pytest.mark.parametrize("text", NOT_FINITE)
@pytest.mark.parametrize("path", FLOAT_FIELDS, ids=".".join)
def test_a_number_that_is_not_finite_is_refused_at_its_field(lab_dict, path: tuple[str, ...], text: str) -> None:
    data = _set(lab_dict, path, yaml.safe_load(f"v: {text}")["v"])
    with pytest.raises(ValidationError) as info:
        ClusterSpec.model_validate(data)
    (f,) = findings_from_validation_error(ClusterSpec, data, info.value)
    assert (f.code, f.path) == ("FF-SPEC-001", path)
    assert f.message.startswith("Input should be a finite number (got ")
    assert f.hint == FINITE_HINT


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("fabric", "radix"), ".inf"),
        (("fabric", "radix"), '"inf"'),
        (("os", "nofile"), ".nan"),
        (("os", "sysctl", "vm.x"), ".inf"),  # str | int: a float fits neither ("inf" in quotes is a fine string)
        (("os", "sysctl", "vm.x"), ".nan"),
    ],
)
def test_integers_and_mixed_values_refuse_them_too(lab_dict, path: tuple[str, ...], text: str) -> None:
    data = _set(lab_dict, path, yaml.safe_load(f"v: {text}")["v"])
    with pytest.raises(ValidationError) as info:
        ClusterSpec.model_validate(data)
    found = findings_from_validation_error(ClusterSpec, data, info.value)
    assert found and all((f.code, f.path) == ("FF-SPEC-001", path) for f in found)


def test_every_model_of_the_schema_refuses_numbers_that_are_not_finite() -> None:
    """Once, in the shared base: a model added later inherits it, and this test fails if one opts out."""
    models = _models(ClusterSpec)
    assert len(models) > 25
    assert [m.__name__ for m in models if m.model_config.get("allow_inf_nan", True)] == []
    assert all(issubclass(m, Model) for m in models)


# ------------------------------------------------------------------------------------------------- refusals with a code


def test_a_refusal_becomes_a_finding_of_its_own_code_below_the_field(lab_dict) -> None:
    """models.refusal(): a validator that knows better than FF-SPEC-001 names its code, hint and sub-path."""
    lab_dict["nodes"]["compute"]["hostnames"] = "cn[000001-060000]"
    lab_dict["nodes"]["storage"]["hostnames"] = "st[000001-060000]"
    with pytest.raises(ValidationError) as info:
        ClusterSpec.model_validate(lab_dict)
    (f,) = findings_from_validation_error(ClusterSpec, lab_dict, info.value)
    assert (f.code, f.path) == ("FF-NODE-011", ("nodes", "storage", "hostnames"))
    assert (
        f.message
        == "the node groups up to 'storage' name 120,000 hosts, more than the 100,000 ffinfra takes in one spec"
    )
    assert f.hint.startswith("look for a typo in the range")


def test_braces_in_a_refused_value_are_not_format_fields() -> None:
    err = refusal("FF-X-001", "a {b} {0} c")
    assert err.message() == "a {b} {0} c"
