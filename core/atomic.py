"""Atomic file writes: a reader sees the old file or the complete new one, never half of one."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, IO

from vlm_agent.core.write_errors import writing

PARTIAL_SUFFIX = ".partial"


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (a crash right after it keeps the new name)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write `path` through `write(file)` into a temp name beside it, fsync, then rename.

    A failed write (full disk, no permission) is WriteFailed naming `path`, and leaves no temp file.
    """
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}{PARTIAL_SUFFIX}")
    try:
        with writing(path):
            with open(temp, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def write_json_atomic(path: Path, data: dict) -> None:
    payload = (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode()
    write_atomic(path, lambda handle: handle.write(payload))


def is_partial(path: Path) -> bool:
    """A temp file of a write that never finished (the process died before the rename)."""
    return path.name.endswith(PARTIAL_SUFFIX)


def write_folder_atomic(folder: Path, fill: Callable[[Path], None]) -> None:
    """Fill a temp folder beside `folder` through `fill(temp)`, then swap it in: the folder appears complete or not at all."""
    import shutil
    import tempfile

    folder = Path(folder)
    with writing(folder):
        folder.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        with writing(folder):
            fill(temp)
            if folder.exists():
                shutil.rmtree(folder)
            temp.rename(folder)
    finally:
        if temp.exists():
            shutil.rmtree(temp)
    fsync_dir(folder.parent)
