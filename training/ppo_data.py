"""Turn logged episodes into PPO samples: GAE per episode, stale and scripted steps set aside."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch

from vlm_agent.runtime.log_reader import Episode
from vlm_agent.runtime.log_schema import decode_png
from vlm_agent.training.ppo_math import compute_gae, step_logprob


@dataclass
class PPOSample:
    """One logged step the policy sampled, with what PPO needs to re-score it."""

    frame_png: bytes
    prompt: str
    response_ids: list[int]
    old_token_logprobs: list[float]
    cot_mask: list[bool]
    action_mask: list[bool]
    thought_coef: float
    old_value: float
    advantage: float
    ret: float
    policy_version: str
    reward: float

    @property
    def frame(self) -> np.ndarray:
        return decode_png(self.frame_png)

    @property
    def old_logprob(self) -> float:
        lp = torch.tensor(self.old_token_logprobs)
        return float(step_logprob(lp, torch.tensor(self.cot_mask, dtype=lp.dtype), torch.tensor(self.action_mask, dtype=lp.dtype), self.thought_coef))


@dataclass
class DataReport:
    """What went into a batch and what was set aside, and why."""

    episodes: int = 0
    steps: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> steps
    returns: list[float] = field(default_factory=list)
    successes: int = 0

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns)) if self.returns else 0.0

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0


def version_number(version: str) -> int | None:
    """v000012 -> 12; versions that are not numbered (a base model) -> None."""
    match = re.fullmatch(r"v(\d+)", version or "")
    return int(match.group(1)) if match else None


def build_ppo_samples(
    episodes: Iterable[Episode],
    gamma: float = 0.9,
    lam: float = 0.95,
    current_version: str | None = None,
    max_version_lag: int | None = None,
) -> tuple[list[PPOSample], DataReport]:
    """PPO samples from every step a policy sampled; returns (samples, report).

    Episodes without behaviour log-probs (expert, human, random) give no PPO samples. Steps made
    more than `max_version_lag` versions before `current_version` are dropped: their ratios would
    be far from 1 and the clip would discard their gradient anyway.
    """
    samples: list[PPOSample] = []
    report = DataReport()
    current = version_number(current_version) if current_version else None
    for episode in episodes:
        rows = episode.table.to_pylist()
        if any(row["logprobs"] is None or row["response_token_ids"] is None for row in rows):
            report.skipped["no behaviour log-probs (scripted or human agent)"] += len(rows)
            continue
        report.episodes += 1
        report.returns.append(sum(row["reward"] for row in rows))
        report.successes += int(bool(rows[-1]["success"]))
        rewards = torch.tensor([row["reward"] for row in rows], dtype=torch.float32)
        values = torch.tensor([row["value"] if row["value"] is not None else 0.0 for row in rows], dtype=torch.float32)
        dones = torch.tensor([float(row["terminated"] or row["truncated"]) for row in rows])
        advantages, returns = compute_gae(rewards, values, dones, gamma, lam)
        for t, row in enumerate(rows):
            if current is not None and max_version_lag is not None:
                produced = version_number(row["policy_version"]) or 0  # the base model counts as version 0
                if current - produced > max_version_lag:
                    report.skipped[f"older than {max_version_lag} policy versions"] += 1
                    continue
            if not row["response_token_ids"]:
                report.skipped["empty response"] += 1
                continue
            report.steps += 1
            samples.append(
                PPOSample(
                    frame_png=row["frame_png"],
                    prompt=row["prompt"],
                    response_ids=list(row["response_token_ids"]),
                    old_token_logprobs=list(row["logprobs"]),
                    cot_mask=list(row["cot_mask"]),
                    action_mask=list(row["action_mask"]),
                    thought_coef=float(row["thought_coef"]),
                    old_value=float(values[t]),
                    advantage=float(advantages[t]),
                    ret=float(returns[t]),
                    policy_version=row["policy_version"],
                    reward=float(row["reward"]),
                )
            )
    return samples, report
