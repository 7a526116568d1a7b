"""Turn logged episodes into PPO samples: GAE per episode, stale and scripted steps set aside."""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from vlm_agent.runtime.log_reader import Episode
from vlm_agent.runtime.log_schema import StepRow, decode_png
from vlm_agent.runtime.checkpoints import CheckpointStore
from vlm_agent.training.ppo_math import compute_gae
from vlm_agent.training.sft_data import TEACHER_KINDS, SFTExample


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
    episode: str = ""  # run id / episode id
    group: tuple = ()  # episode_start(): episodes from the same start, for group-relative advantages
    episode_return: float = 0.0
    legal_actions: list[str] | None = None  # set when the answer was decoded (and scored) constrained to them
    max_new_tokens: int | None = None  # the answer budget it was decoded with: its thought limit (None: the policy's)

    @cached_property
    def frame(self) -> np.ndarray:
        """Decoded on first use and kept: an update reads each sample's frame once per epoch."""
        return decode_png(self.frame_png)


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


class Lineage:
    """Which logged policy versions belong to the checkpoint root being trained.

    A version name like v000003 means a version of this root only when the step's policy was loaded
    from this root (its `model_root` column: the root or a folder inside it). A step of the very
    model the root started from (same folder, same version name) is the root's start version, so
    round one of an on-policy loop (--max-version-lag 0) can train on it. Steps of any other model
    count as version 0, older than everything this root published.
    """

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self._played: dict[str, tuple[bool, Path | None]] = {}
        self._start = _start_of(self.root)

    def _model(self, model_root: str) -> tuple[bool, Path | None]:
        """(a model of this root, the folder it names), once per distinct model_root."""
        if model_root not in self._played:
            played = Path(model_root).resolve() if model_root else None
            self._played[model_root] = (played is not None and self.root in (played, *played.parents), played)
        return self._played[model_root]

    def __call__(self, model_root: str, version: str) -> int:
        ours, played = self._model(model_root)
        if ours:
            return version_number(version) or 0
        if self._start is not None and played == self._start[0] and version == self._start[1]:
            return self._start[2]
        return 0


def _start_of(root: Path) -> tuple[Path, str, int] | None:
    """(source folder, source version name, version number) of the root's start version, if it has one."""
    versions = CheckpointStore(root).versions()
    if not versions:
        return None
    try:
        meta = versions[0].meta()
    except (OSError, json.JSONDecodeError):
        return None
    if meta.get("kind") != "start" or not meta.get("source"):
        return None
    return Path(meta["source"]).resolve(), str(meta.get("source_version")), versions[0].number


def _version_by_name(model_root: str, version: str) -> int:
    return version_number(version) or 0  # the base model counts as version 0


