"""Scripted experts: near-optimal agents whose answers are supervised training data.

Each environment's expert is a function `(obs, rng) -> (thoughts, action)` in its own module,
imported only when that environment is played (ALFWorld's pulls in the alfworld engine).
"""
from __future__ import annotations

import importlib
from typing import Callable

from vlm_agent.agent.interface import Observation
from vlm_agent.agent.scripted import ScriptedAgent

ExpertFn = Callable[[Observation, "random.Random"], tuple[str, str]]  # noqa: F821

_EXPERT_PATHS = {
    "vlm_agent/NumberLine-v0": "vlm_agent.agent.experts.numberline:numberline_expert",
    "vlm_agent/EZPoints-v0": "vlm_agent.agent.experts.points:ezpoints_expert",
    "vlm_agent/Points24-v0": "vlm_agent.agent.experts.points:points24_expert",
    "vlm_agent/Blackjack-v0": "vlm_agent.agent.experts.blackjack:blackjack_expert",
    "vlm_agent/ALFWorld-v0": "vlm_agent.agent.experts.alfworld:alfworld_expert",
}


def expert_for(env_id: str) -> ExpertFn:
    """The expert function of an environment; KeyError if it has none."""
    if env_id not in _EXPERT_PATHS:
        raise KeyError(f"no expert for {env_id!r}")
    module, name = _EXPERT_PATHS[env_id].split(":")
    return getattr(importlib.import_module(module), name)


class ExpertAgent(ScriptedAgent):
    """Dispatches each observation to its environment's expert."""

    kind = "expert"

    def answer(self, obs: Observation) -> tuple[str, str]:
        return expert_for(obs.env_id)(obs, self.rng)
