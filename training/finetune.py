"""PPO fine-tuning from logged episodes: a trainer that updates the policy and publishes versions.

The checkpoint root's first version is the start model itself, so `play --model ROOT --reload`
can begin before any update and every version, the start included, has a name in one lineage.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable

import torch

from vlm_agent.agent.model_loading import load_vlm
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.core.atomic import is_partial
from vlm_agent.runtime.episode_log import MANIFEST
from vlm_agent.runtime.log_reader import Episode, LogFormatError, read_episode
from vlm_agent.runtime.checkpoints import CheckpointRef, CheckpointStore
from vlm_agent.training.lora import ADAPTER_DIR, add_lora, is_lora, load_lora, save_policy
from vlm_agent.training.metrics_log import MetricsLog
from vlm_agent.training.ppo_config import PPOConfig
from vlm_agent.training.ppo_data import DataReport, Lineage, build_ppo_samples, group_relative_advantages, teacher_examples
from vlm_agent.training.ppo_update import ppo_update
from vlm_agent.training.trainer_state import COUNTERS_FILE, load_trainer_state, save_trainer_state
from vlm_agent.training.value_warmup import warm_up_value_head

RUN_FILES = {MANIFEST, "summary.json"}  # what a run folder holds besides episodes


def read_logs(paths: Iterable[Path], warn: Callable[[str], None]) -> list[Episode]:
    """Every readable episode under `paths`; corrupt or foreign files are skipped with `warn(line)`."""
    episodes = []
    for root in map(Path, paths):
        if not root.exists():
            raise FileNotFoundError(f"{root}: no such file or folder")
        for path in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()):
            if is_partial(path) or path.name in RUN_FILES:
                continue  # an episode still being written, or run bookkeeping
            if path.suffix != ".parquet":
                warn(f"{path}: not an episode log, skipped")
                continue
            try:
                episodes.append(read_episode(path))
            except LogFormatError as error:
                warn(f"{error}, skipped")
    return episodes


def count_episode_files(paths: Iterable[Path]) -> int:
    return sum(1 for root in map(Path, paths) if root.exists() for p in root.rglob("*.parquet") if not is_partial(p))


def cosine_schedule(optimizer, config: PPOConfig):
    """lr cosine-annealed to lr_min over `total_updates` updates (stepped once per update), then flat."""
    floor = config.lr_min / config.lr if config.lr > 0 else 0.0

    def factor(update: int) -> float:
        progress = min(1.0, update / config.total_updates)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def data_metrics(report: DataReport) -> dict:
    stale = sum(n for reason, n in report.skipped.items() if reason.startswith("older than"))
    return {"episodes": report.episodes, "mean_return": report.mean_return, "success_rate": report.success_rate,
            "dropped_stale": stale, "skipped": dict(report.skipped)}


class PPOTrainer:
    """Holds the policy, optimizer and scheduler; `update` trains on episodes, `publish` saves a version."""

    def __init__(self, start_model: Path | None, out: Path, config: PPOConfig, resume: bool = False, sampling: dict | None = None,
                 run_options: dict | None = None):
        self.config = config
        self.run_options = run_options  # stored as meta["run"] in every version published: `--config VERSION` re-runs it
        self.store = CheckpointStore(out)
        self.store.clean_partial()
        latest = self.store.latest()
        if latest is not None and not resume:
            raise ValueError(f"{out}: already holds checkpoints (latest {latest.name}); pass --resume to continue them or choose a new --out")
        if latest is None:
            latest = self._publish_start(start_model)
        self.policy = load_policy(latest.path, **(sampling or {}))
        counters = load_trainer_state_counters(latest)
        if counters and counters.get("lora_r", 0) != config.lora_r:
            raise ValueError(f"{out}: was trained with --lora-r {counters.get('lora_r', 0)}; resume with the same rank")
        if config.lora_r:
            if (latest.path / ADAPTER_DIR).is_dir():
                base, _ = load_vlm(self.store.versions()[0].path)
                load_lora(self.policy, base, latest.path / ADAPTER_DIR)
            else:
                add_lora(self.policy, config.lora_r, config.lora_alpha)
        trainable = [p for p in self.policy.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=config.lr, eps=1e-5, weight_decay=0.0)
        self.scheduler = cosine_schedule(self.optimizer, config)
        self.counters = load_trainer_state(latest.path, self.optimizer, self.scheduler) if counters else {}
        self.updates = self.counters.get("update", 0)
        self.metrics_log = MetricsLog(self.store.root)

    def _publish_start(self, start_model: Path | None) -> CheckpointRef:
        if start_model is None:
            raise ValueError("--model is needed to start a new checkpoint root")
        start = load_policy(start_model)
        meta = {"kind": "start", "source": str(start_model), "source_version": start.policy_version, "run": self.run_options}
        return self.store.publish(start.save_pretrained, meta)

    @property
    def version(self) -> str:
        return self.policy.policy_version

    def update(self, episodes: list[Episode], stop: Callable[[], bool] = lambda: False) -> dict:
        """One PPO update on the steps of `episodes` that the current lineage may still use."""
        config = self.config
        warmup = {}
        if config.advantage == "gae" and config.value_warmup_epochs and not self.counters.get("value_warmed_up"):
            episodes, warmup = warm_up_value_head(self.policy, list(episodes), config.gamma, config.value_warmup_epochs, seed=config.seed)
            self.counters["value_warmed_up"] = True  # once per checkpoint root: later updates train the head with PPO
        samples, report = build_ppo_samples(
            episodes, config.gamma, config.gae_lambda, self.version, config.max_version_lag, Lineage(self.store.root)
        )
        if not samples:
            reasons = "; ".join(f"{n} steps: {why}" for why, n in report.skipped.items()) or "no steps"
            raise ValueError(f"no policy steps to train on ({reasons})")
        if config.advantage == "grpo":
            group_relative_advantages(samples)
        teacher = teacher_examples(episodes) if config.bc_coef > 0 else []
        self.policy.train(True)
        try:
            metrics = ppo_update(self.policy, samples, self.optimizer, self.config, teacher, stop)
        finally:
            self.policy.train(False)
        self.scheduler.step()
        self.updates += 1
        metrics.update(data_metrics(report), **warmup, teacher_steps=len(teacher), trained_from=self.version)
        return metrics

    def publish(self, metrics: dict, counters: dict | None = None) -> CheckpointRef:
        """Save the policy and the training state as a new version; the policy takes its name."""
        self.counters = {**self.counters, **(counters or {}), "update": self.updates, "lora_r": self.config.lora_r, "kind": "ppo"}

        def save(folder: Path) -> None:
            save_policy(self.policy, folder)
            save_trainer_state(folder, self.optimizer, self.scheduler, self.counters)

        summary = {k: v for k, v in metrics.items() if k != "first_minibatch"}
        ref = self.store.publish(save, {"kind": "ppo", "update": self.updates, "metrics": summary, "config": asdict(self.config), "lora": is_lora(self.policy), "run": self.run_options})
        self.policy.policy_version = ref.name
        self.metrics_log.log(self.updates, {**summary, "version": ref.name})
        return ref

    def close(self) -> None:
        self.metrics_log.close()


def load_trainer_state_counters(ref: CheckpointRef) -> dict:
    """The counters a PPO version saved ({} for the start version or a version of another trainer)."""
    if ref.meta().get("kind") != "ppo":
        return {}
    return json.loads((ref.path / COUNTERS_FILE).read_text())


def finetune_once(trainer: PPOTrainer, paths: list[Path], warn: Callable[[str], None], stop: Callable[[], bool] = lambda: False) -> tuple[CheckpointRef, dict]:
    """Read every episode under `paths`, make one PPO update, publish it."""
    episodes = read_logs(paths, warn)
    if not episodes:
        raise ValueError(f"{', '.join(map(str, paths))}: no episode logs found")
    metrics = trainer.update(episodes, stop)
    ref = trainer.publish(metrics, {"episode_files": count_episode_files(paths)})
    return ref, metrics
