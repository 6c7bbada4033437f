"""scripts/pr-plan.sh, the shell half of .github/workflows/ffinfra-plan.yml, run against throwaway git repositories.

CI here cannot run GitHub Actions, so this runs what the workflow runs: a clone whose origin/main is the PR's base
and whose HEAD is a commit of the PR. The script must write the comment and per-stack reports, exit 0 when every
plan ran (with changes or without), and exit non-zero when a plan errors or is refused (the comment still written).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from plan_repo import GIT_ENV, edit, git

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "pr-plan.sh"
FFINFRA = Path(sys.executable).parent / "ffinfra"
MARKER = "<!-- ffinfra-plan -->"

pytestmark = pytest.mark.skipif(
    not (shutil.which("git") and shutil.which("bash") and FFINFRA.exists()),
    reason="needs git, bash and the ffinfra entry point next to this Python",
)


@pytest.fixture
def pr(tmp_path: Path) -> Path:
    """A clone on branch `pr` whose origin/main holds stacks/lab and stacks/small (one commit)."""
    upstream = tmp_path / "upstream"
    for name in ("lab", "small"):
        (upstream / "stacks" / name).mkdir(parents=True)
        shutil.copy(ROOT / "stacks" / name / "cluster.yaml", upstream / "stacks" / name / "cluster.yaml")
    (upstream / "README.md").write_text("stacks\n")
    git(upstream, "init", "-q", "-b", "main")
    git(upstream, "add", ".")
    git(upstream, "commit", "-q", "-m", "base")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(upstream), str(clone))
    git(clone, "checkout", "-q", "-b", "pr")
    return clone


def commit(repo: Path, message: str = "pr") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def run_script(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **GIT_ENV, "FFINFRA": str(FFINFRA)}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300)


def test_a_changed_stack_is_planned_and_the_script_succeeds(pr: Path):
    edit(pr / "stacks" / "lab" / "cluster.yaml", "hostnames: cn[01-04]", "hostnames: cn[01-05]")
    commit(pr)
    r = run_script(pr, "origin/main", "plan-comment.md")
    assert r.returncode == 0, r.stderr  # ffinfra's exit 2 (changes) is success here
    comment = (pr / "plan-comment.md").read_text()
    assert comment.startswith(MARKER + "\n## ffinfra plan\n")
    assert "### ffinfra plan: `lab`" in comment
    assert "`origin/main:stacks/lab/cluster.yaml` → `stacks/lab/cluster.yaml`" in comment
    assert "| topology | cn05 added |" in comment and "<details>" in comment
    assert "`small`" not in comment, "an unchanged stack is not planned"
    assert (pr / "plan-lab.md").read_text() in comment
    assert not (pr / "plan-small.md").exists()
    assert not list(pr.glob("*.err")), "no error output is left behind on success"


def test_each_changed_stack_gets_its_own_report(pr: Path):
    edit(pr / "stacks" / "lab" / "cluster.yaml", "repeats: 2", "repeats: 3")
    edit(pr / "stacks" / "small" / "cluster.yaml", "replication: 3", "replication: 2")
    commit(pr)
    out = pr / "out"
    out.mkdir()
    r = run_script(pr, "origin/main", str(out / "comment.md"))
    assert r.returncode == 0, r.stderr
    comment = (out / "comment.md").read_text()
    assert comment.index("### ffinfra plan: `lab`") < comment.index("### ffinfra plan: `small`")
    assert "**Impact: no-op**" in (out / "plan-lab.md").read_text()
    assert "**Impact: 3FS data migration**" in (out / "plan-small.md").read_text()


def test_a_refused_plan_fails_but_the_comment_says_why(pr: Path):
    edit(pr / "stacks" / "small" / "cluster.yaml", "chain_table_type: CR", "chain_table_type: EC")
    commit(pr)
    r = run_script(pr, "origin/main")
    assert r.returncode == 1
    comment = (pr / "plan-comment.md").read_text()
    assert "Refused" in comment and "storage.threefs.chain_table_type" in comment


def test_an_invalid_spec_fails_and_the_comment_carries_the_error(pr: Path):
    edit(pr / "stacks" / "lab" / "cluster.yaml", "radix: 4 ", "radx: 4 ")
    commit(pr)
    r = run_script(pr, "origin/main")
    assert r.returncode == 1
    comment = (pr / "plan-comment.md").read_text()
    assert "### `lab`: ⛔ plan failed (exit 1)" in comment
    assert "FF-SPEC-001" in comment and "radx" in comment
    assert (pr / "plan-lab.err").exists()


def test_a_new_stack_is_shown_and_a_removed_one_is_named(pr: Path):
    (pr / "stacks" / "lab2").mkdir()
    shutil.copy(pr / "stacks" / "lab" / "cluster.yaml", pr / "stacks" / "lab2" / "cluster.yaml")
    shutil.rmtree(pr / "stacks" / "small")
    commit(pr)
    r = run_script(pr, "origin/main")
    assert r.returncode == 0, r.stderr
    comment = (pr / "plan-comment.md").read_text()
    assert "### `lab2` (new stack)" in comment and "z0" in comment  # ffinfra show's summary
    assert "### `small`\n\nThe stack was removed" in comment


def test_a_pr_without_stack_changes_says_so(pr: Path):
    (pr / "README.md").write_text("more\n")
    commit(pr)
    r = run_script(pr, "origin/main")
    assert r.returncode == 0, r.stderr
    expected = f"{MARKER}\n## ffinfra plan\n\nNo stack changes between `origin/main` and this pull request.\n"
    assert (pr / "plan-comment.md").read_text() == expected


def test_an_unknown_base_is_an_error(pr: Path):
    r = run_script(pr, "origin/nope")
    assert r.returncode == 1
    assert "origin/nope" in r.stderr and "fetch-depth" in r.stderr


def test_usage(pr: Path):
    r = run_script(pr)
    assert r.returncode == 64 and "usage" in r.stderr


def test_the_workflow_runs_the_script_on_stack_changes():
    wf = (ROOT / ".github" / "workflows" / "ffinfra-plan.yml").read_text()
    assert "pull_request:" in wf and "stacks/**" in wf
    assert "fetch-depth: 0" in wf and 'python-version: "3.11"' in wf and "pip install -e ." in wf
    assert 'scripts/pr-plan.sh "origin/${{ github.base_ref }}"' in wf
    assert "pull-requests: write" in wf
    assert MARKER in wf, "the workflow finds its comment by the script's marker"
