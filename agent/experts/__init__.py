"""Scripted experts: near-optimal agents whose answers are supervised training data.

Each environment's expert is a function `(obs, rng) -> (thoughts, action)` in its own module,
imported only when that environment is played (ALFWorld's pulls in the alfworld engine).
`expert` decides from what the agent sees. For ALFWorld that is the teacher (alfworld_teacher.py:
task, memory, admissible commands); `expert-privileged` plays alfworld's handcoded expert instead,
which reads where objects really are, for comparison; `expert-ranked` is the teacher with its search
lookup written out step by step in the thoughts (the same actions). The card games are fully observed, so their
two experts are the same.
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
    "vlm_agent/ALFWorld-v0": "vlm_agent.agent.experts.alfworld_teacher:alfworld_teacher",
}
_PRIVILEGED_PATHS = {**_EXPERT_PATHS, "vlm_agent/ALFWorld-v0": "vlm_agent.agent.experts.alfworld:alfworld_expert"}
_RANKED_PATHS = {**_EXPERT_PATHS, "vlm_agent/ALFWorld-v0": "vlm_agent.agent.experts.alfworld_teacher:alfworld_teacher_ranked"}


def expert_for(env_id: str, privileged: bool = False, ranked: bool = False) -> ExpertFn:
    """The expert function of an environment (`privileged`: the one that may read hidden state; `ranked`:
    ALFWorld's teacher with its search lookup written out); KeyError if none."""
    paths = _PRIVILEGED_PATHS if privileged else _RANKED_PATHS if ranked else _EXPERT_PATHS
    if env_id not in paths:
        raise KeyError(f"no expert for {env_id!r}")
    module, name = paths[env_id].split(":")
    return getattr(importlib.import_module(module), name)


class ExpertAgent(ScriptedAgent):
    """Dispatches each observation to its environment's expert."""

    kind = "expert"
    privileged = False
    ranked = False

    def answer(self, obs: Observation) -> tuple[str, str]:
        return expert_for(obs.env_id, self.privileged, self.ranked)(obs, self.rng)


class PrivilegedExpertAgent(ExpertAgent):
    """The expert that may read the engine's hidden state (ALFWorld's handcoded expert), for comparison."""

    kind = "expert-privileged"
    privileged = True


class RankedExpertAgent(ExpertAgent):
    """The expert; on ALFWorld the teacher's same actions with the search lookup written out in its thoughts."""

    kind = "expert-ranked"
    ranked = True
