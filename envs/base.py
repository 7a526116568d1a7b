"""What every vlm_agent environment shares: a frame observation, text actions, text state in info."""
from __future__ import annotations

import string
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

FRAME_SIZE = 300


def normalize_action(text: str) -> str:
    """Case and whitespace do not matter; everything else does ("cabinet 1" != "cabinet 10")."""
    return " ".join(text.split()).casefold()


class TextActionEnv(gym.Env):
    """Base class: observation is a 300x300 RGB frame, an action is a string.

    Actions are the strings a language agent writes. A string that is not one of
    `info["legal_actions"]` is an invalid action: it earns `invalid_action_penalty`, leaves the
    state unchanged, still counts toward the step limit, and sets `info["invalid_action"]`.
    `info` always carries `text` (the state in words), `legal_actions`, `task_type`, `task_text`
    and `state` (a dict that scripted experts read); `success` is set when an episode ends.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}
    observation_space = spaces.Box(0, 255, (FRAME_SIZE, FRAME_SIZE, 3), dtype=np.uint8)
    # Any printable text is a well-formed action; whether it is legal is the game's business.
    action_space = spaces.Text(max_length=256, min_length=0, charset=string.printable)

    def __init__(self, invalid_action_penalty: float = -1.0, render_mode: str | None = "rgb_array"):
        self.invalid_action_penalty = invalid_action_penalty
        self.render_mode = render_mode

    def match_action(self, action: Any, legal_actions: list[str]) -> str | None:
        """Return the legal action `action` names (case and whitespace ignored), else None."""
        if not isinstance(action, str):
            return None
        wanted = normalize_action(action)
        for legal in legal_actions:
            if normalize_action(legal) == wanted:
                return legal
        return None
