"""Periodic fine-tuning: wait until N new episodes have landed in the log folders, update, publish, repeat."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from vlm_agent.runtime.checkpoints import CheckpointRef
from vlm_agent.training.finetune import PPOTrainer, count_episode_files, read_logs

# on_phase(phase, episodes_waiting): what the loop is doing now, for a live view ("waiting" or "updating").
PhaseCallback = Callable[[str, int], None]


def watch(
    trainer: PPOTrainer,
    paths: list[Path],
    every: int,
    warn: Callable[[str], None],
    on_update: Callable[[CheckpointRef, dict], None],
    stop: Callable[[], bool],
    poll_seconds: float = 5.0,
    max_updates: int | None = None,
    update_now: Callable[[], bool] = lambda: False,
    on_phase: PhaseCallback = lambda phase, waiting: None,
) -> int:
    """Train each time `every` episode files have appeared since the last update; returns updates made.

    The count of files seen is saved with each version, so a resumed watcher waits for episodes
    that are new to it. Data no version of the lineage may use any more (too stale) is waited on
    too: the next episodes played by a newer version will do. `update_now()` returning True
    trains on whatever new episodes there are without waiting for `every` (a live view's key).
    """
    made = 0
    seen = trainer.counters.get("episode_files", 0)
    while not stop() and (max_updates is None or made < max_updates):
        present = count_episode_files(paths)
        waiting = present - seen
        if waiting < every and not (waiting > 0 and update_now()):
            on_phase("waiting", waiting)
            _sleep(poll_seconds, stop)
            continue
        on_phase("updating", waiting)
        started = time.monotonic()
        try:
            metrics = trainer.update(read_logs(paths, warn), stop)
        except ValueError as error:  # nothing usable yet (all stale or scripted): wait for more
            warn(str(error))
            seen = present
            continue
        metrics["update_seconds"] = time.monotonic() - started
        seen = present
        ref = trainer.publish(metrics, {"episode_files": present})
        made += 1
        on_update(ref, metrics)
    return made


def _sleep(seconds: float, stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stop():
        time.sleep(min(0.2, seconds))
