"""NumberLine expert: step toward the target."""
from __future__ import annotations

import random

from vlm_agent.agent.interface import Observation


def numberline_expert(obs: Observation, rng: random.Random) -> tuple[str, str]:
    """One step toward the target; optimal, it reaches the target in |current - target| steps."""
    current, target = obs.state["current"], obs.state["target"]
    if current < target:
        return f"Current {current}, target {target}. {current} is less than {target}, so add one.", "+"
    if current > target:
        return f"Current {current}, target {target}. {current} is greater than {target}, so subtract one.", "-"
    # Only reachable if an episode goes on after reaching the target; any move is as good.
    return f"Current {current}, target {target}. They are equal already, so add one.", "+"
