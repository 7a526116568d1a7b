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


class ShuttleAgent:
    """NumberLine: from its first position it steps "-", from anywhere else "+", so it shuttles between two
    states for ever; like a constrained decoder, it only picks among `decodable_actions()`."""

    kind = "shuttle"
    policy_version = "test-v0"

    def __init__(self, avoid_repeats: bool):
        self.sampling = {"greedy": True, "constrain_actions": True, "avoid_repeats": avoid_repeats}
        self.start_text = None

    def act(self, observations):
        decisions = []
        for obs in observations:
            if obs.history == () and self.start_text is None:
                self.start_text = obs.text
            wanted = "-" if obs.text == self.start_text else "+"
            allowed = obs.decodable_actions()
            action = wanted if wanted in allowed else allowed[0]
            text = '{"action": "%s"}' % action
            decisions.append(Decision(prompt="p", text=text, parse=parse_action(text, obs.legal_actions)))
        return decisions
