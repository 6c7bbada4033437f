"""No spec field is silently ignored: each is read by the code that builds, deploys or judges the cluster, or is
listed in spec/pending.py (and then noted, FF-SPEC-002, where a spec sets it), or has no effect by design.

"Read" is decided from the package source, statically: a field counts as read in a file when the file reads its
name (`x.field`, `getattr(x, "field")`, `d["field"]`, or `.field` in a Jinja template) and also names a way to reach
its model (a field, property or method that holds or returns that model: `threefs`, `nics`/`ib_nics`,
`profile(...)`, `spec`). The second condition keeps `hfreduce.chunk_size_kib` from passing for
`threefs.chunk_size_kib`, and a port's `description` for a hardware profile's. Files that only describe or validate
the spec do not count: the models themselves (but for properties the rest of the code reads), the rules in
checks/, the plan (it compares values, it does not apply them) and the docs generator.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
import typing
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from pydantic import BaseModel

from ffinfra.docs.spec_reference import _models, reference
from ffinfra.spec import models
from ffinfra.spec.models import ClusterSpec, ProvisioningSpec
from ffinfra.spec.pending import NO_EFFECT_BY_DESIGN, PENDING, Issue
from ffinfra.topology import model as topology_model

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "ffinfra"
NOT_USING = ("spec", "checks", "plan", "docs")  # describe or validate the spec; reading a field there is no use
# ... but for these, whose decisions others carry out (`ffinfra upgrade` runs the batches plan/batches.py decides)
DECIDING = ("plan/batches.py",)
# Read, but only resolved for consumers that do not exist yet: the row stays until they do.
RESOLVED_NOT_CONSUMED: dict[tuple[str, str], str] = {}  # (model, field) listed as pending yet read, and why

MODELS: list[type[BaseModel]] = _models(ClusterSpec)
JINJA_NAME = re.compile(r"\.(\w+)|\[['\"](\w+)['\"]\]")  # spec.fabric.mtu, parts['compute_pkey']


def _flat(tp: object) -> Iterator[object]:
    yield tp
    for arg in typing.get_args(tp):
        yield from _flat(arg)


def _mentions(annotation: object, model: type[BaseModel]) -> bool:
    if isinstance(annotation, str):  # a postponed annotation: compare by name rather than evaluate it
        return re.search(rf"\b{model.__name__}\b", annotation) is not None
    return model in set(_flat(annotation))


@cache
def access_names() -> dict[type[BaseModel], frozenset[str]]:
    """Model → names through which code reaches an instance: holding fields, and properties/methods returning it."""
    holders: list[tuple[str, object]] = [(n, f.annotation) for m in MODELS for n, f in m.model_fields.items()]
    for module in (models, topology_model):
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            holders += list(vars(cls).get("__annotations__", {}).items())  # dataclass fields: Topology.spec
            for name, member in vars(cls).items():
                fn = member.fget if isinstance(member, property) else member
                if inspect.isfunction(fn):
                    holders.append((name, fn.__annotations__.get("return")))
    return {m: frozenset(name for name, ann in holders if _mentions(ann, m)) for m in MODELS}


def _python_names(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Name):  # a variable named for what it holds: spec, threefs, nic
            names.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)
    return names


@cache
def names_by_file() -> dict[str, frozenset[str]]:
    """Every file of the package that may use the spec → the attribute and key names it reads."""
    out: dict[str, frozenset[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] not in NOT_USING or rel.as_posix() in DECIDING:
            out[str(rel)] = frozenset(_python_names(path.read_text(encoding="utf-8")))
    for path in sorted({*ROOT.glob("templates/**/*.j2"), *PACKAGE.rglob("*.j2")}):
        found = JINJA_NAME.findall(path.read_text(encoding="utf-8"))
        out[str(path.relative_to(ROOT))] = frozenset(a or b for a, b in found)
    assert len(out) > 40, "the scan found too few files: has the package moved?"
    return out


def readers(model: type[BaseModel], field: str) -> list[str]:
    """The files that read `field` of `model`, directly or through a property of the model that they read."""
    reach = access_names()[model]
    direct = [f for f, names in names_by_file().items() if field in names and names & reach]
    via_property = []
    for name, member in vars(model).items():
        if isinstance(member, property) and field in _python_names(textwrap.dedent(inspect.getsource(member.fget))):
            via_property += [f"{f} (via {model.__name__}.{name})" for f in readers_of_name(model, name)]
    return direct + via_property


def readers_of_name(model: type[BaseModel], name: str) -> list[str]:
    reach = access_names()[model]
    return [f for f, names in names_by_file().items() if name in names and names & reach]


def all_fields() -> list[tuple[type[BaseModel], str]]:
    return [(m, name) for m in MODELS for name in m.model_fields]


def _label(model: type[BaseModel], field: str) -> str:
    return f"{model.__name__}.{field}"


def _listed(model: type[BaseModel], field: str) -> bool:
    return field in PENDING.get(model, {}) or field in NO_EFFECT_BY_DESIGN.get(model, {})


def _section_of_listed_fields(model: type[BaseModel], field: str) -> bool:
    """A field holding a model whose fields are all listed (`provisioning`): each of them is noted where it is set."""
    held = [m for m in MODELS if _mentions(model.model_fields[field].annotation, m)]
    return bool(held) and all(_listed(m, f) for m in held for f in m.model_fields)


def test_every_field_is_read_or_listed_as_not_used_yet() -> None:
    unaccounted = [
        _label(m, f)
        for m, f in all_fields()
        if not _listed(m, f) and not _section_of_listed_fields(m, f) and not readers(m, f)
    ]
    assert unaccounted == [], (
        "spec fields that nothing reads: use them, or list them in ffinfra/spec/pending.py with the issue that will"
    )


def test_a_field_listed_as_not_used_yet_is_not_read() -> None:
    """When an issue puts a field to use, its row leaves the table (else users get a note that is no longer true)."""
    read = {_label(m, f): readers(m, f) for m, fields in PENDING.items() for f in fields}
    stale = {k: v for k, v in read.items() if v and (k.split(".")[0], k.split(".")[1]) not in RESOLVED_NOT_CONSUMED}
    assert stale == {}, "read by the package, yet listed as not used yet in ffinfra/spec/pending.py"
    for (model, field), why in RESOLVED_NOT_CONSUMED.items():
        assert read[f"{model}.{field}"], (
            f"{model}.{field} is no longer read ({why}): drop it from RESOLVED_NOT_CONSUMED"
        )


def test_the_scan_sees_reads_it_should() -> None:
    """The scan is only as honest as what it finds: known reads, direct, via a property and in a template."""
    by_name = {m.__name__: m for m in MODELS}
    assert "render/slurm.py" in readers(by_name["SlurmSpec"], "select_type")
    assert any("via CpuSpec.numa" in r for r in readers(by_name["CpuSpec"], "numa_nodes"))
    assert "templates/opensm/partitions.conf.j2" in readers(by_name["PartitionsSpec"], "default_pkey")
    # a field read only through a property (ThreeFsLayout's) and one of a nested model (the 3FS build's commit)
    assert readers(by_name["HfreduceSpec"], "chunk_size_kib") and readers(by_name["ThreeFsSpec"], "chunk_size_kib")
    assert "render/inventory.py" in readers(by_name["ThreeFsBuildSpec"], "commit")


def test_the_tables_name_real_fields_once_with_a_known_issue() -> None:
    for table in (PENDING, NO_EFFECT_BY_DESIGN):
        for model, fields in table.items():
            assert model in MODELS
            assert set(fields) <= set(model.model_fields), f"{model.__name__}: no such field"
    overlap = [(m, f) for m, fs in PENDING.items() for f in fs if f in NO_EFFECT_BY_DESIGN.get(m, {})]
    assert overlap == []
    issues = {issue for fields in PENDING.values() for issue in fields.values()}
    # HFReduce (13), rolling changes (14) and bare metal (15) read theirs; the Pulumi engine (16) adds none
    assert {(i.number, i.brings) for i in issues} == set()
    assert all(isinstance(i, Issue) for i in issues)


@pytest.fixture
def later_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two fields as if a later issue were to use them: no field is pending now, the notes must still work."""
    later = Issue(99, "a later feature")
    monkeypatch.setitem(PENDING, ProvisioningSpec, {"method": later, "bmc_protocol": later})


