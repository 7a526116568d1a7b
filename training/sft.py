"""Supervised fine-tuning on expert answers: loss on answer tokens only, periodic resumable checkpoints."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch

from vlm_agent.agent.device_config import DeviceConfig
from vlm_agent.agent.image_tokens import image_path_parameters
from vlm_agent.agent.policy import VLMPolicy
from vlm_agent.agent.token_masks import text_offsets
from vlm_agent.runtime.log_schema import decode_png
from vlm_agent.training.distributed import Ranks
from vlm_agent.training.run_scaffold import StopFlag, TrainingRun  # noqa: F401  (StopFlag: the CLI imports it from here)
from vlm_agent.training.sft_config import SFTConfig, parse_env_shares  # noqa: F401  (defined apart so the CLI needs no torch)
from vlm_agent.training.sft_data import SFTData, SFTExample


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


def shared_answer_loss(policy: VLMPolicy, batch: Sequence[SFTExample], ranks: Ranks) -> torch.Tensor:
    """This rank's part of the batch's answer loss, scaled so that the ranks' average is `answer_loss` of the whole batch.

    The loss is a mean over the batch's answer tokens, so each rank divides its tokens' sum by the
    whole batch's token count (known from tokenizing, no collective needed).
    """
    if not ranks.distributed:
        return answer_loss(policy, batch)
    mine = ranks.share(batch)
    weight = ranks.world_size if mine else 0.0  # no share: still run the forward pass (FSDP gathers weights in it)
    mine = mine or list(batch[:1])
    tokens = sum(len(answer_ids(policy, e.answer)) for e in batch)
    evaluation = policy.evaluate([decode_png(e.frame_png) for e in mine], [e.prompt for e in mine],
                                 [answer_ids(policy, e.answer) for e in mine])
    return -evaluation.token_logprobs.sum() / tokens * weight


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


class BatchSchedule:
    """The examples each optimizer step trains on: `batch_for_step`'s epochs, or with `shares`
    ({environment id: share}) each step's batch drawn from one group: a named environment with its
    share, or the other examples with what is left (all the weight where no share names them).

    Which group a step draws from is a seeded draw per step; each group goes through its own
    seeded epochs. All decided by (seed, step), so a resumed run sees the batches an uninterrupted
    one would.
    """

    def __init__(self, examples: list[SFTExample], batch_size: int, seed: int, shares: dict[str, float] | None = None):
        self.examples, self.batch_size, self.seed = examples, batch_size, seed
        self.groups: list[list[SFTExample]] = []
        self.weights: list[float] = []
        if not shares:
            return
        for env_id, share in shares.items():
            members = [e for e in examples if e.env_id == env_id]
            if not members:
                raise ValueError(f"--env-share: the logs hold no {env_id} examples to draw {share:g} of the steps from")
            self.groups.append(members)
            self.weights.append(share)
        rest = [e for e in examples if e.env_id not in shares]
        if rest and sum(shares.values()) < 1 - 1e-9:
            self.groups.append(rest)
            self.weights.append(1 - sum(shares.values()))
        self._drawn: list[tuple[int, int]] = []  # (group, that group's batch number) of each step so far
        self._counts = [0] * len(self.groups)
        self._generator = torch.Generator().manual_seed(seed)

    def batch(self, step: int) -> list[SFTExample]:
        if not self.groups:
            return batch_for_step(self.examples, step, self.batch_size, self.seed)
        weights = torch.tensor(self.weights, dtype=torch.float64)
        while len(self._drawn) <= step:
            group = int(torch.multinomial(weights, 1, generator=self._generator))
            self._drawn.append((group, self._counts[group]))
            self._counts[group] += 1
        group, number = self._drawn[step]
        return batch_for_step(self.groups[group], number, self.batch_size, self.seed * 1_009 + group)


def autocast(policy: VLMPolicy, precision: str = "auto"):
    """bf16 autocast where the device has it (CUDA) or when asked; nothing on the CPU by default."""
    import contextlib

    from vlm_agent.agent.device import autocast_dtype

    dtype = autocast_dtype(policy.device, precision)
    return torch.autocast(policy.device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


@torch.no_grad()
def held_out_loss(policy: VLMPolicy, data: SFTData, config: SFTConfig) -> float:
    if not data.held_out:
        return float("nan")
    policy.train(False)
    count = min(len(data.held_out), config.held_out_batches * config.batch_size)
    examples = [data.held_out[i * len(data.held_out) // count] for i in range(count)]  # every environment, not the first log's
    losses = []
    for k in range(0, count, config.batch_size):
        with autocast(policy):
            losses.append(float(answer_loss(policy, examples[k : k + config.batch_size])))
    policy.train(True)
    return sum(losses) / len(losses)


def run_sft(
    data: SFTData,
    start_model: Path,
    out: Path,
    config: SFTConfig,
    resume: bool = False,
    on_progress: Callable[[int, dict], None] | None = None,
    run_options: dict | None = None,
    device: DeviceConfig | None = None,
) -> dict:
    """Train from `start_model` (or the newest version under `out` with `resume`); return the last metrics.

    `device` says where and in what precision (default: the CPU in fp32); under torchrun each rank
    scores its share of every batch (training/distributed.py) and rank 0 alone publishes.

    Publishes a checkpoint version under `out` every `save_every` steps and at the end, with
    `run_options` as its meta["run"] when given. Ctrl-C finishes the current step, publishes, and
    returns. A root that holds versions already is refused without `resume`.
    """
    if not data.train:
        unreadable = data.skipped.get("unreadable files", 0)
        if unreadable and set(data.skipped) == {"unreadable files"}:  # the logs are the problem, not their kind
            raise ValueError(f"no supervised examples: none of the log files could be read ({unreadable} unreadable)")
        raise ValueError("no supervised examples: log episodes with --agent expert, or label a student's with play --teacher expert, first")
    run = TrainingRun(out, "sft", config, resume, run_options, device=device)
    policy = run.load_policy(start_model)
    policy.train(True)
    if config.freeze_vision:
        for p in image_path_parameters(policy, decode_png(data.train[0].frame_png)):
            p.requires_grad_(False)
    run.shard()
    step = run.build_step_optimizer([p for p in policy.parameters() if p.requires_grad])
    torch.manual_seed(config.seed + step)  # after the restored RNG: the seed alone decides what follows the resume point

    schedule = BatchSchedule(data.train, config.batch_size, config.seed, parse_env_shares(config.env_share))

    def loss_at(step: int) -> tuple[torch.Tensor, dict]:
        with autocast(policy):
            return shared_answer_loss(policy, schedule.batch(step), run.ranks), {}

    evaluate = (lambda: {"held_out_loss": held_out_loss(policy, data, config)}) if data.held_out else None
    return run.run_steps(loss_at, evaluate, on_progress)
