"""An artifact: one rendered file, where it goes in the build tree, and which hosts receive it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Artifact:
    path: str  # relative path in the build tree, e.g. opensm/z0/opensm.conf
    content: str
    component: str  # opensm, fabric, slurm, nccl, hfreduce, os, inventory, hosts
    # who receives it: "all", "group:<name>", "role:<role>", "host:<name>", "profile:<hardware profile>" (every
    # host whose node group uses that profile), "operator"
    targets: str
    dest: str = ""  # absolute path on the target host, when it is installed there
    mode: int = 0o644

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()
