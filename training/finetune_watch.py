"""Periodic fine-tuning: wait until N new episodes have landed in the log folders, update, publish, repeat."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from vlm_agent.runtime.checkpoints import CheckpointRef
from vlm_agent.training.finetune import PPOTrainer, count_episode_files, read_logs


def watch(
    trainer: PPOTrainer,
    paths: list[Path],
    every: int,
    warn: Callable[[str], None],
    on_update: Callable[[CheckpointRef, dict], None],
    stop: Callable[[], bool],
    poll_seconds: float = 5.0,
    max_updates: int | None = None,
) -> int:
    """Train each time `every` episode files have appeared since the last update; returns updates made.

    The count of files seen is saved with each version, so a resumed watcher waits for episodes
    that are new to it. Data no version of the lineage may use any more (too stale) is waited on
    too: the next episodes played by a newer version will do.
    """
    made = 0
    seen = trainer.counters.get("episode_files", 0)
    while not stop() and (max_updates is None or made < max_updates):
        present = count_episode_files(paths)
        if present - seen < every:
            _sleep(poll_seconds, stop)
            continue
        try:
            metrics = trainer.update(read_logs(paths, warn), stop)
        except ValueError as error:  # nothing usable yet (all stale or scripted): wait for more
            warn(str(error))
            seen = present
            continue
        seen = present
        ref = trainer.publish(metrics, {"episode_files": present})
        made += 1
        on_update(ref, metrics)
    return made


def _sleep(seconds: float, stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stop():
        time.sleep(min(0.2, seconds))
