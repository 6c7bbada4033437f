"""The base of a plan: an older spec from a path, or from a git revision of the repository holding the stack.

A git base is materialised into a temporary folder (the spec and the inventory CSV it names), so it compiles
exactly like a stack on disk; messages name it as REF:path so a reviewer knows which side is wrong.
"""

from __future__ import annotations

import contextlib
import posixpath
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

from ffinfra.errors import UserError
from ffinfra.stack import SPEC_FILE, StackRef, find_stack


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    if shutil.which("git") is None:
        raise UserError("--base REF needs git, which is not installed; or give a path to the older spec")
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60, check=False)


def _show(ref: str, rel: str, root: Path) -> bytes | None:
    r = _git(["show", f"{ref}:{rel}"], root)
    return r.stdout if r.returncode == 0 else None


@contextlib.contextmanager
def base_stack(stack: StackRef, base: str) -> Iterator[StackRef]:
    """Yield the StackRef of the base: `base` is a spec file or stack folder, else a git revision."""
    p = Path(base)
    if p.is_file() or (p.is_dir() and (p / SPEC_FILE).is_file()):
        yield find_stack(base)
        return
    spec = stack.spec_path.resolve()
    top = _git(["rev-parse", "--show-toplevel"], spec.parent)
    if top.returncode != 0:
        raise UserError(
            f"--base {base!r} is neither a spec path nor a git revision: {spec.parent} is not in a git repository"
        )
    root = Path(top.stdout.decode().strip())
    if _git(["rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], root).returncode != 0:
        raise UserError(f"--base {base!r}: no such file, folder or git revision")
    rel = spec.relative_to(root).as_posix()
    text = _show(base, rel, root)
    if text is None:
        raise UserError(f"{rel} does not exist at {base}: a new stack has no base to compare (use `ffinfra show`)")
    with tempfile.TemporaryDirectory(prefix="ffinfra-base-") as tmp:
        # The repository's layout under tmp, so a CSV path relative to the spec (../shared/nodes.csv) lands right.
        spec_copy = Path(tmp) / rel
        spec_copy.parent.mkdir(parents=True)
        spec_copy.write_bytes(text)
        try:
            csv = ((yaml.safe_load(text) or {}).get("inventory") or {}).get("csv")
        except (yaml.YAMLError, AttributeError):
            csv = None  # the compiler reports the bad YAML with its location
        if isinstance(csv, str):
            # git show takes normalised paths only (no "..")
            csv_rel = posixpath.normpath(posixpath.join(posixpath.dirname(rel), csv))
            data = None if csv_rel.startswith(("../", "/")) else _show(base, csv_rel, root)
            if data is not None:  # else the compiler reports the missing CSV at the spec's inventory.csv
                (Path(tmp) / csv_rel).parent.mkdir(parents=True, exist_ok=True)
                (Path(tmp) / csv_rel).write_bytes(data)
        yield StackRef(stack.name, spec_copy.parent, spec_copy, label=f"{base}:{rel}")
