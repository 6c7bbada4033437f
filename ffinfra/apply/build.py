"""The render step of `up`: every artifact into the build folder, the inventory into inventories/<stack>/."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ffinfra import assets
from ffinfra.errors import UserError
from ffinfra.render.artifact import Artifact
from ffinfra.render.bundle import write_bundle
from ffinfra.stack import StackRef
from ffinfra.topology.model import Topology


def project_root(stack: StackRef) -> Path:
    """The folder holding stacks/ (build/ and inventories/ go beside it); the working directory otherwise."""
    d = stack.dir.resolve()
    return d.parent.parent if d.parent.name == "stacks" else Path.cwd()


def build_dirs(stack: StackRef, name: str, build_dir: Path | None = None) -> tuple[Path, Path]:
    """Where a stack's files are rendered: build/<name>/ (or `build_dir`) and inventories/<name>/, beside stacks/."""
    root = project_root(stack)
    return (build_dir or root / "build" / name).resolve(), root / "inventories" / name


def require_writable_stack(stack: StackRef) -> None:
    """State, runs and secrets live in the stack's folder: not inside an installed ffinfra's own copy."""
    if assets.BUNDLED in stack.dir.resolve().parents:
        raise UserError(
            f"stack {stack.name!r} is the copy shipped inside ffinfra ({stack.dir}); its state cannot live there. "
            f"Copy it into a folder of yours first: mkdir -p stacks && cp -r {stack.dir} stacks/{stack.name}"
        )


def write_build(topo: Topology, artifacts: list[Artifact], build_dir: Path, inv_dir: Path) -> str:
    """Write the build folder and the inventory folder; returns a one-line account of what was written."""
    w, u, r = write_bundle(topo, artifacts, build_dir)
    inv = [replace(a, path=a.path.removeprefix("inventory/")) for a in artifacts if a.path.startswith("inventory/")]
    iw, iu, ir = write_bundle(topo, inv, inv_dir)
    return (
        f"{len(artifacts)} artifacts in {build_dir} ({w} written, {u} unchanged, {r} removed); "
        f"inventory in {inv_dir} ({iw} written, {iu} unchanged, {ir} removed)"
    )
