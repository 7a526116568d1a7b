"""The hand-off between a training loop (worker thread) and the training view (UI thread).

The trainer only ever calls the hooks: each puts an event in a Feed (a lock and a list append) and
returns, so drawing never slows an update. The UI's keys only set flags the loop reads between
updates: pause, update now, stop.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from vlm_agent.runtime.checkpoints import CheckpointRef
from vlm_agent.tui.feed import Feed
from vlm_agent.tui.train_history import UpdatePoint


@dataclass(frozen=True)
class Updated:
    point: UpdatePoint


@dataclass(frozen=True)
class Phase:
    """The loop started doing `phase` ("waiting", "playing", "updating") at `at`, with `waiting` new episodes."""

    phase: str
    waiting: int
    at: float


@dataclass(frozen=True)
class Warned:
    line: str


@dataclass(frozen=True)
class Finished:
    """The training loop returned: all updates done, stopped, or an error (its one-line description)."""

    error: str = ""


@dataclass(frozen=True)
class TrainHooks:
    """What a training loop (`watch`, `train_online`) is given to report and to be steered."""

    on_update: Callable[[CheckpointRef, dict], None]
    on_phase: Callable[[str, int], None]
    warn: Callable[[str], None]
    stop: Callable[[], bool]
    update_now: Callable[[], bool]


# A training run as the CLI prepares it: called once, on the worker thread, with the view's hooks.
TrainJob = Callable[[TrainHooks], None]


class TrainControl:
    """Flags the UI sets and the training thread reads (thread-safe; nothing here blocks the UI)."""

    def __init__(self, interrupted: Callable[[], bool] = lambda: False):
        self._interrupted = interrupted  # e.g. Ctrl-C caught by a StopFlag
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._update_now = threading.Event()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def stop_requested(self) -> bool:
        return self._stop.is_set() or self._interrupted()

    def request_stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused loop must wake up to stop

    def toggle_pause(self) -> None:
        if self._running.is_set():
            self._running.clear()
        else:
            self._running.set()

    def request_update(self) -> None:
        self._update_now.set()

    def take_update_request(self) -> bool:
        """True once per key press: the loop trains on what it has instead of waiting for more."""
        if self._update_now.is_set():
            self._update_now.clear()
            return True
        return False

    def wait_while_paused(self) -> None:
        while not self._running.wait(0.2) and not self.stop_requested():
            pass


def hooks_for(feed: Feed, control: TrainControl, clock: Callable[[], float] = time.time) -> TrainHooks:
    """Hooks that report into `feed` and pause before starting new work while `control` is paused."""

    def on_update(ref: CheckpointRef, metrics: dict) -> None:
        feed.put(Updated(UpdatePoint.from_metrics(ref.name, metrics, int(ref.meta().get("update", 0)), clock())))

    def on_phase(phase: str, waiting: int) -> None:
        if phase != "waiting":  # "pause after the current update": the next round or update waits here
            control.wait_while_paused()
        feed.put(Phase(phase, waiting, clock()))

    return TrainHooks(on_update, on_phase, lambda line: feed.put(Warned(line)), control.stop_requested, control.take_update_request)
