"""A failed write as one error that names the file: full disk, read-only folder, no permission.

A write through an open handle (ENOSPC from `file.write`) carries no file name, and a temp file's
name is not the one the user asked for; `writing(path)` re-raises the OSErrors inside it as
WriteFailed naming `path`, so the CLI can say `cannot write PATH: No space left on device`.
"""
from __future__ import annotations

import contextlib
import errno
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


class WriteFailed(OSError):
    """Writing `filename` failed (`errno` and `strerror` are the system's: ENOSPC, EACCES, EROFS...)."""

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Re-raise the system's OSError inside the block as WriteFailed naming `path`.

    A WriteFailed passes as it is, and so does an OSError without an errno (one our code raised with its own message).
    """
    try:
        yield
    except WriteFailed:
        raise
    except OSError as error:
        if error.errno is None:
            raise
        raise WriteFailed(error.errno, error.strerror or str(error), str(path)) from error


def disk_full(folder: Path, margin: int = 1 << 20) -> bool:
    """Whether the file system holding `folder` has (almost) no space left: less than `margin` bytes free."""
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:
        return False


def check_writable(folder: Path, naming: Path | None = None) -> None:
    """WriteFailed naming `folder` (or the file `naming` in it) unless files can be made in it, or it can be made.

    Creates nothing that stays: the probe is an unnamed temp file in the nearest existing folder.
    Run it before expensive work whose results go to `folder`.
    """
    folder = Path(folder)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    with writing(naming or folder):
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{existing} is not a folder")
        with tempfile.TemporaryFile(dir=existing):
            pass
