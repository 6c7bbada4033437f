"""An installed ffinfra works outside its checkout: the wheel carries the roles, playbooks, templates, HFReduce's
source and the shipped stacks (setup.py copies them under ffinfra/_assets/), and ffinfra/assets.py finds them
there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SOURCES = (
    "ffinfra", "roles", "playbooks", "templates", "stacks", "hfreduce", "pyproject.toml", "setup.py", "README.md",
)  # fmt: skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a clean copy of the sources (the checkout itself gets no build/ or egg-info)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        p = ROOT / name
        if name == "stacks":  # specs only: a developer's state, runs and secrets stay out of the copy
            for spec in p.glob("*/cluster.yaml"):
                (src / name / spec.parent.name).mkdir(parents=True)
                shutil.copy(spec, src / name / spec.parent.name / spec.name)
        elif p.is_dir():  # hfreduce/build: a developer's build tree, which setup.py must leave out anyway
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "build"))
        else:
            shutil.copy(p, src / name)
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    (whl,) = out.glob("ffinfra-*.whl")
    return whl


@pytest.mark.slow
def test_the_wheel_carries_roles_playbooks_templates_and_the_shipped_stacks(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "ffinfra/_assets/roles/common/tasks/main.yml",
        "ffinfra/_assets/roles/slurm_client/defaults/main.yml",
        "ffinfra/_assets/playbooks/site.yml",
        "ffinfra/_assets/templates/slurm/slurm.conf.j2",
        "ffinfra/_assets/stacks/lab/cluster.yaml",
        "ffinfra/_assets/hfreduce/csrc/comm.cpp",
        "ffinfra/_assets/hfreduce/pyproject.toml",
        "ffinfra/accept/suites/pytest.ini",
        "ffinfra/apply/lab/node_boot.sh",
        "ffinfra/apply/callback/ffinfra_events.py",
        "ffinfra/runtime/state.py",
    ):
        assert needed in names, needed
    assert not any("/secrets/" in n or n.endswith("state.json") for n in names)
    assert not any(n.startswith("ffinfra/_assets/hfreduce/build/") for n in names)


@pytest.mark.slow
def test_an_installed_ffinfra_builds_the_lab_from_any_folder(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("FFINFRA_STACKS", None)
    code = "import sys; from ffinfra.cli.app import main; sys.argv = ['ffinfra', *sys.argv[1:]]; main()"
    r = subprocess.run(
        [sys.executable, "-c", code, "build", "lab", "-o", str(work / "out")],
        cwd=work, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert (work / "out" / "slurm" / "slurm.conf").is_file() and (work / "out" / "manifest.json").is_file()
    r = subprocess.run(
        [sys.executable, "-c", "import ffinfra.assets as a; print(a.roles_dir())"],
        cwd=work, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert r.stdout.strip() == str(site / "ffinfra" / "_assets" / "roles"), r.stdout + r.stderr
