"""The one record each environment step publishes, and the bus that hands it to subscribers."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass(frozen=True, kw_only=True)
class StepFacts:
    """Everything known about one environment step but its frame (the design card's StepRecord contract; docs/architecture.md).

    Shared by the record the loop publishes (the frame as pixels) and the row a log reads back
    (the frame as PNG bytes, runtime.log_schema.StepRow), so the two never drift apart.
    """

    run_id: str
    episode_id: str
    step: int
    env_id: str
    env_index: int
    task_type: str
    task_text: str
    observation_text: str
    legal_actions: list[str]
    prompt: str
    response: str
    response_token_ids: list[int] | None
    logprobs: list[float] | None
    cot_mask: list[bool] | None
    action_mask: list[bool] | None
    thought_coef: float
    action_value: str | None  # the raw text of the action field, as written
    parse_status: str
    parse_reason: str
    parsed_action: str | None
    action_sent: str
    fallback: str  # "" when the parsed action was sent, else the fallback applied
    reward: float
    terminated: bool
    truncated: bool
    success: bool | None  # set on the last step of an episode
    value: float | None
    policy_version: str
    agent_kind: str
    sampling: dict
    episode_seed: int
    wall_time: float  # unix time the step started
    gen_seconds: float
    env_seconds: float
    info: dict = field(default_factory=dict)  # extra JSON-able facts from the env (won, goal_condition_success, game_file)
    # Provenance, as columns rather than guesses from `sampling` and the run's manifest:
    constrained: bool = False  # the action value was decoded under the legal-action constraint
    constrained_logprobs: bool = False  # `logprobs` are the constrained policy's (renormalised over legal tokens)
    model_root: str = ""  # checkpoint root or model folder the policy was loaded from; "" for scripted agents

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated

    @property
    def invalid(self) -> bool:
        return self.parse_status != "ok" or bool(self.info.get("invalid_action"))


@dataclass(frozen=True, kw_only=True)
class StepRecord(StepFacts):
    """One environment step as the loop publishes it.

    Published once; the UI, the episode log and the running statistics all read the same object
    and never modify it (frozen).
    """

    frame: np.ndarray


def constraint_flags(sampling: dict) -> tuple[bool, bool]:
    """(constrained, constrained_logprobs) from an agent's sampling settings.

    Constrained logs written before `constrained_logprobs` existed hold the free model's log-probs.
    """
    return bool(sampling.get("constrain_actions")), bool(sampling.get("constrained_logprobs"))


class RecordBus:
    """Fans each record out to its subscribers, in the order they subscribed."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[StepRecord], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Callable[[StepRecord], None]) -> None:
        with self._lock:
            self._subscribers.append(callback)

    def publish(self, record: StepRecord) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for callback in subscribers:
            callback(record)
