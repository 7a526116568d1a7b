"""Repeated states within an episode: which actions a constrained greedy agent must not send again.

A greedy policy is a function of its prompt, so once an episode comes back to a state it has been in,
it answers much as before and goes round the same loop until the step limit. A state is what the agent
is shown of the world: the task, the observation, the memory, the frame and the legal actions, not the
recent steps (the same place reached by another path is the same state; keyed with the recent steps
too, v6 broke its loops later and won 86 of 100 generated ALFWorld games instead of 91). The guard
remembers, per episode, the actions sent from each state; in a state seen before, those actions are
named in the observation's `avoid_actions`, so the constrained decoder takes the policy's best other
legal action. It reads nothing but what the agent was shown.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace

from vlm_agent.agent.interface import Observation


def state_key(obs: Observation) -> str:
    """What makes two observations the same state for the agent: what it is shown of the world, less the recent steps."""
    digest = hashlib.sha256(repr((obs.env_id, obs.task_text, obs.text, obs.memory, obs.legal_actions)).encode())
    if obs.frame is not None:
        digest.update(repr(obs.frame.shape).encode())
        digest.update(obs.frame.tobytes())
    return digest.hexdigest()


class RepeatGuard:
    """One episode's states and the actions sent from each."""

    def __init__(self) -> None:
        self._sent: dict[str, list[str]] = {}

    def reset(self) -> None:
        self._sent.clear()

    def guarded(self, obs: Observation) -> Observation:
        """`obs` with the actions already sent from its state to avoid; none when every legal action was tried."""
        sent = self._sent.get(state_key(obs), [])
        avoid = tuple(action for action in obs.legal_actions if action in sent)
        if len(avoid) == len(obs.legal_actions):  # all tried: the policy chooses freely again
            avoid = ()
        return replace(obs, avoid_actions=avoid)

    def record(self, obs: Observation, action: str) -> None:
        sent = self._sent.setdefault(state_key(obs), [])
        if action not in sent:
            sent.append(action)
