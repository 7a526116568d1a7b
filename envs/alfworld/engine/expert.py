"""alfworld's handcoded expert, fixed for alfworld 0.4.x and safe to run inside an environment.

The bug: alfworld 0.4 renamed the command `put X in/on Y` to `move X to Y`, but the expert's
`BasePolicy.update_state_tracking` still tests `"put" in last_action` to learn that it no longer
holds what it put down. After a `move` it believes it still holds the object, so on pick-two
tasks it loops until the step limit. `apply_expert_fix` renames the command back for that one
method, in the class, so every user of the expert in this process (ours and AlfredTWEnv) gets it.
"""
from __future__ import annotations

import random

from alfworld.agents.environment.alfred_tw_env import AlfredExpert
from alfworld.agents.expert.handcoded_expert import BasePolicy

_FIXED_MARK = "_vlm_agent_move_fix"


def apply_expert_fix() -> None:
    """Make the expert track `move X to Y` as the `put` it was written for (idempotent)."""
    original = BasePolicy.update_state_tracking
    if getattr(original, _FIXED_MARK, False):
        return

    def update_state_tracking(self, game_state, last_action):
        if last_action.startswith("move "):
            last_action = "put " + last_action[len("move "):]
        return original(self, game_state, last_action)

    setattr(update_state_tracking, _FIXED_MARK, True)
    BasePolicy.update_state_tracking = update_state_tracking


class ExpertPlan(AlfredExpert):
    """AlfredExpert (handcoded) that never breaks the episode and draws from its own random stream.

    The stock wrapper lets the expert's give-up exceptions escape from `step`; here a step whose
    expert has given up gets `extra.expert_plan = []` instead. The expert calls the global
    `random`; its state is swapped in and out around each call, so a seeded episode replays
    exactly whatever else in the process uses `random`.
    """

    def __init__(self, env=None):
        apply_expert_fix()
        super().__init__(env, expert_type="handcoded")
        self._random_state = random.Random(0).getstate()

    def seed_expert(self, seed: int) -> None:
        self._random_state = random.Random(seed).getstate()

    def _gather_infos(self):
        outside = random.getstate()
        random.setstate(self._random_state)
        try:
            super()._gather_infos()
        except Exception:  # the expert gives up by raising (timeout, no subgoal left, its own bugs)
            self.state["extra.expert_plan"] = []
        finally:
            self._random_state = random.getstate()
            random.setstate(outside)
