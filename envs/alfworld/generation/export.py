"""Generated ALFWorld games written into a folder the caller names (`vlm-agent envs generate alfworld --out DIR`).

The games are generated once into the cache (`generated_data_root`, reused by every later call for
the same seed and size) and hard-linked from there, or copied where the two folders are on different
disks, into a temp folder beside `out` that is renamed to `out` when complete: `out` holds a whole set
or nothing, and a folder that already holds anything is never replaced. The folder is laid out like
`$ALFWORLD_DATA`, with the cache's `generated.json`, so `--alfworld-data DIR` plays it and results
name its seed. The files are shared with the cache: the games are read, never edited.
"""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Callable

from vlm_agent.core.atomic import fsync_dir, write_folder_atomic
from vlm_agent.envs.alfworld.engine.games import SPLITS
from vlm_agent.envs.alfworld.generation.generate import generated_data_root


def export_generated_games(out: Path, seed: int, games_per_split: int | None = None, *,
                           progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Write the generated games of `seed` into `out` (new or empty) and return the games per split.

    An `out` that holds anything is refused (FileExistsError naming it) before any game is generated.
    """
    out = Path(out)
    refuse_occupied(out)
    source = generated_data_root(seed, games_per_split, progress=progress)
    write_folder_atomic(out, lambda temp: _link_tree(source, temp), exclusive=True)
    return games_by_split(out)


def refuse_occupied(out: Path) -> None:
    """FileExistsError naming `out` unless it is missing or an empty folder."""
    if not out.exists():
        return
    if not out.is_dir():
        raise FileExistsError(errno.EEXIST, "exists and is not a folder", str(out))
    held = sum(games_by_split(out).values())
    if held:
        raise FileExistsError(errno.EEXIST, f"holds {held} ALFWorld games already; generated games go into a new or empty folder", str(out))
    if any(out.iterdir()):
        raise FileExistsError(errno.EEXIST, "is not empty; generated games go into a new or empty folder", str(out))


def games_by_split(root: Path) -> dict[str, int]:
    """The game files of each split under `root` (official layout), for the splits that have any."""
    counts = {split: len(list((root / "json_2.1.1" / split).glob("*/*/game.tw-pddl"))) for split in SPLITS}
    return {split: count for split, count in counts.items() if count}


def _link_tree(source: Path, target: Path) -> None:
    """`source`'s files hard-linked (or copied) under `target`, every new directory entry synced."""
    folders = [target]
    for path in sorted(source.rglob("*")):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir()
            folders.append(destination)
        else:
            _link_or_copy(path, destination)
    for folder in folders:
        fsync_dir(folder)


def _link_or_copy(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
    except OSError:  # another disk, or a file system without hard links; a real failure recurs in the copy
        shutil.copyfile(source, destination)
        with open(destination, "rb+") as handle:
            os.fsync(handle.fileno())
