"""Check a generated game by playing it with alfworld's handcoded expert (fixed) on the engine the env uses."""
from __future__ import annotations

from pathlib import Path

from vlm_agent.envs.alfworld.engine.engine import make_engine


class ExpertCheck:
    """One engine reused for many games: `steps_to_win(game)` is the expert's episode length or None."""

    def __init__(self, max_steps: int) -> None:
        self.max_steps = max_steps
        self.env = make_engine(with_expert=True)

    def steps_to_win(self, game_file: Path, seed: int) -> int | None:
        self.env.load(str(game_file))  # a game the engine cannot read is a bug here: let it raise
        self.env.seed_expert(seed)
        state = self.env.reset()
        for step in range(1, self.max_steps + 1):
            if not state["extra.expert_plan"]:  # the expert gave up
                return None
            state, _, done = self.env.step(state["extra.expert_plan"][0])
            if done:
                return step if state["won"] else None
        return None
