"""`play --reload`: load the newest published version into the running policy between episodes.

Only versions that LATEST points at are loaded, and LATEST moves only after a version's folder is
complete, so a half-written checkpoint is never read. A version that fails to load is reported
once and the current weights stay.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from vlm_agent.agent.model_loading import ModelLoadError
from vlm_agent.agent.policy import VLMPolicy
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.runtime.checkpoints import LATEST, CheckpointStore


class CheckpointWatcher:
    """A RolloutLoop `before_episode` hook that swaps in the weights of the root's newest version."""

    def __init__(self, policy: VLMPolicy, root: Path, on_event: Callable[[str], None] = lambda line: None):
        root = Path(root)
        if not (root / LATEST).exists():
            raise ValueError(f"{root}: --reload needs a checkpoint root (a folder with {LATEST}), as finetune --out writes")
        self.policy = policy
        self.store = CheckpointStore(root)
        self.on_event = on_event
        self._failed: set[str] = set()

    def __call__(self) -> None:
        try:
            ref = self.store.latest()
        except (OSError, FileNotFoundError) as error:
            self._report_once(str(error), str(error))
            return
        if ref is None or ref.name == self.policy.policy_version or ref.name in self._failed:
            return
        try:
            fresh = load_policy(ref.path, placement=self.policy.placement)  # the device and dtype it plays on
        except (ModelLoadError, OSError, ValueError) as error:
            self._report_once(ref.name, f"{ref.name}: not loaded ({error}); keeping {self.policy.policy_version}")
            return
        self.policy.model, self.policy.value_head = fresh.model, fresh.value_head
        self.policy.policy_version = ref.name
        self.on_event(f"loaded {ref.name}")

    def _report_once(self, key: str, line: str) -> None:
        if key not in self._failed:
            self._failed.add(key)
            self.on_event(line)


def watch_checkpoints(session, agent, model: Path | None, on_event: Callable[[str], None]) -> CheckpointWatcher:
    """Make a play session load the newest version of `model` (a checkpoint root) before each episode."""
    if not isinstance(agent, VLMPolicy):
        raise ValueError("--reload needs --agent vlm")
    if model is None:
        raise ValueError("--reload needs --model CHECKPOINT_ROOT (the --out of finetune)")
    watcher = CheckpointWatcher(agent, model, on_event)
    session.loop.before_episode = watcher
    return watcher
