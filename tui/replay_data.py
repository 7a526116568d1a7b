"""What replay reads: the episodes under a log folder, their returns, and the tokens of answers."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import pyarrow.parquet as pq

from vlm_agent.runtime.episode_log import MANIFEST
from vlm_agent.runtime.log_reader import find_episode_files, read_episode
from vlm_agent.runtime.records import StepRecord

GAMMA = 0.9  # the paper's discount, as in training's GAE: the value head estimates this return

TokenDecoder = Callable[[Sequence[int]], list[str]]


def returns_to_go(rewards: Sequence[float], gamma: float = GAMMA) -> list[float]:
    """G_t = r_t + gamma * G_{t+1}: the return each step's value estimate is trained towards."""
    returns, running = [0.0] * len(rewards), 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


@dataclass(frozen=True)
class EpisodeSummary:
    path: Path
    episode_id: str
    env_id: str
    agent_kind: str
    steps: int
    total_reward: float
    success: bool

    def label(self) -> str:
        mark = "✓" if self.success else "✗"
        return (
            f"{mark} {self.path.parent.parent.name}/{self.episode_id}  {self.env_id.split('/')[-1]}"
            f"  {self.agent_kind}  {self.steps} steps  return {self.total_reward:+.2f}"
        )


def summarize(path: Path) -> EpisodeSummary:
    """The list entry of an episode, read from a few columns only."""
    table = pq.read_table(path, columns=["episode_id", "env_id", "agent_kind", "reward", "success"])
    rewards = table.column("reward").to_pylist()
    return EpisodeSummary(
        path=path,
        episode_id=table.column("episode_id")[0].as_py(),
        env_id=table.column("env_id")[0].as_py(),
        agent_kind=table.column("agent_kind")[0].as_py(),
        steps=len(rewards),
        total_reward=float(sum(rewards)),
        success=bool(table.column("success")[-1].as_py()),
    )


class ReplayLog:
    """The episode files under one log folder, read on demand (the last few kept)."""

    def __init__(self, log_dir: Path):
        self.files, _ = find_episode_files([log_dir])
        self.episode = lru_cache(maxsize=8)(self._read)

    def _read(self, index: int) -> list[StepRecord]:
        return list(read_episode(self.files[index]).steps())

    def summaries(self) -> list[EpisodeSummary]:
        return [summarize(path) for path in self.files]


def token_decoder_for(episode_path: Path) -> TokenDecoder | None:
    """Turn token ids into their text pieces with the tokenizer of the model that played, if it is on disk.

    The model is the episode's `model_root`; where it has none (scripted agents, v1 logs), the run
    manifest's `model`, else the default model.
    """
    model_root = _model_root(Path(episode_path))
    if model_root:
        return _load_decoder(model_root)
    manifest_path = Path(episode_path).parent.parent / MANIFEST
    try:
        model = json.loads(manifest_path.read_text()).get("model")
    except (OSError, json.JSONDecodeError):
        return None
    if model is None:
        from vlm_agent.runtime.agent_factory import default_model_dir

        model = default_model_dir()
    return _load_decoder(str(model))


def _model_root(episode_path: Path) -> str:
    """The first step's model_root column, read alone ("" in a v1 log, which has none)."""
    if "model_root" not in pq.read_schema(episode_path).names:
        return ""
    return pq.read_table(episode_path, columns=["model_root"]).column("model_root")[0].as_py() or ""


@lru_cache(maxsize=4)
def _load_decoder(model_dir: str) -> TokenDecoder | None:
    folder = Path(model_dir)
    candidates = [folder / "tokenizer.json"] + sorted(folder.glob("**/tokenizer.json")) if folder.is_dir() else []
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(found))
    return lambda ids: token_pieces(tokenizer.decode, ids)


def token_pieces(decode: Callable[..., str], ids: Sequence[int]) -> list[str]:
    """Each token's share of the decoded text, so the pieces join to exactly the answer.

    Decoding token by token breaks multi-byte characters and word-joining markers; decoding each
    growing prefix and taking the difference does not. A token that ends inside a character gets
    an empty piece and the character goes with the token that completes it.
    """
    pieces, previous = [], ""
    for end in range(1, len(ids) + 1):
        text = decode(list(ids[:end]), skip_special_tokens=False)
        if text.endswith("\ufffd") and end < len(ids):
            pieces.append("")
            continue
        pieces.append(text[len(os.path.commonprefix([previous, text])):])
        previous = text
    return pieces
