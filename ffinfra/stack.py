"""Find a stack: a folder under stacks/ holding cluster.yaml (and, once applied, its state)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ffinfra.assets import shipped_stacks_dir
from ffinfra.errors import StackNotFound

SPEC_FILE = "cluster.yaml"
DEFAULT_STACK = "lab"


@dataclass(frozen=True)
class StackRef:
    name: str
    dir: Path
    spec_path: Path
    label: str | None = None  # how to name the spec in messages when it is not a file the user has (git REF:path)

    @property
    def display_path(self) -> str:
        """The spec path as a user would type it (relative when under the working directory)."""
        if self.label:
            return self.label
        try:
            return str(self.spec_path.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(self.spec_path)


def stack_roots() -> list[Path]:
    roots = [Path.cwd() / "stacks"]
    if env := os.environ.get("FFINFRA_STACKS"):
        roots.insert(0, Path(env))
    # The stacks that ship with ffinfra (the embedded lab default): the checkout's, or the wheel's copies.
    roots.append(shipped_stacks_dir())
    return roots


def find_stack(arg: str | None) -> StackRef:
    """STACK is a name under stacks/, a stack folder, or a spec file; none means the lab stack."""
    arg = arg or DEFAULT_STACK
    p = Path(arg)
    if p.is_file():
        return StackRef(p.parent.name if p.name == SPEC_FILE else p.stem, p.parent, p)
    if p.is_dir() and (p / SPEC_FILE).is_file():
        return StackRef(p.resolve().name, p, p / SPEC_FILE)
    if "/" not in arg:
        for root in stack_roots():
            if (root / arg / SPEC_FILE).is_file():
                return StackRef(arg, root / arg, root / arg / SPEC_FILE)
    known = sorted({d.name for r in stack_roots() if r.is_dir() for d in r.iterdir() if (d / SPEC_FILE).is_file()})
    raise StackNotFound(
        f"no stack {arg!r}: give a name under stacks/, a folder with {SPEC_FILE}, or a spec file"
        + (f" (known stacks: {', '.join(known)})" if known else "")
    )
