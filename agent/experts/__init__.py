"""Scripted experts: near-optimal agents whose answers are supervised training data.

Each environment's expert is a function `(obs, rng) -> (thoughts, action)` in its own module,
imported only when that environment is played (ALFWorld's pulls in the alfworld engine).
`expert` decides from what the agent sees. For ALFWorld that is the teacher (alfworld_teacher.py:
task, memory, admissible commands); `expert-privileged` plays alfworld's handcoded expert instead,
which reads where objects really are, for comparison; `expert-ranked` is the teacher with its search
lookup written out step by step in the thoughts (the same actions), and `expert-shuffled` that teacher
visiting the places of one kind in a scrambled order. The card games are fully observed, so their
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
# ALFWorld's variants; the card games are fully observed, so every variant of theirs is the one expert.
_ALFWORLD = "vlm_agent.agent.experts.alfworld_teacher"
_VARIANTS = {
    "plain": f"{_ALFWORLD}:alfworld_teacher",
    "privileged": "vlm_agent.agent.experts.alfworld:alfworld_expert",
    "ranked": f"{_ALFWORLD}:alfworld_teacher_ranked",
    "shuffled": f"{_ALFWORLD}:alfworld_teacher_shuffled",
}


def expert_for(env_id: str, variant: str = "plain") -> ExpertFn:
    """The expert function of an environment; `variant` picks ALFWorld's ("privileged": the one that may
    read hidden state; "ranked": the teacher with its search lookup written out; "shuffled": that, visiting
    the places of one kind in a scrambled order). KeyError if none."""
    path = _VARIANTS[variant] if env_id == "vlm_agent/ALFWorld-v0" else _EXPERT_PATHS.get(env_id)
    if path is None:
        raise KeyError(f"no expert for {env_id!r}")
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


class ExpertAgent(ScriptedAgent):
    """Dispatches each observation to its environment's expert."""

    kind = "expert"
    variant = "plain"

    def answer(self, obs: Observation) -> tuple[str, str]:
        return expert_for(obs.env_id, self.variant)(obs, self.rng)


class PrivilegedExpertAgent(ExpertAgent):
    """The expert that may read the engine's hidden state (ALFWorld's handcoded expert), for comparison."""

    kind = "expert-privileged"
    variant = "privileged"


class RankedExpertAgent(ExpertAgent):
    """The expert; on ALFWorld the teacher's same actions with the search lookup written out in its thoughts."""

    kind = "expert-ranked"
    variant = "ranked"


class ShuffledExpertAgent(ExpertAgent):
    """The ranked teacher visiting the places of one kind in a scrambled order (ALFWorld), so which place is
    next can only be read from the memory's `unsearched:` line, never from the number of the one in front."""

    kind = "expert-shuffled"
    variant = "shuffled"
