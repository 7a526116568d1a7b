"""Supervised examples from logged episodes of scripted experts (and people): (frame, prompt, answer)."""
from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from vlm_agent.runtime.log_reader import find_episode_files, iter_episodes

# Whose own answers are the examples: every expert variant (the privileged one too: the recipe's v4 stage
# imitates it) and a human.
TEACHER_KINDS = ("expert", "expert-ranked", "expert-shuffled", "expert-privileged", "human")
# Reading the frame is what a vision tower trained from scratch learns last; describing the frame
# with the environment's own text state is a short, dense signal for exactly that (LLaVA's stage 1).
CAPTION_PROMPT = "Describe the state shown in the image."


@dataclass(frozen=True)
class SFTExample:
    frame_png: bytes
    prompt: str
    answer: str
    env_id: str
    # "answer" (the teacher's reply to the prompt), "label" (the teacher's reply where the student was:
    # DAgger) or "caption" (the frame's state in words)
    kind: str = "answer"
    render: str = ""  # the rendering that drew the frame (card games log it: "clear" or "paper"), "" where not logged


@dataclass
class SFTData:
    train: list[SFTExample] = field(default_factory=list)
    held_out: list[SFTExample] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason -> steps or files


def split_value(run_id: str, episode_id: str) -> int:
    """Where an episode falls in [0, 10,000): it is held out when this is below the held-out fraction * 10,000."""
    return zlib.crc32(f"{run_id}/{episode_id}".encode()) % 10_000


def load_sft_data(paths: Iterable[Path], held_out_fraction: float = 0.05, on_skip=None, captions: bool = False,
                  caption_paths: Iterable[Path] = ()) -> SFTData:
    """Every valid step of expert/human episodes under `paths` and `caption_paths`, split by episode into
    train/held-out.

    The split hashes the run and episode ids, so it is the same on every call (and on resume).
    With `captions`, each step also gives a caption example: the frame described by the
    environment's text state; `caption_paths` give them for their own episodes only (the frames that
    show their text state, e.g. card games, and not ALFWorld's schematic beside them).
    """
    data = SFTData()
    caption_paths = list(caption_paths)
    captioned = {path.resolve() for path in find_episode_files(caption_paths)[0]}

    def skip_file(reason: str) -> None:
        data.skipped["unreadable files"] += 1
        if on_skip:
            on_skip(reason)

    for episode in iter_episodes([*paths, *caption_paths], on_skip=skip_file):
        rows = episode.rows
        with_captions = captions or Path(episode.path).resolve() in captioned
        held_out = split_value(rows[0].run_id, rows[0].episode_id) < held_out_fraction * 10_000
        split = data.held_out if held_out else data.train
        if episode.agent_kind not in TEACHER_KINDS:
            labelled = [row for row in rows if row.info.get("teacher_answer")]
            data.skipped[f"{episode.agent_kind} steps without a teacher's label"] += len(rows) - len(labelled)
            # DAgger: the state the student reached, answered by the teacher (`play --teacher`).
            split += [SFTExample(row.frame_png, row.prompt, row.info["teacher_answer"], row.env_id, "label") for row in labelled]
            continue
        for row in rows:
            if row.parse_status != "ok":
                data.skipped["answer did not parse"] += 1
                continue
            split.append(SFTExample(row.frame_png, row.prompt, row.response, row.env_id))
            if with_captions and row.observation_text:
                split.append(SFTExample(row.frame_png, CAPTION_PROMPT, row.observation_text, row.env_id, "caption",
                                        str(row.info.get("render", ""))))
    return data
