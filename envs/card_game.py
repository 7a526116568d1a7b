"""What the four card games share: the step bookkeeping around each game's own move."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlm_agent.envs.base import TextActionEnv


@dataclass
class MoveResult:
    """What one legal move did; `facts` are extra per-step entries for info."""

    reward: float
    terminated: bool = False
    truncated: bool = False
    success: bool = False
    facts: dict = field(default_factory=dict)


class CardGameEnv(TextActionEnv):
    """A game with fixed legal actions and an absolute step cap.

    Subclasses set `legal_actions`, `task_type` and `max_steps`, deal in `reset` (calling
    `start_episode`), and implement `play` (one legal move), `describe` (the state in words),
    `state` (the dict experts read) and `render`. Every step counts toward `max_steps`, invalid
    ones included, so an agent that sends only invalid strings is still truncated.
    """

    task_type = ""
    legal_actions: list[str] = []
    max_steps = 0
    steps = 0

    def start_episode(self) -> tuple[np.ndarray, dict]:
        """Reset the step count; return the first observation and info."""
        self.steps = 0
        return self.render(), self.info()

    def play(self, move: str) -> MoveResult:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def state(self) -> dict:
        raise NotImplementedError

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.steps += 1
        move = self.match_action(action, self.legal_actions)
        result = MoveResult(self.invalid_action_penalty) if move is None else self.play(move)
        # Truncation is the step cap (or a game's own limit), never a finished game.
        truncated = not result.terminated and (result.truncated or self.steps >= self.max_steps)
        info = self.info(invalid_action=move is None)
        info.update(result.facts)
        if result.terminated or truncated:
            info["success"] = result.success
        return self.render(), float(result.reward), result.terminated, truncated, info

    def info(self, invalid_action: bool = False) -> dict:
        return {
            "text": self.describe(),
            "legal_actions": list(self.legal_actions),
            "task_type": self.task_type,
            "task_text": "",  # the rules are the prompt's; the paper adds no task line for the cards
            "state": {**self.state(), "steps": self.steps, "max_steps": self.max_steps},
            "invalid_action": invalid_action,
        }
