"""The GPU path, its NVLink pair kernel and the ibverbs transport, compiled for real: HFReduce built with
HFREDUCE_CUDA=ON and HFREDUCE_NVLINK=ON against CUDA 13's runtime and nvcc (NVIDIA's nvidia-cuda-* wheels, a
toolkit laid out under nvidia/cu13) and HFREDUCE_IBVERBS=ON against rdma-core's. No GPU or RDMA device here runs
them: the module loads, reports all three, and still sums host buffers; GPU buffers need a GPU (test_gpu_run.py,
and docs/hfreduce.md says what to run there)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nvidia.cu13
import pytest

from ffinfra import assets

CUDA = Path(next(iter(nvidia.cu13.__path__)))  # bin/nvcc, include/, lib/libcudart.so.13, nvvm/


@pytest.fixture(scope="module")
def gpu_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gpu-build")
    r = subprocess.run(
        [
            sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out / "wheel"),
            "-C", f"build-dir={out / 'build'}",
            "-C", "cmake.define.HFREDUCE_CUDA=ON",
            "-C", "cmake.define.HFREDUCE_NVLINK=ON",
            "-C", f"cmake.define.HFREDUCE_CUDA_ROOT={CUDA}",
            "-C", "cmake.define.HFREDUCE_IBVERBS=ON",
            "-C", "cmake.define.HFREDUCE_SIMD_MAX=avx2",
            str(assets.asset_dir("hfreduce")),
        ],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (whl,) = (out / "wheel").glob("hfreduce-*.whl")
    site = out / "site"
    zipfile.ZipFile(whl).extractall(site)
    return site


def run(site: Path, code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(site), "LD_LIBRARY_PATH": str(CUDA / "lib")}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_the_build_has_the_gpu_path_the_pair_kernel_and_rdma(gpu_build):
    info = json.loads(run(gpu_build, "import hfreduce, json; print(json.dumps(hfreduce.build_info()))"))
    assert info["cuda"] is True and info["nvlink"] is True and info["transports"] == ["tcp", "ibverbs"]
    assert info["simd_compiled"] == ["generic", "avx", "avx2"]  # the ceiling a profile asks for


def test_the_pair_kernel_is_machine_code_for_a100_and_h100_and_ptx_beyond(gpu_build):
    """The fat binary nvcc embedded holds SASS for sm_80 and sm_90 and PTX for newer GPUs, as cuobjdump lists."""
    (core,) = (gpu_build / "hfreduce").glob("_core*.so")
    listing = subprocess.run(
        [str(CUDA / "bin" / "cuobjdump"), "--list-elf", "--list-ptx", str(core)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "sm_80" in listing and "sm_90" in listing and ".ptx" in listing, listing


def test_it_still_sums_host_buffers(gpu_build):
    code = (
        "import hfreduce, numpy as np, socket\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()\n"
        "c = hfreduce.Communicator(0, 1, f'127.0.0.1:{port}')\n"
        "x = np.arange(10, dtype=np.float32); c.allreduce(x); print(x.sum())\n"
    )
    assert run(gpu_build, code).strip() == "45.0"


def test_the_module_carries_its_own_cuda_runtime(gpu_build):
    """CUDA's runtime is linked in statically: a job's other runtime (PyTorch's, often another release) can neither
    shadow it nor lack a symbol the pair kernel's code calls."""
    (core,) = (gpu_build / "hfreduce").glob("_core*.so")
    needed = subprocess.run(["readelf", "-d", str(core)], capture_output=True, text=True, check=True).stdout
    assert "libcudart" not in needed, needed
