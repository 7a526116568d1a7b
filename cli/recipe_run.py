"""Running one recipe stage as a `vlm-agent` subprocess, so that stopping it anywhere loses nothing finished.

An output stage writes into a temp sibling that is renamed into place only when its command exits
0 (a leftover temp is deleted and the stage redone); a trainer is given --resume once its root has
a version, and is done when the root reached its goal. Ctrl-C (or SIGTERM) is passed on to the
stage once per press (the trainers publish the step in flight and exit), and the runner stops
after it; a runner that is killed takes its stage with it (Linux), so no orphan writes on.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from vlm_agent.cli.recipe_file import Stage, option_value
from vlm_agent.cli.recipe_state import Attempt, RecipeRecords, goal_of, position, remove
from vlm_agent.core.atomic import fsync_dir


class Interrupts:
    """Ctrl-C and SIGTERM while a recipe runs: counted, and passed on to the running stage as SIGINT."""

    def __init__(self):
        self.count = 0
        self.child: subprocess.Popen | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGINT)

    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> bool:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        return False


def stage_command(stage: Stage, records: RecipeRecords) -> tuple[list[str], int | None]:
    """The arguments this attempt runs (temp output, --resume, the updates left) and where its root stood first."""
    if stage.output is not None:
        return stage.argv(stage.temp), None
    args = stage.args
    if stage.trainer is None:
        return args, None
    at = position(stage)
    if at is not None and "--resume" not in args:
        args = [*args, "--resume"]  # the trainers refuse a used root without it
    started = records.started(stage.name)
    start = started["start_position"] if started is not None and started.get("start_position") is not None else (at or 0)
    if stage.trainer.option is not None and at is not None:
        goal = start + stage.trainer.goal
        args = _without(args, stage.trainer.option) + [stage.trainer.option, str(max(1, goal - at))]
    return args, start


def _without(args: list[str], flag: str) -> list[str]:
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == flag:
            skip = True
        elif not arg.startswith(flag + "="):
            kept.append(arg)
    return kept


def run_stage(stage: Stage, records: RecipeRecords, interrupts: Interrupts) -> tuple[Attempt, str]:
    """Run the stage's command once; returns the attempt and, if it did not finish the stage, why (one line)."""
    if stage.output is not None:
        # A killed attempt's half output, and the temp folders of a command that writes atomically itself (export).
        for leftover in [stage.temp, *stage.output.parent.glob(f".{stage.temp.name}.*")]:
            remove(leftover)
        stage.output.parent.mkdir(parents=True, exist_ok=True)
    args, start = stage_command(stage, records)
    argv = [sys.executable, "-m", "vlm_agent.cli.main", *args]
    began, clock = _now(), time.monotonic()
    presses = interrupts.count
    # Its own process group: the terminal's Ctrl-C reaches the runner alone, which passes it on once.
    interrupts.child = child = subprocess.Popen(argv, env={**os.environ, **stage.env}, stdin=subprocess.DEVNULL,
                                                process_group=0, preexec_fn=_die_with(os.getpid()))
    try:
        records.mark_started(stage, child.pid, start)
        code = child.wait()
    finally:
        interrupts.child = None
    interrupted = interrupts.count > presses
    why = _unfinished(stage, records, code)
    if why is None and stage.output is not None:
        if interrupted:
            why = "interrupted"
        else:
            stage.temp.rename(stage.output)
            fsync_dir(stage.output.parent)
    # A trainer stopped on its own (a SIGINT sent to it, not to the runner) publishes its step and exits 0 short of its goal.
    stopped = why is not None and code == 0 and stage.trainer is not None
    status = "done" if why is None else "interrupted" if interrupted else "stopped" if stopped else "failed"
    attempt = Attempt(stage.name, status, ["vlm-agent", *args], code, round(time.monotonic() - clock, 1), began, _now())
    records.log(attempt)
    if why is None:
        records.mark_done(stage, attempt)
    return attempt, why or ""


def _unfinished(stage: Stage, records: RecipeRecords, code: int) -> str | None:
    """Why the stage is not finished after its command exited with `code`; None when it is."""
    if code != 0:
        return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    if stage.output is not None and not stage.temp.exists():
        return f"exit code 0 but nothing written to {{output}} ({stage.output})"
    if stage.trainer is not None:
        at, goal = position(stage), goal_of(stage, records.started(stage.name))
        if at is None or goal is None or at < goal:
            return f"its command exited 0 with {stage.root} at {stage.trainer.counter} {at or 0} of {goal}"
    return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _die_with(parent: int):
    """A preexec function: on Linux the stage is killed when the runner dies, so no orphan keeps writing."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def arm() -> None:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the runner died before the line above
            os._exit(1)

    return arm
