"""Lookup drills: extra SFT examples that ask for entries of the prompt's memory block by name.

A search step of the ALFWorld teacher turns on a few look-ups, "what does the memory's
`unsearched:` line say after countertop?", which the answers exercise one to three times each,
among a hundred copied tokens. Students never learned them: teacher-forced on the teacher's own
answers, they got them right about three times in four, on their training games as on new ones,
and their attention at those tokens barely touched the memory (docs/learning/alfworld-teacher-sft.md).
A drill takes a prompt that has such a line, asks for its entries in a shuffled order of their
names, and answers with each name followed by its entry: ten look-ups in one short answer, on the
very prompts the policy sees.

    prompt: <the step's prompt>
            Quote the unsearched: entries of: drawer, countertop, cabinet
    answer: drawer 1, 3; countertop none; cabinet 2, 4 (closed)

Asked on the whole prompt, drills did not teach the look-up (exp13, exp14: drill entries stayed at
the 71% a constant answer scores). Asked on the prompt's memory block alone (a short drill: about
100 tokens instead of 300, none of the observation's and instructions' mentions of the same words),
at lr 1e-3, they grew a head that finds an entry by its name: 92% of entries on short prompts after
750 steps, 80% on whole prompts, 87% once whole prompts were trained on too
(docs/learning/alfworld-teacher-sft.md, exp15 and exp16).
"""
from __future__ import annotations

import random
import re
import zlib
from dataclasses import replace

from vlm_agent.envs.alfworld.memory import grouped_entries
from vlm_agent.training.sft_data import SFTData, SFTExample

DRILLED_LINES = ("unsearched",)  # memory lines of "name entry; name entry; ..." groups that drills quote
_LINE = re.compile(rf"^(?P<label>{'|'.join(DRILLED_LINES)}): (?P<groups>.*)$", re.MULTILINE)
_MEMORY_BLOCK = re.compile(r"Memory:\n.*?(?=\nObservation:|\nQuote the |\Z)", re.S)


def memory_block(prompt: str) -> str | None:
    """The prompt's "Memory:" block alone, up to the observation or a drill's question (None: the prompt has none)."""
    found = _MEMORY_BLOCK.search(prompt)
    return found.group(0) if found else None


def lookup_drill(example: SFTExample) -> SFTExample | None:
    """The drill for one example's prompt (None: it has no drilled line of two or more entries).
    The order of the names is seeded by the prompt, so the same data gives the same drills."""
    found = _LINE.search(example.prompt)
    if not found:
        return None
    entries = grouped_entries(found.group("groups"))
    if len(entries) < 2:
        return None
    random.Random(zlib.crc32(example.prompt.encode())).shuffle(entries)
    question = f"Quote the {found.group('label')}: entries of: " + ", ".join(name for name, _ in entries)
    answer = "; ".join(f"{name} {entry}" for name, entry in entries)
    return SFTExample(example.frame_png, f"{example.prompt}\n{question}", answer, example.env_id, "drill")


def short_lookup_drill(example: SFTExample) -> SFTExample | None:
    """The drill asked on the prompt's memory block alone (None: no block, or no drilled line in it)."""
    block = memory_block(example.prompt)
    return lookup_drill(replace(example, prompt=block)) if block else None


def add_lookup_drills(data: SFTData, share: float, short_share: float = 0.0) -> int:
    """Add a drill for about `share` of the examples that have a drilled line, and a short drill (on the
    memory block alone) for about `short_share` of them, each chosen by a hash of the prompt, to the
    split each came from; returns how many were added."""
    added = 0
    for salt, fraction, make in ((b"drill", share, lookup_drill), (b"short", short_share, short_lookup_drill)):
        for split in (data.train, data.held_out):
            drills = [make(example) for example in split if example.kind != "drill"
                      and zlib.crc32(salt + example.prompt.encode()) % 10_000 < fraction * 10_000]
            drills = [drill for drill in drills if drill is not None]
            split.extend(drills)
            added += len(drills)
    return added
