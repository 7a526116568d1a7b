"""Plain online PPO in one process: play a round with the current policy, update on it, publish, repeat.

The pieces are the ones `play` and `finetune` use: the rollout loop logs every episode, and the
update reads the round's episodes back from the log, so an online run leaves the same logs and
checkpoints as the offline pair.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from vlm_agent.runtime.loop import LoopConfig
from vlm_agent.runtime.play import PlaySession
from vlm_agent.runtime.checkpoints import CheckpointRef
from vlm_agent.training.finetune import PPOTrainer, read_logs


def train_online(
    trainer: PPOTrainer,
    loop_config: LoopConfig,
    log_dir: Path,
    updates: int,
    warn: Callable[[str], None],
    on_update: Callable[[CheckpointRef, dict, dict], None],
    stop: Callable[[], bool],
    update_now: Callable[[], bool] = lambda: False,
    on_phase: Callable[[str, int], None] = lambda phase, waiting: None,
) -> int:
    """`updates` rounds of (play loop_config.episodes episodes, one PPO update); returns rounds done.

    `update_now()` returning True ends the round early: the update trains on the episodes finished
    so far. `on_phase(phase, 0)` says what the loop does now ("playing", "updating"); no episodes wait in this loop.
    """
    env_name = loop_config.env_id.split("/")[-1].split("-")[0].lower()
    done = 0
    while done < updates and not stop():
        round_config = LoopConfig(**{**vars(loop_config), "seed": loop_config.seed + trainer.updates * loop_config.starts})
        session = PlaySession(round_config, trainer.policy, log_dir, env_name, {"model": str(trainer.store.root)})
        on_phase("playing", 0)
        cut = False
        while not session.loop.finished and not stop():
            if update_now():
                cut = True
                break
            if not session.loop.step():
                break
        summary = session.finish()
        if stop():
            break
        if cut and not summary.get("episodes"):
            warn("no episode finished yet this round; playing on")
            continue
        on_phase("updating", 0)  # the round's episodes are all taken: none wait
        started = time.monotonic()
        metrics = trainer.update(read_logs([session.run_dir], warn), stop)
        metrics["update_seconds"] = time.monotonic() - started
        ref = trainer.publish(metrics)
        done += 1
        on_update(ref, metrics, summary)
    return done
