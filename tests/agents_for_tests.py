"""Agents with fixed misbehaviour, for testing how the runtime treats bad answers."""
from vlm_agent.agent.interface import Decision
from vlm_agent.agent.parsing import parse_action


class FixedTextAgent:
    """Answers every observation with the same text (garbage, an illegal action, ...)."""

    kind = "fixed"
    policy_version = "test-v0"
    sampling = {"greedy": True}

    def __init__(self, text: str):
        self.text = text
        self.calls = 0

    def act(self, observations):
        self.calls += 1
        return [Decision(prompt="p", text=self.text, parse=parse_action(self.text, o.legal_actions)) for o in observations]
