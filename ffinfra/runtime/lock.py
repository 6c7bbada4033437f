"""The stack lock: one `up`, `down` or `test` at a time on a stack, and a second one is told who holds it."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from ffinfra.errors import OperationalError


class LockHeld(OperationalError):
    pass


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
