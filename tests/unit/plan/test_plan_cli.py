"""`ffinfra plan` and `ffinfra diff` as a reviewer meets them: exit codes 0 no change, 2 changes, 1 error or
refused; Markdown, JSON and table output; a base from a path or from a git revision of a throwaway repository."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from plan_repo import edit, git

ROOT = Path(__file__).resolve().parents[3]
LAB = ROOT / "stacks" / "lab" / "cluster.yaml"
GROW = ("hostnames: cn[01-04]", "hostnames: cn[01-05]")
EC = ("    replication: 2\n", "    replication: 2\n    chain_table_type: EC\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding stacks/lab/cluster.yaml, committed once."""
    if shutil.which("git") is None:
        pytest.fail("git is not installed: ffinfra plan --base REF needs it (apt-get install git)")
    r = tmp_path / "repo"
    (r / "stacks" / "lab").mkdir(parents=True)
    shutil.copy(LAB, r / "stacks" / "lab" / "cluster.yaml")
    git(r, "init", "-q", "-b", "main")
    git(r, "add", ".")
    git(r, "commit", "-q", "-m", "lab")
    return r


@pytest.fixture
def two_labs(tmp_path: Path) -> tuple[Path, Path]:
    """Two stack folders with the lab spec: old/ and new/ (edit new/cluster.yaml)."""
    for side in ("old", "new"):
        (tmp_path / side).mkdir()
        shutil.copy(LAB, tmp_path / side / "cluster.yaml")
    return tmp_path / "old", tmp_path / "new"


# --------------------------------------------------------------------------------------------- --base REF


def test_plan_against_head_reports_changes_as_markdown(cli, monkeypatch, capsys, repo: Path):
    stack = repo / "stacks" / "lab"
    edit(stack / "cluster.yaml", *GROW)
    code, out, _ = cli("plan", str(stack), "--base", "HEAD", "--format", "markdown")
    assert code == 2
    assert out.startswith("### ffinfra plan: `lab`\n")
    assert "`HEAD:stacks/lab/cluster.yaml` → " in out
    assert "| spec | `nodes.compute.hostnames` | cn[01-04] → cn[01-05] |" in out
    assert "| topology | cn05 added | 1 compute node(s) of compute in z0 |" in out
    assert "| artifact | `slurm/slurm.conf` |" in out
    assert "<details><summary>cn05 added: 1 item(s)</summary>" in out
    # the summary table comes before every folded detail
    assert out.index("| spec |") < out.index("<details>")
    assert git(repo, "status", "--porcelain") == " M stacks/lab/cluster.yaml\n", "the plan touched the repository"


def test_plan_of_an_unchanged_stack_exits_0_in_one_line(cli, monkeypatch, capsys, repo: Path):
    code, out, err = cli("plan", str(repo / "stacks" / "lab"), "--base", "HEAD")
    assert code == 0
    assert out.count("\n") == 1 and out.startswith("No changes: stack 'lab' compiles to the same cluster")
    assert err == ""


def test_plan_against_an_older_commit(cli, monkeypatch, capsys, repo: Path):
    spec = repo / "stacks" / "lab" / "cluster.yaml"
    edit(spec, "repeats: 2", "repeats: 3")
    git(repo, "commit", "-q", "-am", "repeats")
    code, out, _ = cli("plan", str(spec.parent), "-b", "HEAD~1", "-f", "json")
    assert code == 2
    data = json.loads(out)
    assert data["base"] == "HEAD~1:stacks/lab/cluster.yaml"
    assert [c["path"] for c in data["spec"]] == ["acceptance.repeats"]
    assert data["impact"] == "noop"


def test_destructive_plan_is_refused_without_the_flag(cli, monkeypatch, capsys, repo: Path):
    stack = repo / "stacks" / "lab"
    edit(stack / "cluster.yaml", *EC)
    code, out, _ = cli("plan", str(stack), "--base", "HEAD")
    assert code == 1
    assert "Refused" in out and "--allow-destructive" in out
    assert "storage.threefs.chain_table_type" in out
    code, out, _ = cli("plan", str(stack), "--base", "HEAD", "--allow-destructive")
    assert code == 2
    assert "Refused" not in out
    assert "Impact: destructive re-create." in out


def test_json_change_set(cli, monkeypatch, capsys, repo: Path):
    stack = repo / "stacks" / "lab"
    edit(stack / "cluster.yaml", *GROW)
    code, out, _ = cli("plan", str(stack), "--base", "HEAD", "--format", "json")
    assert code == 2
    data = json.loads(out)
    assert {"impact", "spec", "topology", "artifacts", "rows", "changed", "refused"} <= set(data)
    assert data["changed"] is True and data["refused"] is False
    assert data["impact"] in {"fabric-reroute", "rolling-restart"}
    assert data["spec"][0]["path"] == "nodes.compute.hostnames"
    (added,) = data["topology"]["nodes_added"]
    assert added["name"] == "cn05" and added["ports"][0]["leaf"].startswith("z0-lf")
    assert "slurm/slurm.conf" in {a["path"] for a in data["artifacts"]}
    assert all("diff" not in a for a in data["artifacts"])
    code, out, _ = cli("plan", str(stack), "-b", "HEAD", "-f", "json", "--diff")
    slurm = next(a for a in json.loads(out)["artifacts"] if a["path"] == "slurm/slurm.conf")
    assert "+NodeName=cn[01-05]" in slurm["diff"]


