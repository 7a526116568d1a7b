"""Atomic file writes: a reader sees the old file or the complete new one, never half of one."""
from __future__ import annotations

import errno
import json
import os
import socket
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


def write_atomic(path: Path, write: Callable[[IO[bytes]], None], *, exclusive: bool = False) -> None:
    """Write `path` through `write(file)` into a temp name beside it, fsync, then rename.

    With `exclusive`, an existing `path` is never replaced: FileExistsError naming it instead.
    A failed write (full disk, no permission) is WriteFailed naming `path`, and leaves no temp file.
    """
    path = Path(path)
    temp = partial_path(path)
    try:
        with writing(path):
            with open(temp, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
        if exclusive:
            try:
                os.link(temp, path)  # fails if `path` exists, where a rename would replace it
            except FileExistsError:
                raise FileExistsError(errno.EEXIST, "exists already (not replaced)", str(path)) from None
        else:
            with writing(path):
                os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def write_json_atomic(path: Path, data: dict, *, exclusive: bool = False) -> None:
    payload = (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode()
    write_atomic(path, lambda handle: handle.write(payload), exclusive=exclusive)


def partial_path(path: Path) -> Path:
    """The temp name `path` is written under: hidden, with the writer's pid and host, so a later writer can tell if it died."""
    return path.with_name(f".{path.name}.{os.getpid()}@{socket.gethostname()}{PARTIAL_SUFFIX}")


def is_partial(path: Path) -> bool:
    """A temp file of a write that never finished (the process died before the rename)."""
    return path.name.endswith(PARTIAL_SUFFIX)


def partial_owner(path: Path) -> tuple[int, str] | None:
    """(pid, host) of the process writing a temp file named by `partial_path`; None for other names."""
    stem = path.name.removesuffix(PARTIAL_SUFFIX)
    before, at, host = stem.rpartition("@")  # a host name may hold dots, never an @
    pid = before.rsplit(".", 1)[-1]
    return (int(pid), host) if path.name != stem and at and pid.isdigit() and host else None


def remove_dead_partials(paths: list[Path]) -> list[Path]:
    """Remove the temp files among `paths` whose writer was a process of this host that is gone; return them.

    A temp file of a live process (its write is in progress), of another host (its liveness cannot
    be asked) or with an older name (no host in it) is left alone.
    """
    host = socket.gethostname()
    removed = []
    for path in paths:
        owner = partial_owner(path)
        if owner is None or owner[1] != host or _alive(owner[0]):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def write_folder_atomic(folder: Path, fill: Callable[[Path], None], *, exclusive: bool = False) -> None:
    """Fill a temp folder beside `folder` through `fill(temp)`, then swap it in: the folder appears complete or not at all.

    With `exclusive`, a folder that holds anything is never replaced: FileExistsError naming it
    instead (an empty one is taken).
    """
    import shutil
    import tempfile

    folder = Path(folder)
    with writing(folder):
        folder.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        with writing(folder):
            fill(temp)
            if folder.exists() and not exclusive:
                shutil.rmtree(folder)
            try:
                temp.rename(folder)  # onto an existing folder only if it is empty
            except OSError as error:
                if not exclusive or error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                taken = False
            else:
                taken = True
        if not taken:
            raise FileExistsError(errno.EEXIST, "holds files already (not replaced)", str(folder))
    finally:
        if temp.exists():
            shutil.rmtree(temp)
    fsync_dir(folder.parent)
