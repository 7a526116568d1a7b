"""What the four card games share: the step bookkeeping around each game's own move."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlm_agent.envs.base import TextActionEnv

RENDER_STYLES = ("clear", "paper")


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
    `state` (the dict experts read), `render_clear` and `render_paper`. Every step counts toward
    `max_steps`, invalid ones included, so an agent that sends only invalid strings is still
    truncated.

    `render` picks the frames: "clear" (big centred ranks on plain cards, drawn for a small
    model) or "paper" (real card faces at the paper's sizes, envs/cards_paper.py);
    `info["render"]` says which drew the step's frame.
    """

    task_type = ""
    legal_actions: list[str] = []
    max_steps = 0
    steps = 0

    def __init__(self, invalid_action_penalty: float = -1.0, render_mode: str | None = "rgb_array", render: str = "clear"):
        super().__init__(invalid_action_penalty, render_mode)
        if render not in RENDER_STYLES:
            raise ValueError(f"render must be one of {', '.join(RENDER_STYLES)}, not {render!r}")
        self.render_style = render  # not `self.render`: that is gymnasium's method

    def render(self) -> np.ndarray:
        return self.render_paper() if self.render_style == "paper" else self.render_clear()

    def render_clear(self) -> np.ndarray:
        raise NotImplementedError

    def render_paper(self) -> np.ndarray:
        raise NotImplementedError

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
            "render": self.render_style,
        }
