"""The contract between the runtime and any agent: a batch of observations in, one decision each out."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from vlm_agent.agent.parsing import ParseResult


@dataclass(frozen=True)
class Observation:
    """What one environment shows the agent at one step.

    `frame` is the HxWx3 uint8 image the VLM sees; `text` is the same state in words (the card
    games' cards and formula, ALFWorld's text observation); `legal_actions` are the exact strings
    the environment accepts.
    """

    env_id: str
    frame: np.ndarray
    text: str
    legal_actions: tuple[str, ...]
    task_type: str
    task_text: str
    state: dict = field(default_factory=dict)  # structured state scripted agents may read
    history: tuple[str, ...] = ()  # recent steps in words, when the environment keeps a history
    memory: str = ""  # what the agent has observed this episode, as a block (environments with partial views)
    # Names this decision for a sampling agent's random draws: (episode seed, repeat, step) in the
    # runtime loop. The same key draws the same noise in any batch or run (see keyed_sampling).
    sample_key: tuple[int, ...] = ()
    # Legal actions a constrained decoder should not pick: with `avoid_repeats`, the runtime names the actions
    # already sent from this same state this episode (a greedy agent would send them again and loop).
    avoid_actions: tuple[str, ...] = ()

    def decodable_actions(self) -> tuple[str, ...]:
        """The legal actions a constrained decoder may choose: all but `avoid_actions`, or all when that leaves none."""
        allowed = tuple(action for action in self.legal_actions if action not in self.avoid_actions)
        return allowed or self.legal_actions


@dataclass
class Decision:
    """One agent's answer for one observation.

    Scripted agents fill `prompt`, `text` and `parse`. The VLM policy also fills the generated
    token ids, their behaviour log-probs, the CoT/action token masks and the value.
    """

    prompt: str
    text: str
    parse: ParseResult
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    cot_mask: list[bool] | None = None
    action_mask: list[bool] | None = None
    value: float | None = None
    gen_seconds: float = 0.0


@runtime_checkable
class Agent(Protocol):
    """Anything that decides for a batch of environments at once."""

    kind: str  # "random", "expert", "expert-privileged", "human", "vlm"
    policy_version: str  # checkpoint id that produced the decisions; "" for scripted agents
    sampling: dict  # sampling settings, logged with every step
    model_root: str  # checkpoint root or model folder the weights came from; "" for scripted agents

    def act(self, observations: Sequence[Observation]) -> list[Decision]: ...
