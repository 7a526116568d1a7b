"""Agents that answer without a model: the base that turns an answer into a Decision, and random."""
from __future__ import annotations

import json
import random
from typing import Sequence

from vlm_agent.agent.interface import Decision, Observation
from vlm_agent.agent.parsing import parse_action
from vlm_agent.agent.prompts import asks_for_thoughts, build_prompt


def format_answer(thoughts: str | None, action: str) -> str:
    """The answer in the paper's JSON format; thoughts=None gives the action-only variant."""
    fields = {"thoughts": thoughts, "action": action} if thoughts is not None else {"action": action}
    return json.dumps(fields, ensure_ascii=False)


class ScriptedAgent:
    """Base of agents that compute their answer: subclasses implement `answer(obs)`.

    The answer goes through the same parser as a model's, so scripted episodes log exactly like
    model episodes and can serve as supervised data.
    """

    kind = "scripted"
    policy_version = ""
    model_root = ""

    def __init__(self, prompt_variant: str = "cot", seed: int | None = None):
        self.prompt_variant = prompt_variant
        self.rng = random.Random(seed)
        self.sampling: dict = {}

    def answer(self, obs: Observation) -> tuple[str, str]:
        """Return (thoughts, action) for one observation."""
        raise NotImplementedError

    def act(self, observations: Sequence[Observation]) -> list[Decision]:
        decisions = []
        for obs in observations:
            thoughts, action = self.answer(obs)
            text = format_answer(thoughts if asks_for_thoughts(self.prompt_variant) else None, action)
            decisions.append(
                Decision(
                    prompt=build_prompt(obs, self.prompt_variant),
                    text=text,
                    parse=parse_action(text, obs.legal_actions),
                )
            )
        return decisions


class RandomAgent(ScriptedAgent):
    """Picks a legal action uniformly at random: the floor every learning curve starts above."""

    kind = "random"

    def answer(self, obs: Observation) -> tuple[str, str]:
        return "I choose at random.", self.rng.choice(list(obs.legal_actions))
