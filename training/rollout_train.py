"""Online PPO with rollout workers on Ray: the workers play and log, this process trains from their folder.

It is `finetune --watch` over the folder the workers write, with the workers started first and
stopped after the last update. Each published version is what the workers load between episodes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from vlm_agent.agent.sampling_config import SamplingConfig
from vlm_agent.runtime.checkpoints import CheckpointRef
from vlm_agent.runtime.loop import LoopConfig
from vlm_agent.runtime.rollout_workers import RolloutTally, WorkerPool, WorkersConfig, WorkerSpec, new_rollout_folder
from vlm_agent.training.finetune import PPOTrainer
from vlm_agent.training.finetune_watch import watch


def train_with_workers(
    trainer: PPOTrainer,
    loop_config: LoopConfig,
    workers: WorkersConfig,
    sampling: SamplingConfig,
    log_dir: Path,
    updates: int,
    warn: Callable[[str], None],
    on_update: Callable[[CheckpointRef, dict], None],
    stop: Callable[[], bool],
    on_start: Callable[[Path], None] = lambda folder: None,
    poll_seconds: float = 0.5,
) -> tuple[int, RolloutTally]:
    """Train `updates` times, each on `loop_config.episodes` new episodes; returns (updates made, the folder's tally).

    ValueError when every worker is gone (their restarts spent) before the updates are made.
    """
    folder = new_rollout_folder(log_dir, loop_config.env_id)
    spec = WorkerSpec(loop=loop_config, folder=folder, model=trainer.store.root, reload=True, sampling=sampling,
                      manifest={"trainer": str(trainer.store.root)})
    pool = WorkerPool(spec, workers, warn)
    fatal: list[ValueError] = []

    def stopping() -> bool:
        if stop() or fatal:
            return True
        try:
            pool.check()
        except ValueError as error:
            fatal.append(error)
        return bool(fatal)

    # The folder is new: its episode count starts at 0, whatever the resumed root counted before.
    trainer.counters["episode_files"] = 0
    made = 0
    try:
        pool.start()
        on_start(folder)
        made = watch(trainer, [folder], loop_config.episodes, warn, on_update, stopping, poll_seconds, max_updates=updates)
    finally:
        result = pool.close()
    if fatal:
        raise fatal[0]
    return made, result
