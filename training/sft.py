"""Supervised fine-tuning on expert answers: loss on answer tokens only, periodic resumable checkpoints."""
from __future__ import annotations

import math
import signal
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Sequence

import torch

from vlm_agent.agent.image_tokens import image_path_parameters
from vlm_agent.agent.policy import VLMPolicy
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.agent.token_masks import text_offsets
from vlm_agent.runtime.log_schema import decode_png
from vlm_agent.runtime.checkpoints import CheckpointStore
from vlm_agent.training.sft_config import SFTConfig  # noqa: F401  (defined apart so the CLI needs no torch)
from vlm_agent.training.sft_data import SFTData, SFTExample
from vlm_agent.training.trainer_state import load_trainer_state, save_trainer_state


def answer_ids(policy: VLMPolicy, answer: str) -> list[int]:
    """The target tokens: the answer as the tokenizer splits it, then the end-of-answer token."""
    ids, _ = text_offsets(policy.tokenizer, answer)
    return ids + [min(policy.eos_ids)]


def answer_loss(policy: VLMPolicy, batch: Sequence[SFTExample]) -> torch.Tensor:
    """Mean negative log-likelihood of the answer tokens (prompt and image tokens carry no loss)."""
    evaluation = policy.evaluate(
        [decode_png(e.frame_png) for e in batch], [e.prompt for e in batch], [answer_ids(policy, e.answer) for e in batch]
    )
    return -evaluation.token_logprobs.sum() / evaluation.response_mask.sum()


def epoch_batches(examples: list[SFTExample], batch_size: int, seed: int) -> list[list[int]]:
    """One epoch's batches: each from a single (environment, kind) bucket, so rows need little padding.

    Buckets are shuffled and cut into batches, then the batches are shuffled; all seeded, so a
    resumed run sees exactly the batches an uninterrupted one would.
    """
    generator = torch.Generator().manual_seed(seed)
    buckets: dict[tuple[str, str], list[int]] = {}
    for index, example in enumerate(examples):
        buckets.setdefault((example.env_id, example.kind), []).append(index)
    batches = []
    for key in sorted(buckets):
        members = buckets[key]
        order = torch.randperm(len(members), generator=generator).tolist()
        batches += [[members[i] for i in order[k : k + batch_size]] for k in range(0, len(order), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def batch_for_step(examples: list[SFTExample], step: int, batch_size: int, seed: int) -> list[SFTExample]:
    """The examples of optimizer step `step` (epochs of seeded, bucketed batches)."""
    per_epoch = len(epoch_batches(examples, batch_size, seed))
    epoch, index = divmod(step, per_epoch)
    return [examples[i] for i in epoch_batches(examples, batch_size, seed * 100_003 + epoch)[index]]


@torch.no_grad()
def held_out_loss(policy: VLMPolicy, data: SFTData, config: SFTConfig) -> float:
    if not data.held_out:
        return float("nan")
    policy.train(False)
    count = min(len(data.held_out), config.held_out_batches * config.batch_size)
    examples = [data.held_out[i * len(data.held_out) // count] for i in range(count)]  # every environment, not the first log's
    losses = []
    for k in range(0, count, config.batch_size):
        losses.append(float(answer_loss(policy, examples[k : k + config.batch_size])))
    policy.train(True)
    return sum(losses) / len(losses)


def optimizer_step(loss: torch.Tensor, params: list, optimizer, scheduler, max_grad_norm: float) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()
    scheduler.step()


def cosine_with_warmup(optimizer, warmup: int, total: int, floor: float = 0.1):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def run_sft(
    data: SFTData,
    start_model: Path,
    out: Path,
    config: SFTConfig,
    resume: bool = False,
    on_progress: Callable[[int, dict], None] | None = None,
    run_options: dict | None = None,
) -> dict:
    """Train from `start_model` (or the newest version under `out` with `resume`); return the last metrics.

    Publishes a checkpoint version under `out` every `save_every` steps and at the end. Ctrl-C
    finishes the current step, publishes, and returns.
    """
    if not data.train:
        raise ValueError("no supervised examples: log episodes with --agent expert first")
    store = CheckpointStore(out)
    store.clean_partial()
    latest = store.latest() if resume else None
    policy = load_policy(latest.path if latest else start_model)
    policy.train(True)
    if config.freeze_vision:
        for p in image_path_parameters(policy, decode_png(data.train[0].frame_png)):
            p.requires_grad_(False)
    trained = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = cosine_with_warmup(optimizer, config.warmup_steps, config.steps)
    counters = load_trainer_state(latest.path, optimizer, scheduler) if latest else {}
    step = counters.get("step", 0)
    torch.manual_seed(config.seed + step)
    metrics: dict = {"step": step}
    stop = StopFlag()

    def publish(step: int, metrics: dict) -> None:
        def save(folder: Path) -> None:
            policy.save_pretrained(folder)
            save_trainer_state(folder, optimizer, scheduler, {"step": step, "kind": "sft"})

        store.publish(save, {"kind": "sft", "step": step, "metrics": metrics, "config": asdict(config), "run": run_options})

    with stop:
        last = min(config.steps, config.stop_at or config.steps)
        while step < last and not stop.requested:
            loss = answer_loss(policy, batch_for_step(data.train, step, config.batch_size, config.seed))
            optimizer_step(loss, trained, optimizer, scheduler, config.max_grad_norm)
            step += 1
            metrics = {"step": step, "loss": loss.item(), "lr": scheduler.get_last_lr()[0]}
            if data.held_out and (step % config.eval_every == 0 or step == config.steps):
                metrics["held_out_loss"] = held_out_loss(policy, data, config)
            if on_progress:
                on_progress(step, metrics)
            if step % config.save_every == 0 and step < last:
                publish(step, metrics)
        publish(step, metrics)
    metrics["interrupted"] = stop.requested
    return metrics


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
