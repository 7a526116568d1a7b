"""NumberLine: move the current number to the target with "+" and "-" (RL4VLM's GymCards game)."""
from __future__ import annotations

import numpy as np

from vlm_agent.envs.card_game import CardGameEnv, MoveResult
from vlm_agent.envs.cards_paper import numberline_frame
from vlm_agent.envs.cards_render import HIGHLIGHT, TEXT, draw_text, font, new_frame, to_array

LINE_LEFT, LINE_RIGHT, LINE_Y = 30, 270, 215


class NumberLineEnv(CardGameEnv):
    """Target and current are drawn from 0..max_position, never equal.

    Reward: +1 when the move reaches the target (terminated); -1 when it does not bring current
    closer (moving away, or pushing against either end); 0 otherwise. Truncated after
    max_steps = 2 * max_position steps, invalid actions included, as in the paper.
    """

    task_type = "numberline"
    legal_actions = ["+", "-"]

    def __init__(self, max_position: int = 5, invalid_action_penalty: float = -1.0, render_mode: str | None = "rgb_array",
                 render: str = "clear"):
        super().__init__(invalid_action_penalty, render_mode, render)
        if max_position < 1:
            raise ValueError("max_position must be at least 1")
        self.max_position = max_position
        self.max_steps = 2 * max_position
        self.target = 0
        self.current = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.target = int(self.np_random.integers(self.max_position + 1))
        # Any position but the target, uniformly.
        self.current = int(self.np_random.integers(self.max_position))
        if self.current >= self.target:
            self.current += 1
        return self.start_episode()

    def play(self, move: str) -> MoveResult:
        before = abs(self.current - self.target)
        self.current = min(self.max_position, max(0, self.current + (1 if move == "+" else -1)))
        after = abs(self.current - self.target)
        if after == 0:
            return MoveResult(1.0, terminated=True, success=True)
        return MoveResult(0.0 if after < before else -1.0)

    def describe(self) -> str:
        return f"Target: {self.target}. Current: {self.current}."

    def state(self) -> dict:
        return {"target": self.target, "current": self.current, "max_position": self.max_position}

    def render_paper(self) -> np.ndarray:
        return numberline_frame(self.target, self.current)

    def render_clear(self) -> np.ndarray:
        image, draw = new_frame()
        draw_text(draw, f"Target: {self.target}", 24, 44, TEXT)
        draw_text(draw, f"Current: {self.current}", 90, 44, HIGHLIGHT)
        # The line with ticks, the target as a ring and current as a dot: position in a second form.
        draw.line((LINE_LEFT, LINE_Y, LINE_RIGHT, LINE_Y), fill=TEXT, width=4)
        spacing = (LINE_RIGHT - LINE_LEFT) / self.max_position
        label_size = max(12, min(26, int(spacing * 0.7)))
        for k in range(self.max_position + 1):
            x = LINE_LEFT + k * spacing
            draw.line((x, LINE_Y - 10, x, LINE_Y + 10), fill=TEXT, width=3)
            if self.max_position <= 12 or k % 5 == 0:
                draw.text((x, LINE_Y + 36), str(k), font=font(label_size), fill=TEXT, anchor="mt")
        target_x = LINE_LEFT + self.target * spacing
        current_x = LINE_LEFT + self.current * spacing
        draw.ellipse((target_x - 14, LINE_Y - 14, target_x + 14, LINE_Y + 14), outline=TEXT, width=4)
        draw.ellipse((current_x - 9, LINE_Y - 9, current_x + 9, LINE_Y + 9), fill=HIGHLIGHT)
        return to_array(image)
