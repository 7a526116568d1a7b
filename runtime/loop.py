"""The loop that steps N environments together with one agent and publishes a StepRecord per step."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

import gymnasium as gym
import numpy as np

import vlm_agent.envs  # noqa: F401  (registers the environments)
from vlm_agent.agent.interface import Agent, Decision, Observation
from vlm_agent.agent.parsing import ParseStatus
from vlm_agent.runtime.observation import observation_from
from vlm_agent.runtime.records import RecordBus, StepRecord, constraint_flags
from vlm_agent.runtime.repeat_guard import RepeatGuard

FALLBACKS = ("noop", "random")
NOOP_ACTION = ""  # never legal, so the environment applies its own invalid-action penalty and changes nothing

# Paper's lambda, the weight of the CoT tokens in the step log-prob.
DEFAULT_THOUGHT_COEF = {"vlm_agent/ALFWorld-v0": 0.2}
CARD_THOUGHT_COEF = 0.5

_INFO_SKIP = {"text", "legal_actions", "task_type", "task_text", "state", "history", "success"}


# Seeds are non-negative (gymnasium) and seed + episodes must fit the log's int64 column.
MAX_SEED = 2**62


@dataclass
class LoopConfig:
    env_id: str = field(metadata={"cli": False})  # the command's ENV argument, resolved
    episodes: int = field(default=10, metadata={"help": "Episodes to finish.", "min": 1})
    num_envs: int = field(default=1, metadata={"help": "Environments stepped together (one batched model call).", "min": 1})
    seed: int = field(default=0, metadata={"help": "Episode k is reset with seed + k (seed + k // repeats with --repeats).",
                                           "min": 0, "max": MAX_SEED})
    repeats: int = field(default=1, metadata={  # groups for group-relative advantages
        "help": "Play each start this many times in a row (groups for --advantage grpo).", "min": 1})
    fallback: str = field(default="noop", metadata={
        "help": "What an unparsable answer does: noop (no step, penalty) or random (RL4VLM's reference).", "choices": FALLBACKS})
    thought_coef: float | None = field(default=None, metadata={
        "help": "Weight of CoT tokens in the step log-prob, logged with each step (the paper's lambda); default 0.5 cards, 0.2 ALFWorld.",
        "min": 0.0})
    env_kwargs: dict = field(default_factory=dict, metadata={"cli": False})

    def __post_init__(self) -> None:
        if self.fallback not in FALLBACKS:
            raise ValueError(f"unknown fallback {self.fallback!r}; use one of {', '.join(FALLBACKS)}")
        if self.episodes < 1 or self.num_envs < 1 or self.repeats < 1:
            raise ValueError("episodes, num_envs and repeats must be at least 1")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"--seed {self.seed} is out of range: use 0 to {MAX_SEED}")
        if self.thought_coef is None:
            self.thought_coef = DEFAULT_THOUGHT_COEF.get(self.env_id, CARD_THOUGHT_COEF)

    @property
    def starts(self) -> int:
        """How many seeds a run plays: episode k is reset with seed + k // repeats."""
        return -(-self.episodes // self.repeats)


@dataclass
class _Slot:
    """One environment and the episode it is running."""

    env: gym.Env
    index: int
    obs: Observation | None = None
    episode_id: str = ""
    episode_seed: int = 0
    repeat: int = 0  # which play of its start this episode is (0 .. repeats - 1)
    step: int = 0
    guard: RepeatGuard = field(default_factory=RepeatGuard)  # this episode's states, with the agent's avoid_repeats

    @property
    def sample_key(self) -> tuple[int, int, int]:
        return (self.episode_seed, self.repeat, self.step)


class RolloutLoop:
    """Steps `num_envs` environments with one agent until `episodes` episodes have finished.

    `step()` advances every running environment by one step (one batched agent call), so a UI can
    drive the loop at its own pace; `run()` steps until done. `before_episode` is called before each
    reset (the runtime uses it to load a newer checkpoint between episodes). A `teacher` answers
    every observation too (DAgger): its answer is logged beside the agent's, in the step's
    info["teacher_answer"] and info["teacher_action"], and the agent's action is the one sent.
    """

    def __init__(
        self,
        config: LoopConfig,
        agent: Agent,
        bus: RecordBus,
        run_id: str,
        make_env: Callable[..., gym.Env] | None = None,
        before_episode: Callable[[], None] | None = None,
        teacher: Agent | None = None,
    ):
        self.config = config
        self.agent = agent
        self.teacher = teacher
        self.bus = bus
        self.run_id = run_id
        self.before_episode = before_episode
        self._rng = random.Random(config.seed)
        make = make_env or (lambda: gym.make(config.env_id, **config.env_kwargs))
        self._slots = [_Slot(env=make(), index=i) for i in range(config.num_envs)]
        self.episodes_started = 0
        self.episodes_finished = 0
        self._stop_requested = False

    @property
    def finished(self) -> bool:
        return self._stop_requested or self.episodes_finished >= self.config.episodes

    def stop(self) -> None:
        """Start no new episode and step no further (finished episodes are already published)."""
        self._stop_requested = True

    def active_slots(self) -> list[_Slot]:
        return [slot for slot in self._slots if slot.obs is not None]

    def _begin_episode(self, slot: _Slot) -> None:
        if self.episodes_started >= self.config.episodes or self._stop_requested:
            slot.obs = None
            return
        if self.before_episode is not None:
            self.before_episode()
        episode_index = self.episodes_started
        self.episodes_started += 1
        slot.episode_seed = self.config.seed + episode_index // self.config.repeats
        slot.repeat = episode_index % self.config.repeats
        slot.episode_id = f"ep{episode_index:06d}"
        slot.step = 0
        slot.guard.reset()
        frame, info = slot.env.reset(seed=slot.episode_seed)
        slot.obs = observation_from(self.config.env_id, frame, info, slot.sample_key)

    def start(self) -> None:
        for slot in self._slots:
            self._begin_episode(slot)

    def step(self) -> list[StepRecord]:
        """Advance every running environment by one step; return the records it published."""
        if self.episodes_started == 0:
            self.start()
        slots = self.active_slots()
        if not slots or self._stop_requested:
            return []
        if self.agent.sampling.get("avoid_repeats"):
            for slot in slots:
                slot.obs = slot.guard.guarded(slot.obs)
        started = time.time()
        decisions = self.agent.act([slot.obs for slot in slots])
        gen_each = (time.time() - started) / len(slots)
        labels = self.teacher.act([slot.obs for slot in slots]) if self.teacher is not None else [None] * len(slots)
        records = []
        for slot, decision, label in zip(slots, decisions, labels):
            record = self._step_env(slot, decision, started, gen_each, label)
            self.bus.publish(record)
            records.append(record)
            if record.done:
                self.episodes_finished += 1
                self._begin_episode(slot)
        return records

    def run(self) -> None:
        while not self.finished:
            if not self.step():
                break

    def close(self) -> None:
        for slot in self._slots:
            slot.env.close()

    def _choose_action(self, decision: Decision, slot: _Slot) -> tuple[str, str, float]:
        """Return (action to send, fallback applied, extra penalty the runtime adds)."""
        if decision.parse.ok:
            return decision.parse.action, "", 0.0
        if self.config.fallback == "random":
            # The environment sees a legal action, so the runtime charges the invalid-answer penalty.
            penalty = getattr(slot.env.unwrapped, "invalid_action_penalty", -1.0)
            return self._rng.choice(list(slot.obs.legal_actions)), "random", penalty
        if decision.parse.status is ParseStatus.NOT_LEGAL and decision.parse.value:
            # The env matches actions as the parser does, so this is still a no-op; ALFWorld shows
            # it in the prompt's recent steps, where "> : Nothing happens" would hide what was tried.
            return decision.parse.value, "noop", 0.0
        return NOOP_ACTION, "noop", 0.0

    def _step_env(self, slot: _Slot, decision: Decision, started: float, gen_each: float, label: Decision | None = None) -> StepRecord:
        obs = slot.obs
        action, fallback, penalty = self._choose_action(decision, slot)
        env_started = time.time()
        frame, reward, terminated, truncated, info = slot.env.step(action)
        env_seconds = time.time() - env_started
        done = terminated or truncated
        if self.agent.sampling.get("avoid_repeats"):
            slot.guard.record(obs, action)
        parse = decision.parse
        sampling = dict(self.agent.sampling)
        constrained, constrained_logprobs = constraint_flags(sampling)
        record = StepRecord(
            run_id=self.run_id,
            episode_id=slot.episode_id,
            step=slot.step,
            env_id=self.config.env_id,
            env_index=slot.index,
            task_type=obs.task_type,
            task_text=obs.task_text,
            frame=obs.frame,
            observation_text=obs.text,
            legal_actions=list(obs.legal_actions),
            prompt=decision.prompt,
            response=decision.text,
            response_token_ids=decision.token_ids,
            logprobs=decision.logprobs,
            cot_mask=decision.cot_mask,
            action_mask=decision.action_mask,
            thought_coef=float(self.config.thought_coef),
            action_value=parse.value,
            parse_status=parse.status.value,
            parse_reason=parse.reason,
            parsed_action=parse.action,
            action_sent=action,
            fallback=fallback,
            reward=float(reward) + penalty,
            terminated=bool(terminated),
            truncated=bool(truncated),
            success=bool(info.get("success", False)) if done else None,
            value=decision.value,
            policy_version=self.agent.policy_version,
            agent_kind=self.agent.kind,
            sampling=sampling,
            episode_seed=slot.episode_seed,
            wall_time=started,
            gen_seconds=decision.gen_seconds or gen_each,
            env_seconds=env_seconds,
            # The actions the decoder was kept from (PPO re-scores the step over the legal actions less these).
            info={**_scalar_info(info), **_teacher_label(label), **({"avoided_actions": list(obs.avoid_actions)} if obs.avoid_actions else {})},
            constrained=constrained,
            constrained_logprobs=constrained_logprobs,
            model_root=getattr(self.agent, "model_root", ""),  # agents written before the field have none
        )
        slot.step += 1
        slot.obs = observation_from(self.config.env_id, frame, info, slot.sample_key)
        return record


def _teacher_label(label: Decision | None) -> dict:
    """The teacher's answer to the same observation, for the log (DAgger labels); {} without a teacher."""
    if label is None:
        return {}
    return {"teacher_answer": label.text, "teacher_action": label.parse.action if label.parse.ok else None}


def _scalar_info(info: dict) -> dict:
    """The JSON-able scalar facts of an env's info, for the log."""
    scalars = {}
    for key, value in info.items():
        if key in _INFO_SKIP:
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (str, int, float, bool)):
            scalars[key] = value
    return scalars
