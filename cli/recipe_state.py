"""What a recipe's stages have done: markers and timings under <out>/.recipe/, and each stage's state.

    <out>/.recipe/<stage>.done       the finished stage: its command, exit code, wall seconds, UTC start and end
    <out>/.recipe/<stage>.started    the attempt in flight or interrupted: command, pid, where its root stood
    <out>/.recipe/timings.jsonl      one line per attempt (done, failed or interrupted)
    <out>/.recipe/LOCK               held by the runner, so two runs never share an --out
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path

from vlm_agent.cli.recipe_file import Recipe, Stage
from vlm_agent.core.atomic import write_json_atomic
from vlm_agent.runtime.checkpoints import CheckpointStore


class State(str, Enum):
    DONE = "done"
    PARTIAL = "partial"  # started before and stopped: a trainer resumes, anything else starts over
    TODO = "todo"
    CHANGED = "changed"  # done (or, for a trainer, started) with a command the recipe no longer says


@dataclass(frozen=True)
class Attempt:
    """One run of a stage's command."""

    stage: str
    status: str  # done, failed, interrupted, or stopped (a trainer that exited 0 short of its goal)
    command: list[str]  # as run: with the temp output, --resume
    exit_code: int
    wall_seconds: float
    started: str  # UTC, ISO 8601
    ended: str


class RecipeRecords:
    """The <out>/.recipe/ folder of one recipe run."""

    def __init__(self, out: Path):
        self.folder = Path(out) / ".recipe"
        self._lock_fd: int | None = None

    def done(self, name: str) -> dict | None:
        return _read(self.folder / f"{name}.done")

    def started(self, name: str) -> dict | None:
        return _read(self.folder / f"{name}.started")

    def mark_started(self, stage: Stage, pid: int, start_position: int | None) -> None:
        record = {"stage": stage.name, "command": stage.args, "env": stage.env, "pid": pid, "start_position": start_position}
        write_json_atomic(self.folder / f"{stage.name}.started", record)

    def mark_done(self, stage: Stage, attempt: Attempt | None = None, found: str | None = None) -> None:
        """The stage's marker: the attempt that finished it, or (`found`) why it counts as done without one."""
        record = {"stage": stage.name, "command": stage.args, "env": stage.env}
        if attempt is not None:
            record.update(ran=attempt.command, exit_code=attempt.exit_code, wall_seconds=attempt.wall_seconds,
                          started=attempt.started, ended=attempt.ended)
        if found is not None:
            record["found"] = found
        write_json_atomic(self.folder / f"{stage.name}.done", record)
        (self.folder / f"{stage.name}.started").unlink(missing_ok=True)

    def log(self, attempt: Attempt) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "timings.jsonl", "a") as handle:
            handle.write(json.dumps(asdict(attempt)) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def forget(self, stage: Stage) -> None:
        """Drop the stage's records and what it wrote (its output or checkpoint root), so it runs from scratch."""
        for suffix in ("done", "started"):
            (self.folder / f"{stage.name}.{suffix}").unlink(missing_ok=True)
        for path in (stage.output, stage.output and stage.temp, stage.root):
            if path is not None:
                remove(path)

    def lock(self, out: Path) -> None:
        """Claim `out` for this run; a second runner on it is refused in one line."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ValueError(f"{out}: another `vlm-agent model recipe` is running on this folder") from None
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def position(stage: Stage) -> int | None:
    """Where a trainer's checkpoint root stands (its newest version's step or update); None before its first version."""
    latest = CheckpointStore(stage.root).latest() if stage.root.exists() else None
    return None if latest is None else int(latest.meta().get(stage.trainer.counter, 0))


def goal_of(stage: Stage, started: dict | None) -> int | None:
    """The root position that finishes a trainer's stage; None for a relative goal not started yet."""
    if not stage.trainer.relative:
        return stage.trainer.goal
    if started is None or started.get("start_position") is None:
        return None
    return started["start_position"] + stage.trainer.goal


def state_of(stage: Stage, records: RecipeRecords) -> tuple[State, str | None]:
    """The stage's state, and for a stage done but not marked (the runner stopped after its command finished) why it is done."""
    marker = records.done(stage.name)
    if marker is not None:
        if (marker["command"], marker.get("env", {})) != (stage.args, stage.env):
            return State.CHANGED, None
        if stage.output is not None and not stage.output.exists() or stage.root is not None and position(stage) is None:
            return State.TODO, None  # what it wrote was removed since
        return State.DONE, None
    started = records.started(stage.name)
    if stage.output is not None:
        if stage.output.exists():
            return State.DONE, f"{stage.output} was in place"
        return (State.PARTIAL if started is not None or stage.temp.exists() else State.TODO), None
    if stage.trainer is not None:
        if started is not None and (started["command"], started.get("env", {})) != (stage.args, stage.env):
            return State.CHANGED, None
        at, goal = position(stage), goal_of(stage, started)
        if at is not None and goal is not None and at >= goal:
            return State.DONE, f"{stage.root} was at {stage.trainer.counter} {at}"
    return (State.PARTIAL if started is not None else State.TODO), None


def products(stage: Stage) -> list[Path]:
    return [path for path in (stage.output, stage.root) if path is not None]


def redo_set(recipe: Recipe, names: list[str]) -> list[Stage]:
    """The stages `--redo NAMES` runs again: those, every later stage that reads what they wrote, and, for a
    trainer, every stage on its checkpoint root (a root cannot be taken back to an earlier stage's step)."""
    chosen = {recipe.stage(name).name for name in names}
    while True:
        grown = set(chosen)
        for stage in recipe.stages:
            if stage.root is not None and any(other.root == stage.root for other in recipe.stages if other.name in grown):
                grown.add(stage.name)
        for index, stage in enumerate(recipe.stages):
            earlier = [s for s in recipe.stages[:index] if s.name in grown]
            if any(_reads(stage, product) for s in earlier for product in products(s)):
                grown.add(stage.name)
        if grown == chosen:
            return [stage for stage in recipe.stages if stage.name in chosen]
        chosen = grown


def _reads(stage: Stage, product: Path) -> bool:
    """Whether one of the stage's arguments or env values is `product`, inside it or a folder holding it."""
    for value in [*stage.args, *stage.env.values()]:
        value = value.split("=", 1)[1] if value.startswith("--") and "=" in value else value
        if value in ("", ".") or value.startswith("-"):
            continue
        path = Path(value)
        if path == product or product in path.parents or path in product.parents:
            return True
    return False