def test_base_revision_without_the_stack_is_a_one_line_error(cli, monkeypatch, capsys, tmp_path: Path, repo: Path):
    new = repo / "stacks" / "new"
    new.mkdir()
    shutil.copy(LAB, new / "cluster.yaml")
    code, out, err = cli("plan", str(new), "--base", "HEAD")
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1, err
    assert "stacks/new/cluster.yaml does not exist at HEAD" in err and "ffinfra show" in err
    assert "Traceback" not in err


def test_unknown_revision_is_a_one_line_error(cli, monkeypatch, capsys, repo: Path):
    code, _, err = cli("plan", str(repo / "stacks" / "lab"), "--base", "no-such-ref")
    assert code == 1
    assert err.count("\n") == 1 and "no such file, folder or git revision" in err


def test_git_base_brings_the_inventory_csv_along(cli, monkeypatch, capsys, repo: Path):
    stack = repo / "stacks" / "lab"
    (stack / "inv").mkdir()
    (stack / "inv" / "nodes.csv").write_text("hostname,mac\ncn01,aa:bb:cc:00:00:01\n")
    (stack / "cluster.yaml").write_text((stack / "cluster.yaml").read_text() + "inventory: {csv: inv/nodes.csv}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "inventory")
    code, out, err = cli("plan", str(stack), "--base", "HEAD")
    assert (code, err) == (0, ""), out + err
    (stack / "inv" / "nodes.csv").write_text("hostname,mac,mgmt_ip\ncn01,aa:bb:cc:00:00:01,10.210.0.201\n")
    code, out, _ = cli("plan", str(stack), "--base", "HEAD", "--details")
    assert code == 2
    assert "cn01: 10.210.0.10 → 10.210.0.201" in out


def test_git_base_finds_an_inventory_csv_outside_the_stack_folder(cli, monkeypatch, capsys, repo: Path):
    stack = repo / "stacks" / "lab"
    (repo / "shared").mkdir()
    (repo / "shared" / "nodes.csv").write_text("hostname,mac\ncn01,aa:bb:cc:00:00:01\n")
    (stack / "cluster.yaml").write_text(
        (stack / "cluster.yaml").read_text() + "inventory: {csv: ../../shared/nodes.csv}\n"
    )
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "shared inventory")
    code, out, err = cli("plan", str(stack), "--base", "HEAD")
    assert (code, err) == (0, ""), out + err


# --------------------------------------------------------------------------------------------- --base PATH, diff


def test_plan_with_a_path_base(cli, monkeypatch, capsys, two_labs):
    old, new = two_labs
    edit(new / "cluster.yaml", *GROW)
    code, out, _ = cli("plan", str(new), "--base", str(old / "cluster.yaml"), "-f", "markdown")
    assert code == 2
    assert "cn05 added" in out
    code, out, _ = cli("plan", str(new), "--base", str(old))  # a folder works as well
    assert code == 2
    assert "Plan for 'lab'" in out and "cn05 added" in out


def test_diff_two_specs(cli, monkeypatch, capsys, two_labs, tmp_path: Path):
    old, new = two_labs
    code, out, _ = cli("diff", str(old), str(new))
    assert code == 0 and out.startswith("No changes")
    edit(new / "cluster.yaml", "memory_gb: 2", "memory_gb: 4")
    report = tmp_path / "plan.md"
    code, out, _ = cli("diff", str(old), str(new), "--details", "--diff", "-o", str(report))
    assert code == 2
    assert "hardware.lab-node.memory_gb" in out and "rolling restart" in out
    assert "+NodeName=cn[01-04]" in out  # --diff prints the unified diffs
    md = report.read_text()  # -o writes Markdown when the terminal gets the table
    assert md.startswith("### ffinfra plan: `lab`") and "**Impact: rolling restart**" in md


def test_diff_output_file_takes_the_chosen_format(cli, monkeypatch, capsys, two_labs, tmp_path: Path):
    old, new = two_labs
    edit(new / "cluster.yaml", *EC)
    report = tmp_path / "plan.json"
    code, out, _ = cli("diff", str(old), str(new), "-f", "json", "-o", str(report))
    assert code == 1  # refused
    assert json.loads(report.read_text()) == json.loads(out)
    assert json.loads(out)["refused"] is True


def test_diff_with_a_missing_side_is_an_error(cli, monkeypatch, capsys, two_labs, tmp_path: Path):
    old, _ = two_labs
    code, _, err = cli("diff", str(old), str(tmp_path / "nowhere" / "cluster.yaml"))
    assert code == 1 and "no stack" in err


def test_diff_with_an_invalid_side_reports_findings(cli, monkeypatch, capsys, two_labs):
    old, new = two_labs
    edit(new / "cluster.yaml", "radix: 4 ", "radx: 4 ")
    code, out, err = cli("diff", str(old), str(new))
    assert code == 1
    assert "FF-SPEC-001" in err and "Traceback" not in err + out
    assert err.splitlines()[-1] == "✗ spec is invalid: 1 error(s), 0 warning(s), 0 note(s)"
