"""The one way ffinfra replaces a file: write a private temporary file next to it, fsync, rename over it.

A reader (or a crash) sees the old file or the new one, never half of one, and a file created with mode 0600 is
never readable by others, not even for a moment. `write_if_changed` leaves an identical file alone (its mtime
too), so a rebuild that changes nothing touches nothing.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes | str, mode: int = 0o644, *, durable: bool = True) -> None:
    """Replace `path` with `data` atomically, with permission bits `mode`. `durable` also fsyncs the folder, so
    the rename itself survives a power cut (state and secrets; build files can do without)."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # created 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        with contextlib.suppress(OSError):
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)


def write_if_changed(path: Path, data: bytes | str, mode: int = 0o644) -> bool:
    """Write only when the content differs (the mode is corrected either way); True when written."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    if path.is_file() and path.read_bytes() == raw:
        if (path.stat().st_mode & 0o777) != mode:
            path.chmod(mode)
        return False
    write_atomic(path, raw, mode, durable=False)
    return True
