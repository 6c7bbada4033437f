"""Golden files, byte for byte: every artifact of the lab stack, and the GPU-specific ones of `small` (a Fire-Flyer
style PCIe A100 node: NCCL environment and topology file, HFReduce environment, gres.conf), which the lab, having
no GPU, never renders.

A renderer change shows up here as a diff to review. To accept intended changes:
    FFINFRA_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ffinfra.compile import compile_stack
from ffinfra.render.targets import render_all
from ffinfra.stack import find_stack

ROOT = Path(__file__).resolve().parents[2]
# stack → which of its artifacts are kept as golden files (path prefixes; "" for all)
CASES = {
    "lab": ("",),
    "small": ("nccl/", "hfreduce/", "slurm/gres.conf", "slurm/slurm.conf"),
}


def _render(stack: str) -> dict[str, str]:
    topo = compile_stack(find_stack(str(ROOT / "stacks" / stack))).topology
    return {a.path: a.content for a in render_all(topo) if a.path.startswith(CASES[stack])}


@pytest.mark.parametrize("stack", sorted(CASES))
def test_artifacts_match_golden_files(stack: str):
    golden = Path(__file__).parent / stack
    rendered = _render(stack)
    if os.environ.get("FFINFRA_UPDATE_GOLDEN"):
        for old in golden.rglob("*"):
            if old.is_file() and str(old.relative_to(golden)) not in rendered:
                old.unlink()
        for path, content in rendered.items():
            (golden / path).parent.mkdir(parents=True, exist_ok=True)
            (golden / path).write_text(content)
    on_disk = {str(p.relative_to(golden)): p.read_text() for p in golden.rglob("*") if p.is_file()}
    assert sorted(on_disk) == sorted(rendered), "artifact set changed (FFINFRA_UPDATE_GOLDEN=1 to accept)"
    for path, content in rendered.items():
        assert content == on_disk[path], f"{path} differs from tests/golden/{stack}/{path}"


def test_the_gpu_golden_files_hold_what_a_pcie_a100_node_needs():
    golden = Path(__file__).parent / "small"
    nccl = (golden / "nccl" / "gpu-a100-pcie" / "nccl.conf").read_text()
    assert "NCCL_IB_PCI_RELAXED_ORDERING=1" in nccl and "NCCL_TOPO_FILE=/etc/nccl/topo.xml" in nccl
    assert "<gpu" in (golden / "nccl" / "gpu-a100-pcie" / "topo.xml").read_text()
    assert "HFREDUCE_" in (golden / "hfreduce" / "gpu-a100-pcie" / "hfreduce.env").read_text()
    assert "Name=gpu Type=a100" in (golden / "slurm" / "gres.conf").read_text()


def test_rendering_is_deterministic_across_runs():
    assert _render("lab") == _render("lab")


# Another interpreter with another hash seed: set and dict iteration orders change, the output must not.
_DIGEST = """
import hashlib, sys
from ffinfra.compile import compile_stack
from ffinfra.render.targets import render_all
from ffinfra.stack import find_stack
h = hashlib.sha256()
for a in render_all(compile_stack(find_stack(sys.argv[1])).topology):
    h.update(f"{a.path} {a.dest} {a.roles} {a.group} {a.sha256}\\n".encode())
print(h.hexdigest())
"""


@pytest.mark.parametrize("stack", ["lab", "small", "ff2"])
def test_rendering_is_identical_across_interpreters_with_different_hash_seeds(stack: str):
    digests = set()
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        r = subprocess.run(
            [sys.executable, "-c", _DIGEST, str(ROOT / "stacks" / stack)],
            capture_output=True, text=True, env=env, check=False, timeout=300,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        digests.add(r.stdout.strip())
    assert len(digests) == 1, digests
