"""The human agent: a person picks each action in the terminal UI; the episodes log as human data."""
from __future__ import annotations

import threading
import time
from typing import Sequence

from vlm_agent.agent.interface import Decision, Observation
from vlm_agent.agent.parsing import parse_action
from vlm_agent.agent.prompts import build_prompt
from vlm_agent.agent.scripted import format_answer


class HumanCancelled(Exception):
    """Raised inside `act()` when the UI gives up waiting (the person quit)."""


class HumanAgent:
    """`act()` blocks the runtime's thread until the UI has submitted an action for every row.

    The UI learns what to ask from the observations it is shown and answers with `submit(row,
    action)` from its own thread, possibly before `act()` has started waiting: calls come one at a
    time, so an answer always belongs to the next (or current) call. The answer is the same JSON the scripted agents write, so the
    parser and the log treat a person like any other agent (no log-probs, no value).
    """

    kind = "human"
    policy_version = ""
    model_root = ""

    def __init__(self, prompt_variant: str = "cot"):
        self.prompt_variant = prompt_variant
        self.sampling: dict = {}
        self._changed = threading.Condition()
        self._waiting: tuple[Observation, ...] = ()
        self._actions: dict[int, str] = {}
        self._cancelled = False

    def act(self, observations: Sequence[Observation]) -> list[Decision]:
        started = time.time()
        with self._changed:
            if self._cancelled:
                raise HumanCancelled
            self._waiting = tuple(observations)
            self._changed.wait_for(lambda: self._cancelled or all(row in self._actions for row in range(len(observations))))
            actions, self._actions, self._waiting = self._actions, {}, ()
            if self._cancelled:
                raise HumanCancelled
        seconds = (time.time() - started) / max(1, len(observations))
        decisions = []
        for row, obs in enumerate(observations):
            text = format_answer(None, actions[row])
            decisions.append(
                Decision(
                    prompt=build_prompt(obs, self.prompt_variant),
                    text=text,
                    parse=parse_action(text, obs.legal_actions),
                    gen_seconds=seconds,
                )
            )
        return decisions

    def waiting_rows(self) -> list[int]:
        """Rows of the pending call that still need an action (empty when nothing waits)."""
        with self._changed:
            return [row for row in range(len(self._waiting)) if row not in self._actions]

    def submit(self, row: int, action: str) -> None:
        """Answer row `row` of the pending (or next) call; ValueError if that row is answered already."""
        with self._changed:
            if row < 0 or row in self._actions:
                raise ValueError(f"row {row} already has an action")
            self._actions[row] = action
            self._changed.notify_all()

    def cancel(self) -> None:
        """Make the pending and every later `act()` raise HumanCancelled."""
        with self._changed:
            self._cancelled = True
            self._changed.notify_all()
