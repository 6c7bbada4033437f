"""An artifact: one rendered file, where it goes in the build tree, and who installs it where.

An installed artifact names its install path (`dest`), the Ansible roles that install it (`roles`: a host gets it
from whichever of them it runs, topology/services.py decides which) and the inventory group whose hosts receive it
(`group`: "all", or a group the compiler emits such as profile_<hardware profile> or sm_<subnet>).
render/placement.py resolves that to host → role → files; the roles select the same files from manifest.json with
the same two fields. An operator file (the cabling sheet, the inventory) has no dest and stays in the build folder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Artifact:
    path: str  # relative path in the build tree, e.g. opensm/z0/opensm.conf
    content: str
    component: str  # what it configures: opensm, fabric, slurm, nccl, hfreduce, os, inventory, hosts, acceptance
    dest: str = ""  # absolute install path on the hosts; "" for an operator file
    roles: tuple[str, ...] = ()  # the Ansible roles that install it
    group: str = "all"  # the inventory group whose hosts receive it
    mode: int = 0o644

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()

    @property
    def installed(self) -> bool:
        return bool(self.dest)

    @property
    def audience(self) -> str:
        """Who receives it, for people: "all via common", "sm_z0 via opensm", "operator"."""
        return f"{self.group} via {', '.join(self.roles)}" if self.dest else "operator"
