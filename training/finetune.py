"""PPO fine-tuning from logged episodes: a trainer that updates the policy and publishes versions.

The checkpoint root's first version is the start model itself, so `play --model ROOT --reload`
can begin before any update and every version, the start included, has a name in one lineage.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import torch

from vlm_agent.agent.device_config import DeviceConfig
from vlm_agent.agent.model_loading import load_vlm
from vlm_agent.core.atomic import is_partial
from vlm_agent.runtime.checkpoints import CheckpointRef, CheckpointStore
from vlm_agent.runtime.episode_log import MANIFEST
from vlm_agent.runtime.log_reader import Episode, LogFormatError, read_episode
from vlm_agent.training import distributed
from vlm_agent.training.lora import ADAPTER_DIR, add_lora, is_lora, load_lora
from vlm_agent.training.ppo_config import PPOConfig
from vlm_agent.training.ppo_data import DataReport, Lineage, build_ppo_samples, group_relative_advantages, teacher_examples
from vlm_agent.training.ppo_update import ppo_update
from vlm_agent.training.run_scaffold import TrainingRun, cosine_factor
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


def data_metrics(report: DataReport) -> dict:
    stale = sum(n for reason, n in report.skipped.items() if reason.startswith("older than"))
    return {"episodes": report.episodes, "mean_return": report.mean_return, "success_rate": report.success_rate,
            "dropped_stale": stale, "skipped": dict(report.skipped)}


class PPOTrainer:
    """Holds the policy, optimizer and scheduler; `update` trains on episodes, `publish` saves a version.

    `run_options`, when given, is stored as meta["run"] in every version this trainer publishes.
    `device` says where and in what precision; under torchrun every rank holds a trainer, each
    scores its share of every minibatch, and rank 0 alone publishes (training/distributed.py).
    """

    def __init__(self, start_model: Path | None, out: Path, config: PPOConfig, resume: bool = False, sampling: dict | None = None,
                 run_options: dict | None = None, device: DeviceConfig | None = None):
        self.config = config
        self.run = TrainingRun(out, "ppo", config, resume, run_options, counter="update", device=device, lora=config.lora_r > 0)
        self.policy = self.run.load_policy(start_model, publish_start=True, **(sampling or {}))
        saved = self.run.saved_counters()
        if saved and saved.get("lora_r", 0) != config.lora_r:
            raise ValueError(f"{out}: was trained with --lora-r {saved.get('lora_r', 0)}; resume with the same rank")
        if config.lora_r:
            if (self.run.latest.path / ADAPTER_DIR).is_dir():
                placement = self.run.placement
                base, _ = load_vlm(self.store.versions()[0].path, placement.dtype, placement.device, placement.attn_implementation)
                load_lora(self.policy, base, self.run.latest.path / ADAPTER_DIR)
            else:
                add_lora(self.policy, config.lora_r, config.lora_alpha)
        self.run.shard()
        trainable = [p for p in self.policy.parameters() if p.requires_grad]
        floor = config.lr_min / config.lr if config.lr > 0 else 0.0
        # Cosine-annealed to lr_min over total_updates updates (stepped once per update), then flat.
        factor = lambda update: cosine_factor(update, 0, config.total_updates, floor)  # noqa: E731
        self.run.build_optimizer(trainable, config.lr, factor, eps=1e-5, weight_decay=0.0)
        self.updates = self.counters.get("update", 0)

    @property
    def store(self) -> CheckpointStore:
        return self.run.store

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.run.optimizer

    @property
    def scheduler(self):
        return self.run.scheduler

    @property
    def counters(self) -> dict:
        """What the newest version saved (update, episode_files, value_warmed_up, ...), updated on each publish."""
        return self.run.counters

    @property
    def version(self) -> str:
        return self.policy.policy_version

    def update(self, episodes: list[Episode], stop: Callable[[], bool] = lambda: False) -> dict:
        """One PPO update on the steps of `episodes` that the current lineage may still use."""
        config = self.config
        warmup = {}
        if config.advantage == "gae" and config.value_warmup_epochs and not self.counters.get("value_warmed_up"):
            episodes, warmup = warm_up_value_head(self.policy, list(episodes), config.gamma, config.value_warmup_epochs, seed=config.seed)
            distributed.broadcast_parameters(self.run.ranks, list(self.policy.value_head.parameters()))  # each rank fitted its own
            self.counters["value_warmed_up"] = True  # once per checkpoint root: later updates train the head with PPO
        samples, report = build_ppo_samples(
            episodes, config.gamma, config.gae_lambda, self.version, config.max_version_lag, Lineage(self.store.root),
            step_cost=config.step_cost,
        )
        if not samples:
            reasons = "; ".join(f"{n} steps: {why}" for why, n in report.skipped.items()) or "no steps"
            raise ValueError(f"no policy steps to train on ({reasons})")
        if config.advantage == "grpo":
            group_relative_advantages(samples)
        teacher = teacher_examples(episodes) if config.bc_coef > 0 else []
        self.policy.train(True)
        try:
            metrics = ppo_update(self.policy, samples, self.optimizer, self.config, teacher, stop, self.run.ranks)
        finally:
            self.policy.train(False)
        self.scheduler.step()
        self.updates += 1
        metrics.update(data_metrics(report), **warmup, teacher_steps=len(teacher), trained_from=self.version)
        return metrics

    def publish(self, metrics: dict, counters: dict | None = None) -> CheckpointRef:
        """Save the policy and the training state as a new version; the policy takes its name."""
        summary = {k: v for k, v in metrics.items() if k != "first_minibatch"}
        counters = {**self.counters, **(counters or {}), "update": self.updates, "lora_r": self.config.lora_r}
        return self.run.publish(summary, counters, {"lora": is_lora(self.policy)})

    def close(self) -> None:
        self.run.close()


def first_readable_episode(paths: Iterable[Path]) -> Path | None:
    """The first episode file under `paths` that reads, else None: checked before a root is touched."""
    for path in episode_files(paths):
        try:
            read_episode(path)
            return path
        except LogFormatError:
            continue
    return None


def episode_files(paths: Iterable[Path]) -> list[Path]:
    """The finished episode files under `paths`, sorted: what every rank of a torchrun update reads."""
    files = []
    for root in map(Path, paths):
        if not root.exists():
            raise FileNotFoundError(f"{root}: no such file or folder")
        files += [root] if root.is_file() else sorted(p for p in root.rglob("*.parquet") if not is_partial(p))
    return files


def finetune_once(trainer: PPOTrainer, paths: list[Path], warn: Callable[[str], None], stop: Callable[[], bool] = lambda: False) -> tuple[CheckpointRef, dict]:
    """Read every episode under `paths`, make one PPO update, publish it.

    Under torchrun rank 0 lists the episode files and every rank reads that list, so an episode
    landing while the ranks read cannot give them different batches.
    """
    ranks = trainer.run.ranks
    files = None
    if ranks.distributed:
        files = distributed.broadcast(ranks, episode_files(paths) if ranks.is_main else None, "listing the episodes")
        warn = warn if ranks.is_main else (lambda line: None)
    episodes = read_logs(files if files is not None else paths, warn)
    if not episodes:
        raise ValueError(f"{', '.join(map(str, paths))}: no episode logs found")
    metrics = trainer.update(episodes, stop)
    ref = trainer.publish(metrics, {"episode_files": len(files) if files is not None else count_episode_files(paths)})
    return ref, metrics
