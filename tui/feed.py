"""What the runtime's worker thread tells the UI, and the coalescing hand-off that carries it."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Union

from vlm_agent.agent.interface import Observation
from vlm_agent.runtime.records import StepRecord
from vlm_agent.tui.stats_view import StatsSnapshot


@dataclass(frozen=True)
class TurnRow:
    """One environment of a batched agent call: row i of the call is `rows[i]`."""

    env_index: int
    episode_id: str
    step: int
    observation: Observation


@dataclass(frozen=True)
class Turn:
    """The agent is about to answer these observations (published before the call)."""

    rows: tuple[TurnRow, ...]


@dataclass(frozen=True)
class Tokens:
    """The answers generated so far, one per row of the current turn."""

    partials: tuple[str, ...]


@dataclass(frozen=True)
class Published:
    """A step record as the bus published it, with the statistics right after it."""

    record: StepRecord
    stats: StatsSnapshot


@dataclass(frozen=True)
class Ended:
    """The worker stopped: all episodes done, quit, or an error (its one-line description)."""

    error: str = ""


Event = Union[Turn, Tokens, Published, Ended]


class Feed:
    """Thread-safe queue of events where at most one wake-up call is outstanding.

    `notify` (which posts a message to the app) runs only when the queue goes from empty to not
    empty, and consecutive token updates replace each other: a runtime stepping at thousands of
    steps per second, or a model streaming tokens, cannot flood the UI's message queue. The UI
    drains everything on each wake-up, in order.
    """

    def __init__(self, notify: Callable[[], object]):
        self._notify = notify
        self._lock = threading.Lock()
        self._events: list[Event] = []

    def put(self, event: Event) -> None:
        with self._lock:
            was_empty = not self._events
            if isinstance(event, Tokens) and self._events and isinstance(self._events[-1], Tokens):
                self._events[-1] = event
            else:
                self._events.append(event)
        if was_empty:
            self._notify()

    def drain(self) -> list[Event]:
        with self._lock:
            events, self._events = self._events, []
        return events