def build_ppo_samples(
    episodes: Iterable[Episode],
    gamma: float = 0.9,
    lam: float = 0.95,
    current_version: str | None = None,
    max_version_lag: int | None = None,
    version_of: Callable[[str, str], int] = _version_by_name,
    step_cost: float = 0.0,
) -> tuple[list[PPOSample], DataReport]:
    """PPO samples from every step a policy sampled; returns (samples, report).

    `step_cost` is subtracted from every step's reward for the advantages and returns trained on (and
    for GRPO's episode return); the report keeps the environment's returns.

    Episodes without behaviour log-probs (expert, human, random) give no PPO samples. Steps made
    more than `max_version_lag` versions before `current_version` are dropped: their ratios would
    be far from 1 and the clip would discard their gradient anyway. `version_of(model_root, name)`
    numbers a logged version (see Lineage).
    """
    samples: list[PPOSample] = []
    report = DataReport()
    current = version_number(current_version) if current_version else None
    for episode in episodes:
        rows = episode.rows
        if any(row.logprobs is None or row.response_token_ids is None for row in rows):
            report.skipped["no behaviour log-probs (scripted or human agent)"] += len(rows)
            continue
        report.episodes += 1
        report.returns.append(sum(row.reward for row in rows))
        report.successes += int(bool(rows[-1].success))
        episode_return = sum(row.reward - step_cost for row in rows)
        rewards = torch.tensor([row.reward - step_cost for row in rows], dtype=torch.float32)
        values = torch.tensor([row.value if row.value is not None else 0.0 for row in rows], dtype=torch.float32)
        dones = torch.tensor([float(row.done) for row in rows])
        advantages, returns = compute_gae(rewards, values, dones, gamma, lam)
        start = episode_start(rows[0])
        for t, row in enumerate(rows):
            if current is not None and max_version_lag is not None:
                produced = version_of(row.model_root, row.policy_version)
                if current - produced > max_version_lag:
                    report.skipped[f"older than {max_version_lag} policy versions"] += 1
                    continue
            if not row.response_token_ids:
                report.skipped["empty response"] += 1
                continue
            report.steps += 1
            samples.append(
                PPOSample(
                    frame_png=row.frame_png,
                    prompt=row.prompt,
                    response_ids=list(row.response_token_ids),
                    old_token_logprobs=list(row.logprobs),
                    cot_mask=list(row.cot_mask),
                    action_mask=list(row.action_mask),
                    thought_coef=float(row.thought_coef),
                    old_value=float(values[t]),
                    advantage=float(advantages[t]),
                    ret=float(returns[t]),
                    policy_version=row.policy_version,
                    reward=float(row.reward),
                    episode=f"{row.run_id}/{row.episode_id}",
                    group=start,
                    episode_return=float(episode_return),
                    # Re-scored constrained only where the logged log-probs are the constrained policy's.
                    legal_actions=decoded_among(row) if row.constrained_logprobs else None,
                    max_new_tokens=row.sampling.get("max_new_tokens"),
                )
            )
    return samples, report


def decoded_among(row: StepRow) -> list[str]:
    """The actions a constrained step's value was decoded among: the legal ones less those it was kept from
    (`avoid_repeats`), as the policy decoded them; re-scored over the same set, its log-probs match."""
    avoided = set(row.info.get("avoided_actions") or ())
    return [action for action in row.legal_actions if action not in avoided] or list(row.legal_actions)


def episode_start(first_row: StepRow) -> tuple:
    """(env id, what the episode started from): the game file where the env names one (ALFWorld plays
    game seed % n, so seeds n apart are the same start), else the reset seed."""
    game = first_row.info.get("game_file")
    return (first_row.env_id, game if game else first_row.episode_seed)


def group_relative_advantages(samples: list[PPOSample], eps: float = 1e-6) -> None:
    """GRPO-style advantages, no critic: each step gets its episode's return, standardised in its group.

    A group is the episodes played from the same start (see episode_start). Where a start was
    played only once, its environment's episodes form the group instead.
    """
    returns_by_group: dict[tuple, dict[tuple, float]] = defaultdict(dict)
    for s in samples:  # one entry per episode
        returns_by_group[s.group][s.episode] = s.episode_return
    by_env: dict[str, list[float]] = defaultdict(list)
    for group, returns in returns_by_group.items():
        by_env[group[0]].extend(returns.values())
    for s in samples:
        group = list(returns_by_group[s.group].values())
        if len(group) < 2:
            group = by_env[s.group[0]]
        R = torch.tensor(group, dtype=torch.float64)
        std = float(R.std()) if len(group) > 1 else 0.0
        s.advantage = float((s.episode_return - R.mean()) / (std + eps))


def teacher_examples(episodes: Iterable[Episode]) -> list[SFTExample]:
    """Steps of expert and human episodes whose answer parsed: targets for the behaviour-cloning term."""
    examples = []
    for episode in episodes:
        if episode.agent_kind not in TEACHER_KINDS:
            continue
        examples += [SFTExample(r.frame_png, r.prompt, r.response, r.env_id) for r in episode.rows if r.parse_status == "ok"]
    return examples
