"""The run skeleton every trainer shares: one checkpoint root, resumed or started, trained, published.

SFT, vision pretraining and PPO differ in their losses and their data; everything around those is
here: opening the root (partial versions cleaned, a non-empty root refused without resume), the
policy (start model or newest version), AdamW and a cosine schedule, the trainer state restored on
resume, publishing a version (policy + trainer state + metadata), one metrics.jsonl line per
published version or evaluation, and Ctrl-C that finishes the step in flight and publishes it.

Under torchrun every rank holds a TrainingRun (see training/distributed.py): all load the same
weights and take the same optimizer steps on gradients averaged across ranks; only rank 0 writes
(versions, metrics), and the others learn the new version's name from it.
"""
from __future__ import annotations

import dataclasses
import json
import math
import signal
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Protocol

import torch

from vlm_agent.agent.device import enable_activation_checkpointing, resolve
from vlm_agent.agent.device_config import DeviceConfig
from vlm_agent.runtime.checkpoints import CheckpointRef, CheckpointStore, decoding_meta, load_policy
from vlm_agent.training import distributed
from vlm_agent.training.distributed import Ranks
from vlm_agent.training.lora import save_policy
from vlm_agent.training.metrics_log import MetricsLog
from vlm_agent.training.trainer_state import COUNTERS_FILE, load_trainer_state, save_trainer_state