@pytest.mark.usefixtures("later_fields")
@pytest.mark.parametrize(
    ("section", "noted"),
    [
        ("provisioning: {}\n", []),
        ("provisioning: {method: pxe}\n", [("provisioning", "method")]),  # the default value, but written
        (
            "provisioning: {bmc_protocol: ipmi, method: none}\n",
            [("provisioning", "bmc_protocol"), ("provisioning", "method")],
        ),
        ("upgrades: {max_unavailable: 3}\n", []),  # read by the batch planner
    ],
)
def test_only_fields_the_spec_writes_are_noted(make_stack, stack_text, findings_of, section, noted) -> None:
    text = stack_text("lab").replace("\nacceptance:\n", "\n" + section + "acceptance:\n")
    found = [f for f in findings_of(make_stack(text)) if f.code == "FF-SPEC-002" and f.path[0] != "storage"]
    assert [f.path for f in found] == noted


@pytest.mark.usefixtures("later_fields")
def test_the_note_is_located_at_the_field(make_stack, stack_text, findings_of) -> None:
    text = stack_text("lab").replace("\nacceptance:\n", "\nprovisioning:\n  bmc_protocol: ipmi\nacceptance:\n")
    (f,) = [f for f in findings_of(make_stack(text)) if f.path == ("provisioning", "bmc_protocol")]
    line = text.splitlines().index("  bmc_protocol: ipmi") + 1
    assert (f.location.line, f.location.col) == (line, 3)
    assert f.format().endswith(
        "info[FF-SPEC-002] provisioning.bmc_protocol: not used yet: issue 99 (a later feature) will use it\n"
        "  hint: ffinfra checks the value and keeps it; -s FF-SPEC-002 (or validation.suppress) silences this note"
    )


def test_the_spec_reference_marks_each_field_not_used_yet() -> None:
    ref = reference()
    for model, fields in PENDING.items():
        for field, issue in fields.items():
            (row,) = [
                line
                for line in ref.split(f"#### {model.__name__}\n", 1)[1].split("####", 1)[0].splitlines()
                if line.startswith(f"| `{field}` |")
            ]
            assert row.endswith(f"*Not used yet: issue {issue.number} ({issue.brings}) will use it.* |")
    assert "bmc_protocol" in ProvisioningSpec.model_fields
