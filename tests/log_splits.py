"""A held-out fraction that splits a fixture's episodes: run ids are random, so a fixed fraction can hold out none."""
from __future__ import annotations

from pathlib import Path

from vlm_agent.runtime.log_reader import iter_episodes
from vlm_agent.training.sft_data import split_value


def episode_hashes(logs: Path) -> dict[str, int]:
    """Episode id -> the value `load_sft_data` compares with the held-out fraction."""
    return {e.episode_id: split_value(e.rows[0].run_id, e.rows[0].episode_id) for e in iter_episodes([logs])}


def splitting_fraction(logs: Path) -> float:
    """A fraction that holds out about half the episodes under `logs`, and at least one, and not all."""
    hashes = sorted(episode_hashes(logs).values())
    return (hashes[len(hashes) // 2] + 1) / 10_000
