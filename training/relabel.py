"""Relabel logged student episodes with another teacher, offline: new DAgger labels without replaying the student.

A teacher that decides from what the agent saw can answer a logged state again whenever that
state can be rebuilt from the log. ALFWorld's can: the teacher reads the task, the admissible
commands and the observation memory, and the memory is a function of the episode's texts alone
(envs/memory.py). Each rebuilt memory block is checked against the block the step's prompt showed;
an episode where one differs is left out and counted, never labelled from a wrong state. A log of
an earlier memory format passes the check in that format (`EpisodeMemory.earlier_renders`), and its
prompts are written with today's block, so `sft` trains the prompt the model will be shown.

The output is a copy of each source run (its manifest, with what was relabelled, and its episode
files) in which every step's `info` carries the new `teacher_answer` and `teacher_action`, so
`sft` trains on them. Episodes of a scripted agent are not relabelled: play that agent again,
which is cheap and exact.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from vlm_agent.agent.interface import Observation
from vlm_agent.agent.parsing import parse_action
from vlm_agent.agent.prompts import asks_for_thoughts
from vlm_agent.agent.scripted import ScriptedAgent, format_answer
from vlm_agent.core.atomic import write_folder_atomic
from vlm_agent.envs.alfworld.memory import MEMORY_STYLES, ALFWorldMemory
from vlm_agent.envs.memory import EpisodeMemory, accepted_command
from vlm_agent.runtime.episode_log import EPISODES_DIR, MANIFEST
from vlm_agent.runtime.log_reader import Episode, iter_episodes
from vlm_agent.runtime.log_schema import StepRow
from vlm_agent.training.sft_data import TEACHER_KINDS

# Environments whose teacher decides from texts the log keeps: the memory that rebuilds its state, by style of
# block; the style a log was played with is found by its prompts.
MEMORIES: dict[str, tuple[Callable[[str], EpisodeMemory], tuple[str, ...]]] = {
    "vlm_agent/ALFWorld-v0": (ALFWorldMemory, MEMORY_STYLES),
}


@dataclass
class RelabelCounts:
    episodes: int = 0
    steps: int = 0
    changed: int = 0  # steps whose new teacher action differs from the old label's
    reprompted: int = 0  # steps whose prompt showed an earlier format of the memory block, rewritten
    skipped: Counter = field(default_factory=Counter)  # reason -> episodes


def relabel_episode(episode: Episode, teacher: ScriptedAgent, memory: EpisodeMemory,
                    shown_as: EpisodeMemory | None = None) -> tuple[list[dict], list[str]] | None:
    """Each step's new label as (teacher_answer, teacher_action) in a new info dict, and its prompt with today's
    memory block; None if a memory block differs from the rebuilt one.

    `shown_as`: another style of the same memory, rebuilt beside it, whose block the new prompts show and the
    teacher reads (a log played with one block, relabelled for training on another)."""
    rows: list[StepRow] = episode.rows
    texts = [row.observation_text for row in rows]
    shown_as = memory if shown_as is None else shown_as
    memories = [memory] if shown_as is memory else [memory, shown_as]
    for m in memories:
        m.reset(texts[0])
    infos, prompts = [], []
    for k, row in enumerate(rows):
        prompt = row.prompt
        if "Memory:\n" in prompt:
            block = memory.render()
            shown = next((b for b in (block, *memory.earlier_renders()) if f"Memory:\n{b}\nObservation:" in prompt), None)
            if shown is None:
                return None  # the state the student saw is not the one rebuilt
            prompt = prompt.replace(f"Memory:\n{shown}\nObservation:", f"Memory:\n{shown_as.render()}\nObservation:", 1)
        prompts.append(prompt)
        obs = Observation(env_id=row.env_id, frame=None, text=row.observation_text, legal_actions=tuple(row.legal_actions),
                          task_type=row.task_type, task_text=row.task_text, state={"memory": shown_as.as_data()},
                          memory=shown_as.render())
        thoughts, action = teacher.answer(obs)
        text = format_answer(thoughts if asks_for_thoughts(teacher.prompt_variant) else None, action)
        parse = parse_action(text, obs.legal_actions)
        infos.append({**row.info, "teacher_answer": text, "teacher_action": parse.action if parse.ok else None})
        if k + 1 < len(rows):
            command = accepted_command(row.action_sent, row.legal_actions)
            for m in memories:
                m.update(command, texts[k + 1])
    return infos, prompts


def relabel_logs(paths: Iterable[Path], teacher: ScriptedAgent, out: Path, on_skip=None,
                 memory_style: str | None = None) -> RelabelCounts:
    """Relabel every student episode under `paths` into the new folder `out` (written whole or not at all).

    `memory_style`: the style of memory block the new prompts show and the teacher reads (one of the
    environment's styles, e.g. ALFWorld's `MEMORY_STYLES`); default: each log's own."""
    counts = RelabelCounts()
    runs: dict[Path, list[tuple[str, pa.Table]]] = {}
    for episode in iter_episodes(paths, on_skip=on_skip):
        if episode.agent_kind in TEACHER_KINDS or episode.agent_kind.startswith("expert"):
            counts.skipped["episodes of a scripted agent (play it again instead)"] += 1
            continue
        env_id = episode.rows[0].env_id
        if env_id not in MEMORIES:
            counts.skipped[f"{env_id} episodes (its teacher's inputs are not all in the log)"] += 1
            continue
        make, styles = MEMORIES[env_id]
        relabelled = next((found for style in styles
                           if (found := relabel_episode(episode, teacher, make(style),
                                                        make(memory_style) if memory_style else None)) is not None), None)
        if relabelled is None:
            counts.skipped["episodes whose memory does not rebuild from their texts"] += 1
            continue
        infos, prompts = relabelled
        old = [row.info.get("teacher_action") for row in episode.rows]
        counts.changed += sum(info["teacher_action"] != before for info, before in zip(infos, old) if before is not None)
        counts.reprompted += sum(new != row.prompt for new, row in zip(prompts, episode.rows))
        table = episode.table
        for name, column in (("info", [json.dumps(info, sort_keys=True) for info in infos]), ("prompt", prompts)):
            table = table.set_column(table.schema.get_field_index(name), name, pa.array(column, pa.string()))
        runs.setdefault(episode.path.parent.parent, []).append((episode.path.name, table))
        counts.episodes += 1
        counts.steps += len(infos)
    if not runs:
        raise ValueError("no student episodes to relabel under " + ", ".join(str(p) for p in paths)
                         + (f" (set aside: {dict(counts.skipped)})" if counts.skipped else ""))

    names_unique = len({run.name for run in runs}) == len(runs)  # runs from different log roots may share a name

    def fill(folder: Path) -> None:
        for index, (run, episodes) in enumerate(sorted(runs.items())):
            target = folder / (run.name if names_unique else f"{index:03d}-{run.name}")
            (target / EPISODES_DIR).mkdir(parents=True)
            manifest = _read_manifest(run)
            manifest["relabelled"] = {"from": str(run.resolve()), "teacher": teacher.kind}
            (target / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
            for name, table in episodes:
                pq.write_table(table, target / EPISODES_DIR / name)

    write_folder_atomic(out, fill, exclusive=True)
    return counts


def _read_manifest(run: Path) -> dict:
    try:
        data = json.loads((run / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