class StopFlag:
    """Ctrl-C sets a flag instead of raising, so the step in flight completes and is saved."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C means now
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: no signal handling
            self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def cosine_factor(step: int, warmup: int, total: int, floor: float) -> float:
    """The lr multiplier at `step`: linear warmup over `warmup` steps, then cosine down to `floor` at `total`, then flat."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def optimizer_step(loss: torch.Tensor, optimizer, scheduler, max_grad_norm: float, ranks: Ranks = Ranks()) -> torch.Tensor:
    """Backward, average the gradients over the ranks, clip their norm, step the optimizer and the schedule; returns the norm.

    Under torchrun `loss` is this rank's share, scaled so that the average over ranks is the whole
    batch's loss (a rank with no share weighs its forward pass by 0); a loss without a graph adds zeros.
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    optimizer.zero_grad(set_to_none=True)
    if loss.requires_grad:
        loss.backward()
    distributed.average_gradients(ranks, params)
    grad_norm = distributed.clip_gradients(ranks, params, max_grad_norm)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return grad_norm


class StepConfig(Protocol):
    """The settings a step-counted trainer (SFT, vision pretraining) shares; `stop_at` is optional."""

    steps: int
    lr: float
    warmup_steps: int
    weight_decay: float
    max_grad_norm: float
    eval_every: int
    save_every: int


class TrainingRun:
    """One checkpoint root being trained by one trainer (`kind`), counting in `counter` (step or update).

    A root that already holds versions is continued only with `resume`; the newest version's
    weights are loaded and, if this trainer published it, its optimizer, schedule, RNG and counters.
    """

    def __init__(self, out: Path, kind: str, config, resume: bool = False, run_options: dict | None = None, counter: str = "step",
                 device: DeviceConfig | None = None, lora: bool = False):
        self.kind, self.config, self.run_options, self.counter = kind, config, run_options, counter
        self.device = device or DeviceConfig()
        self.placement = resolve(self.device, training=True, lora=lora)
        self.ranks = distributed.start(self.placement.device, self.device.dist_timeout)
        self.store = CheckpointStore(out)
        # One trainer per root: a second one refuses in one line naming the holder. Partial versions
        # are cleaned and the start version read only under the claim (another writer's save looks partial).
        # Under torchrun only rank 0 writes, so only rank 0 claims.
        self._claim = self.store.claim(kind) if self.ranks.is_main else None
        try:
            if self.ranks.is_main:
                self.store.clean_partial()
            self.latest = self.store.latest()
            if self.device.fsdp and (resume or lora):
                raise ValueError("--fsdp runs start fresh and train all weights: not with --resume (their optimizer state is sharded) "
                                 "nor with --lora-r (a LoRA base fits replicated); start a new root from the published version")
            if self.latest is not None and not resume:
                raise ValueError(f"{out}: already holds checkpoints (latest {self.latest.name}); pass --resume to continue them or choose a new --out")
        except BaseException:
            if self._claim is not None:
                self._claim.release()
            raise
        self.took_over = self._claim.took_over if self._claim is not None else None  # a crashed run's holder whose lock this run took over
        self.policy = None
        self.decoding: dict = {}  # the start model's decoding defaults, carried into every version (see load_policy)
        self.optimizer = None
        self.scheduler = None
        self.counters: dict = {}
        self._metrics_log: MetricsLog | None = None  # opened at the first line, so a run that fails to start leaves no folder

    def saved_counters(self) -> dict:
        """The counters the newest version saved, if this trainer saved it ({} for a start model or another trainer's version)."""
        if self.latest is None or self.latest.meta().get("kind") != self.kind:
            return {}
        return json.loads((self.latest.path / COUNTERS_FILE).read_text())

    def load_policy(self, start_model: Path | None, publish_start: bool = False, **kwargs):
        """The newest version's policy, else `start_model`'s; with `publish_start` the start model first becomes version 1.

        The versions it publishes record the decoding defaults of the model it loads (training does not change how
        a model is meant to be decoded).
        """
        if self.latest is None and start_model is None:
            raise ValueError("--model is needed to start a new checkpoint root")
        self.decoding = decoding_meta(self.latest.path if self.latest else start_model)
        if self.latest is None and publish_start:
            if self.ranks.is_main:
                self.latest = self._publish_start(start_model)
            distributed.barrier(self.ranks, "publishing the start version")
            self.latest = self.store.latest()
        self.policy = load_policy(self.latest.path if self.latest else start_model, placement=self.placement, **kwargs)
        if self.device.gradient_checkpointing:
            enable_activation_checkpointing(self.policy.model)
        return self.policy

    def shard(self) -> None:
        """With --fsdp, shard the policy's model over the ranks: after LoRA and freezing, before the optimizer."""
        if self.device.fsdp:
            distributed.shard_model(self.ranks, self.policy.model)

    def _publish_start(self, start_model: Path) -> CheckpointRef:
        # A copy of the start model, in the dtype training uses, read on the CPU: no second copy on the GPU.
        start = load_policy(start_model, placement=dataclasses.replace(self.placement, device=torch.device("cpu")))
        meta = {"kind": "start", "source": str(start_model), "source_version": start.policy_version, **self._version_meta()}
        return self.store.publish(start.save_pretrained, meta)

    def build_optimizer(self, params: list, lr: float, factor: Callable[[int], float], **adamw) -> dict:
        """AdamW over `params` with lr scaled by `factor(step)`; restores the trainer state this trainer saved. Returns the counters."""
        distributed.broadcast_parameters(self.ranks, params)
        self.optimizer = torch.optim.AdamW(params, lr=lr, **adamw)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.counters = load_trainer_state(self.latest.path, self.optimizer, self.scheduler) if self.saved_counters() else {}
        return self.counters

    def publish(self, metrics: dict, counters: dict, meta: dict | None = None, save_extra: Callable[[Path], None] | None = None) -> CheckpointRef:
        """Save the policy, `save_extra(folder)` and the trainer state (with `counters`) as a new version; log its metrics line.

        The policy takes the version's name. `counters` must hold this run's counter (step or update).
        """
        self.counters = {**counters, "kind": self.kind}
        position = self.counters[self.counter]
        weights = distributed.full_state_dict(self.ranks, self.policy.model)  # FSDP: every rank gathers, rank 0 saves

        def save(folder: Path) -> None:
            save_policy(self.policy, folder, weights)
            if save_extra is not None:
                save_extra(folder)
            # A sharded optimizer state is not saved (--fsdp does not resume); the weights load anywhere.
            save_trainer_state(folder, None if weights is not None else self.optimizer, self.scheduler, self.counters)

        full_meta = {"kind": self.kind, self.counter: position, "metrics": metrics, "config": asdict(self.config), **(meta or {}), **self._version_meta()}
        if self.ranks.distributed:
            full_meta.update(world_size=self.ranks.world_size, fsdp=weights is not None)
        name = self.store.publish(save, full_meta).name if self.ranks.is_main else None
        ref = CheckpointRef(self.store.root, distributed.broadcast(self.ranks, name, "publishing a version"))
        self.policy.policy_version = ref.name
        self.log(position, {**metrics, "version": ref.name})
        return ref

    def log(self, position: int, metrics: dict) -> None:
        """One line in <root>/metrics.jsonl (and TensorBoard), keyed by this run's counter; rank 0's alone."""
        if not self.ranks.is_main:
            return
        if self._metrics_log is None:
            self._metrics_log = MetricsLog(self.store.root)
        self._metrics_log.log(position, metrics, counter=self.counter)

    def close(self) -> None:
        """Close the metrics log, let go of the root (the kernel also lets go if the process dies) and, under
        torchrun, leave the process group once its workers hold none of the run's tensors (`distributed.stop`)."""
        if self._metrics_log is not None:
            self._metrics_log.close()
            self._metrics_log = None
        if self._claim is not None:
            self._claim.release()
            self._claim = None
        distributed.stop()

    def _version_meta(self) -> dict:
        """What every version of this run records: the start model's decoding defaults and the run's options.

        Each only when there is one, so versions of runs without them read as before.
        """
        return {**self.decoding, **({"run": self.run_options} if self.run_options is not None else {})}

    # Step-counted trainers (SFT, vision pretraining): AdamW with warmup + cosine, and one loop.

    def build_step_optimizer(self, params: list) -> int:
        """AdamW and a warmup-then-cosine schedule over the config's steps; returns the step to continue from."""
        config: StepConfig = self.config
        factor = lambda step: cosine_factor(step, config.warmup_steps, config.steps, 0.1)  # noqa: E731
        return self.build_optimizer(params, config.lr, factor, weight_decay=config.weight_decay).get("step", 0)

    def run_steps(
        self,
        loss_at: Callable[[int], tuple[torch.Tensor, dict]],
        evaluate: Callable[[], dict] | None,
        on_progress: Callable[[int, dict], None] | None = None,
        save_extra: Callable[[Path], None] | None = None,
    ) -> dict:
        """Optimizer steps until the config's `steps` (or `stop_at`, if it has one) or Ctrl-C; returns the last metrics.

        `loss_at(step)` gives the loss of that step and metrics of its own; `evaluate()` the
        held-out scores, every `eval_every` steps and at the last. A version is published every
        `save_every` steps and at the end; `interrupted` in the result says whether Ctrl-C ended it.
        """
        config: StepConfig = self.config
        step = self.counters.get("step", 0)
        metrics: dict = {"step": step}
        last = min(config.steps, getattr(config, "stop_at", None) or config.steps)
        try:
            with StopFlag() as stop:
                while step < last and not distributed.any_rank(self.ranks, stop.requested):
                    loss, own = loss_at(step)
                    optimizer_step(loss, self.optimizer, self.scheduler, config.max_grad_norm, self.ranks)
                    step += 1
                    metrics = {"step": step, "loss": self._global_loss(loss), **own, "lr": self.scheduler.get_last_lr()[0]}
                    evaluated = evaluate is not None and (step % config.eval_every == 0 or step == config.steps)
                    if evaluated:
                        metrics.update(evaluate())
                    if on_progress:
                        on_progress(step, metrics)
                    if step % config.save_every == 0 and step < last:
                        self.publish(metrics, {"step": step}, save_extra=save_extra)
                    elif evaluated and step < last and not stop.requested:  # else the publish below writes its line
                        self.log(step, metrics)
                self.publish(metrics, {"step": step}, save_extra=save_extra)
                interrupted = distributed.any_rank(self.ranks, stop.requested)
        finally:
            self.close()
        metrics["interrupted"] = interrupted
        return metrics

    def _global_loss(self, loss: torch.Tensor) -> float:
        """The whole batch's loss: one process's own, or the ranks' scaled shares averaged."""
        if not self.ranks.distributed:
            return loss.item()
        return distributed.sum_over_ranks(self.ranks, [loss.item() / self.ranks.world_size], "loss")[0]
