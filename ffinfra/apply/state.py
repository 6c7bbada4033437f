"""What was applied where, the stack lock, and per-run logs.

stacks/<name>/state.json          per host, per role: artifact hashes, versions, time (atomic replace)
stacks/<name>/state/lock          fcntl lock held for the whole of `up` / `down` (holds the holder's pid)
stacks/<name>/state/<provider>/   the provider's own bookkeeping (lab: node dirs, PIDs)
stacks/<name>/runs/<UTC stamp>/   one folder per run: a log per phase, the playbook's output, summary.json
stacks/<name>/secrets/            see secrets.py
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ffinfra.errors import OperationalError

STATE_VERSION = 1


class LockHeld(OperationalError):
    pass


@dataclass(frozen=True)
class StackPaths:
    root: Path  # the stack folder (holds cluster.yaml)

    @property
    def state_json(self) -> Path:
        return self.root / "state.json"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def lock(self) -> Path:
        return self.state_dir / "lock"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    def provider_dir(self, provider: str) -> Path:
        return self.state_dir / provider


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- lock -----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def stack_lock(path: Path, what: str = "ffinfra up") -> Iterator[None]:
    """Exclusive, non-blocking: a second `up` (or `down`) on the same stack fails at once and names the holder.
    The kernel drops the lock when the holder dies, so a killed run never leaves a stale lock behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "?"
            pid, _, cmd = holder.partition(" ")
            raise LockHeld(
                f"another {cmd or 'ffinfra run'} (pid {pid}) holds the lock on this stack ({path}); "
                "wait for it to finish, or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {what}\n".encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_holder(path: Path) -> int | None:
    """The pid holding the lock, or None (without taking it for longer than a probe)."""
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            text = os.pread(fd, 200, 0).decode(errors="replace").split()
            return int(text[0]) if text and text[0].isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# -- state.json -----------------------------------------------------------------------------------------------


def load_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        return empty_state()
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise OperationalError(f"{path} is not valid JSON ({exc}); move it aside and run `ffinfra up` again") from None
    if not isinstance(data, dict):
        raise OperationalError(f"{path} does not hold a state object; move it aside and run `ffinfra up` again")
    data.setdefault("hosts", {})
    return data


def empty_state() -> dict[str, Any]:
    return {"version": STATE_VERSION, "hosts": {}}


def save_state(path: Path, data: dict[str, Any]) -> None:
    """Atomic: a reader (or a crash) sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


# -- runs -----------------------------------------------------------------------------------------------------


class RunDir:
    """runs/<UTC timestamp>/ with one log file per phase; every line goes through the redactor."""

    def __init__(self, path: Path, redact: Callable[[str], str] = lambda s: s):
        self.path = path
        self.redact = redact
        self._files: dict[str, TextIO] = {}

    @classmethod
    def create(cls, runs: Path, redact: Callable[[str], str] = lambda s: s, now: dt.datetime | None = None) -> RunDir:
        stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
        runs.mkdir(parents=True, exist_ok=True)
        for i in range(1000):
            p = runs / (stamp if i == 0 else f"{stamp}-{i}")
            try:
                p.mkdir(mode=0o750)
            except FileExistsError:
                continue
            return cls(p, redact)
        raise OperationalError(f"cannot create a run folder under {runs}")

    def log_path(self, phase: str) -> Path:
        return self.path / f"{phase}.log"

    def log(self, phase: str, line: str) -> None:
        fh = self._files.get(phase)
        if fh is None:
            fh = self._files[phase] = self.log_path(phase).open("a", buffering=1)
        stamp = dt.datetime.now(dt.UTC).strftime("%H:%M:%S.%f")[:-3]
        for part in self.redact(line).splitlines() or [""]:
            fh.write(f"{stamp} {part}\n")

    def write_json(self, name: str, data: object) -> Path:
        p = self.path / name
        p.write_text(self.redact(json.dumps(data, indent=2, sort_keys=True)) + "\n")
        return p

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()
