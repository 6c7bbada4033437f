"""The session's view of the cluster under test: its compiled topology and artifacts (the plan), the pass marks,
and SSH to every node (paramiko for commands, testinfra for node state, over the same connections)."""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
import testinfra.host
from testinfra.backend.paramiko import ParamikoBackend

from ffinfra.accept.context import ENV, RunContext
from ffinfra.accept.references import with_references
from ffinfra.accept.storage import StoragePlan, storage_plan
from ffinfra.apply.providers import fabric_is_simulated, get_provider
from ffinfra.compile import Compiled, compile_stack
from ffinfra.errors import OperationalError, UserError
from ffinfra.render.artifact import Artifact
from ffinfra.render.placement import installed_files, place
from ffinfra.render.targets import render_all
from ffinfra.runtime.paths import StackPaths
from ffinfra.runtime.secrets import StackSecrets
from ffinfra.runtime.ssh import CmdResult, Remote
from ffinfra.stack import find_stack
from ffinfra.topology.model import Topology
from ffinfra.topology.thresholds import Threshold, derive_thresholds


class _SharedParamiko(ParamikoBackend):
    """testinfra's paramiko backend on a connection Remote opened (host key checked, proxy honoured)."""

    def __init__(self, remote: Remote, name: str):
        self._remote = remote
        super().__init__(f"paramiko://root@{name}")

    @functools.cached_property
    def client(self) -> paramiko.SSHClient:
        return self._remote.client(self.host.name)


@dataclass
class Cluster:
    ctx: RunContext
    compiled: Compiled
    artifacts: list[Artifact]
    remote: Remote
    thresholds: dict[str, Threshold]
    repeats: int
    python: str
    sim: bool  # the fabric is ibsim's (lab): IB tools attach through libumad2sim on the SM node
    _hosts: dict[str, testinfra.host.Host] = field(default_factory=dict)

    @property
    def topo(self) -> Topology:
        return self.compiled.topology

    @property
    def controller(self) -> str:
        return self.topo.services.slurm_controller

    @functools.cached_property
    def installed_files(self) -> dict[str, dict[str, str]]:
        """host → {install path: sha256} of every file ffinfra's roles put there (render/placement.py)."""
        return installed_files(place(self.topo, self.artifacts))

    @functools.cached_property
    def storage(self) -> StoragePlan:
        """Where the storage suite runs fio (probed once: is 3FS mounted on the compute nodes?)."""
        return storage_plan(self)

    def sh(self, host: str, command: str, timeout: float = 60.0) -> CmdResult:
        return self.remote.run(host, command, timeout)

    def host(self, name: str) -> testinfra.host.Host:
        if name not in self._hosts:
            self._hosts[name] = testinfra.host.Host(_SharedParamiko(self.remote, name))
        return self._hosts[name]

    def close(self) -> None:
        self.remote.close()


def default_python(provider: str) -> str:
    """The Python the training job runs with: in the lab, this very venv (with torch), which the nodes see at its
    own path (their root is an overlay of this machine's /, and the lab binds the venv where /tmp hides it);
    elsewhere the nodes' python3."""
    return sys.executable if provider == "lab" else "python3"


def open_cluster(ctx: RunContext) -> Cluster:
    compiled = compile_stack(find_stack(ctx.stack), tuple(ctx.suppress))
    topo = compiled.topology
    paths = StackPaths(compiled.stack.dir)
    provider = get_provider(ctx.provider, topo.name, paths.state_dir, topo)
    access = provider.access()
    missing = [h.name for h in topo.hosts if h.name not in access]
    if missing:
        raise UserError(
            f"stack {topo.name!r} is not running: no node {', '.join(missing)} "
            f"(bring it up with `ffinfra up {topo.name}`)"
        )
    secrets = StackSecrets(paths.secrets)
    if not secrets.operator_key.is_file() or not secrets.known_hosts.is_file():
        raise OperationalError(f"no operator key or known_hosts in {paths.secrets}: run `ffinfra up` first")
    remote = secrets.remote([access[h.name] for h in topo.hosts])
    a = topo.spec.acceptance
    return Cluster(
        ctx=ctx,
        compiled=compiled,
        artifacts=render_all(topo),
        remote=remote,
        thresholds=with_references({t.metric: t for t in derive_thresholds(topo)}, compiled.stack.dir),
        repeats=ctx.repeats or a.repeats,
        python=ctx.python or default_python(ctx.provider),
        sim=fabric_is_simulated(ctx.provider),
    )


def context_path() -> Path:
    p = os.environ.get(ENV)
    if not p:
        raise UserError(f"the acceptance suites run under `ffinfra test` ({ENV} is not set)")
    return Path(p)
