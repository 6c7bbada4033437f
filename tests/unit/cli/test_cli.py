"""The CLI as a person meets it: exit codes, one-line errors with file:line, no tracebacks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def lab_copy(tmp_path: Path) -> Path:
    d = tmp_path / "mylab"
    d.mkdir()
    shutil.copy(ROOT / "stacks" / "lab" / "cluster.yaml", d / "cluster.yaml")
    return d


def test_validate_defaults_to_the_lab_stack(cli, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code, out, _ = cli("validate")
    assert code == 0
    assert "stacks/lab/cluster.yaml: valid (8 nodes, 6 switches, 1 zone(s))" in out


def test_unknown_key_is_reported_at_its_line_with_a_suggestion(cli, monkeypatch, capsys, lab_copy: Path):
    spec = lab_copy / "cluster.yaml"
    lines = spec.read_text().splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("  radix:"))
    lines.insert(i + 1, "  radx: 8")
    spec.write_text("\n".join(lines) + "\n")
    code, out, err = cli("validate", str(lab_copy))
    assert code == 1
    assert f"cluster.yaml:{i + 2}:3: error[FF-SPEC-001] fabric.radx: unknown key 'radx'" in err
    assert "did you mean 'radix'?" in err
    assert "Traceback" not in err + out


def test_rule_violation_exits_1_and_json_lists_findings(cli, monkeypatch, capsys, lab_copy: Path):
    spec = lab_copy / "cluster.yaml"
    spec.write_text(spec.read_text().replace("hostnames: cn[01-04]", "hostnames: cn[01-09]"))
    code, out, _ = cli("validate", "--json", str(lab_copy))
    assert code == 1
    data = json.loads(out)
    assert data["valid"] is False
    assert {f["code"] for f in data["findings"]} >= {"FF-NET-003"}
    assert all(f["line"] for f in data["findings"])


def test_unknown_stack_names_the_known_ones(cli, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code, _, err = cli("validate", "no-such-stack")
    assert code == 1
    assert "no stack 'no-such-stack'" in err and "lab" in err


def test_show_reports_ff2_zones_and_picture(cli, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code, out, _ = cli("show", "--json", "ff2")
    assert code == 0
    s = json.loads(out)
    assert [(z["name"], z["spines"], z["leaves"]) for z in s["zones"]] == [("z0", 20, 40), ("z1", 20, 40)]
    assert all(z["host_ports_used"] <= z["host_ports_total"] == 800 for z in s["zones"])
    assert sum(s["nodes_by_group"].values()) == 1424
    code, out, _ = cli("show", "ff2")
    assert code == 0
    assert "20 spines" in out and "40 leaves" in out and "storage NICs in every zone" in out


def test_build_writes_identical_files_twice(cli, monkeypatch, capsys, tmp_path: Path):
    monkeypatch.chdir(ROOT)
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli("build", "small", "-o", str(a))[0] == 0
    assert cli("build", "small", "-o", str(b))[0] == 0
    files_a = {p.relative_to(a): p.read_bytes() for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b): p.read_bytes() for p in b.rglob("*") if p.is_file()}
    assert files_a == files_b
    assert Path("manifest.json") in files_a
    _code, out, _ = cli("build", "small", "-o", str(a))
    assert "0 written" in out


def test_build_removes_artifacts_it_no_longer_renders(cli, monkeypatch, capsys, tmp_path: Path):
    monkeypatch.chdir(ROOT)
    out_dir = tmp_path / "o"
    cli("build", "lab", "-o", str(out_dir))
    manifest = json.loads((out_dir / "manifest.json").read_text())
    manifest["artifacts"]["stale/old.conf"] = {}
    (out_dir / "manifest.json").write_text(json.dumps(manifest))
    (out_dir / "stale").mkdir()
    (out_dir / "stale" / "old.conf").write_text("x")
    (out_dir / "mine.txt").write_text("not ffinfra's")
    code, out, _ = cli("build", "lab", "-o", str(out_dir))
    assert code == 0 and "1 removed" in out
    assert not (out_dir / "stale" / "old.conf").exists()
    assert (out_dir / "mine.txt").exists()


def test_schema_is_json_schema_of_the_spec(cli, monkeypatch, capsys):
    code, out, _ = cli("schema")
    assert code == 0
    schema = json.loads(out)
    assert "fabric" in schema["properties"] and "nodes" in schema["required"]


def test_codes_lists_rule_codes(cli, monkeypatch, capsys):
    code, out, _ = cli("codes")
    assert code == 0
    for c in ("FF-NET-001", "FF-NET-005", "FF-SPEC-001", "FF-NODE-003"):
        assert c in out


def test_internal_errors_are_logged_not_shown(cli, monkeypatch, capsys, tmp_path: Path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.chdir(ROOT)

    def boom(*_a, **_k):
        raise ZeroDivisionError("synthetic")

    monkeypatch.setattr("ffinfra.cli.options.compile_stack", boom)
    code, _out, err = cli("validate")
    assert code == 70
    assert "internal error" in err and "Traceback" not in err
    assert "ZeroDivisionError" in (tmp_path / "ffinfra" / "debug.log").read_text()


def test_show_counts_reserved_host_ports(cli, monkeypatch, capsys, tmp_path: Path):
    """gpu-z0 installs 578 of its 618 names: z0 has 760 ports used and 40 reserved for the rest, none free."""
    d = tmp_path / "grow"
    d.mkdir()
    text = (ROOT / "stacks" / "ff2" / "cluster.yaml").read_text()
    (d / "cluster.yaml").write_text(
        text.replace("hostnames: gpu[0001-0618]", "count: 578\n    hostnames: gpu[0001-0618]")
    )
    code, out, _ = cli("show", "--json", str(d))
    assert code == 0
    z0, z1 = json.loads(out)["zones"]
    assert (z0["host_ports_used"], z0["host_ports_reserved"], z0["host_ports_total"]) == (760, 40, 800)
    assert (z1["host_ports_used"], z1["host_ports_reserved"]) == (800, 0)
    code, out, _ = cli("show", str(d))
    assert code == 0
    assert "760 used 40 reserved 0 free" in out and "800 used 0 free" in out
    assert "host ports 760/800 +40 reserved" in out
