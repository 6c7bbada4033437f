"""The lab harness shared by the lab's end-to-end tests: one lab, brought up from a copy of stacks/lab in a temporary
stacks/ folder (FFINFRA_STACKS), shared by every lab test of the session and brought down at its end.

test_lab_up.py runs first (file order) and starts from nothing; the acceptance tests after it find the lab up and
only converge it (`ffinfra up` is a no-op when nothing changed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEEDED = ["ip", "nsenter", "unshare", "nc", "ssh", "/usr/sbin/sshd", "munged", "slurmctld", "slurmd", "opensm"]


def missing_tools() -> list[str]:
    return [t for t in NEEDED if not (Path(t).exists() if t.startswith("/") else shutil.which(t))]


def ansible_missing() -> bool:
    try:
        import ansible  # noqa: F401

        import ffinfra.apply.ansible  # noqa: F401
    except ImportError:
        return True
    return not (ROOT / "playbooks" / "site.yml").exists()


def run_ffinfra(
    args: list[str], env: dict[str, str], cwd: Path, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ffinfra" if shutil.which("ffinfra") else str(ROOT / ".venv" / "bin" / "ffinfra"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def leftovers() -> list[str]:
    """Namespaces, mounts or node processes (systemd-nspawn, the nodes' systemd) of the lab stack still there."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    left = [line.split()[0] for line in out.splitlines() if line.startswith(("ff-lab-", "ffsw-lab"))]
    mounts = Path("/proc/self/mountinfo").read_text()
    left += [m for m in mounts.splitlines() if "/ff-lab-" in m or "ffsw-lab" in m or "/state/lab/" in m]
    ps = subprocess.run(["pgrep", "-af", "--machine=ff-lab-"], capture_output=True, text=True, check=False).stdout
    left += [f"process {line}" for line in ps.splitlines()]
    return left


@pytest.fixture(scope="session")
def lab_stack(tmp_path_factory: pytest.TempPathFactory):
    """(work dir, stack dir, env) of the session's lab; `ffinfra down` at the end of the session."""
    if missing_tools():
        pytest.fail(f"lab tools missing: {missing_tools()} (scripts/setup.sh --lab installs them)")
    if ansible_missing():
        pytest.fail("ansible-core, ffinfra.apply.ansible or playbooks/site.yml missing (scripts/setup.sh --lab)")
    work = tmp_path_factory.mktemp("lab")
    stacks = work / "stacks"
    (stacks / "lab").mkdir(parents=True)
    shutil.copy(ROOT / "stacks" / "lab" / "cluster.yaml", stacks / "lab" / "cluster.yaml")
    env = {**os.environ, "NO_COLOR": "1", "FFINFRA_STACKS": str(stacks)}
    yield work, stacks / "lab", env
    r = run_ffinfra(["down", "lab"], env, work)
    assert r.returncode == 0, r.stdout + r.stderr
