"""Packaging hook: the wheel carries roles/, playbooks/, templates/, HFReduce's source and the shipped stacks' specs under
ffinfra/_assets/, so an installed ffinfra works outside its checkout (ffinfra/assets.py finds them).
Everything else about the package is in pyproject.toml."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# What a stack folder may ship: its spec and an inventory CSV; never state, runs or secrets.
STACK_FILES = ("cluster.yaml", "*.csv", "references.yaml")


class BuildWithAssets(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's folders directly
            return
        dest = Path(self.build_lib) / "ffinfra" / "_assets"
        shutil.rmtree(dest, ignore_errors=True)
        for kind in ("roles", "playbooks", "templates", "hfreduce"):
            # hfreduce/build is a local build tree, not source
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
            shutil.copytree(ROOT / kind, dest / kind, ignore=ignore)
        for stack in sorted((ROOT / "stacks").iterdir()):
            for pattern in STACK_FILES:
                for f in stack.glob(pattern):
                    (dest / "stacks" / stack.name).mkdir(parents=True, exist_ok=True)
                    shutil.copy2(f, dest / "stacks" / stack.name / f.name)


setup(cmdclass={"build_py": BuildWithAssets})
