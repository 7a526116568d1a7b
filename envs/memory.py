"""An episode memory for text environments whose observations are partial.

A memory is built only from what the agent received: the first observation of the episode, then
each command the environment accepted and the text it answered. It never reads the engine's state,
so replaying a logged episode's texts rebuilds it exactly (`replay`). It is shown to the agent as a
compact block of text (`render`) and to scripted agents as plain data (`as_data`).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterable, Sequence

from vlm_agent.envs.base import normalize_action


class EpisodeMemory(ABC):
    """What the agent has observed in one episode; subclasses parse one environment's texts."""

    @abstractmethod
    def reset(self, observation: str) -> None:
        """Forget the last episode and read the first observation of a new one."""

    @abstractmethod
    def update(self, command: str | None, observation: str) -> None:
        """Read the text `command` was answered with; None: the action was not admissible (nothing changed)."""

    @abstractmethod
    def render(self) -> str:
        """The compact block the prompt shows."""

    def earlier_renders(self) -> tuple[str, ...]:
        """The blocks earlier versions of this memory rendered for the same state, so a log written by one
        can still be checked against a rebuilt memory (training/relabel.py)."""
        return ()

    @abstractmethod
    def as_data(self) -> dict:
        """The same memory as JSON-able plain data (for scripted agents)."""


def accepted_command(action: str, legal_actions: Sequence[str]) -> str | None:
    """The legal command `action` names, as the environment matches it (case and spaces ignored), else None."""
    wanted = normalize_action(action)
    return next((legal for legal in legal_actions if normalize_action(legal) == wanted), None)


def replay(memory: EpisodeMemory, first_observation: str,
           steps: Iterable[tuple[str, Sequence[str], str]]) -> list[str]:
    """The block after the reset and after each step, from texts alone.

    `steps` are (action sent, the legal actions it was chosen from, the observation that followed),
    which is what an episode log keeps.
    """
    memory.reset(first_observation)
    blocks = [memory.render()]
    for action, legal_actions, observation in steps:
        memory.update(accepted_command(action, legal_actions), observation)
        blocks.append(memory.render())
    return blocks
