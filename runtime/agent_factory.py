"""Build the agent a command asks for: random, expert, or a VLM policy from a checkpoint folder."""
from __future__ import annotations

from pathlib import Path

from vlm_agent.agent.sampling_config import SamplingConfig

AGENT_KINDS = ("vlm", "expert", "expert-ranked", "expert-shuffled", "expert-privileged", "random", "human")


def default_model_dir() -> Path:
    """Where the package keeps its shipped default checkpoint (package data of vlm_agent.agent)."""
    import vlm_agent.agent

    return Path(vlm_agent.agent.__file__).parent / "default_checkpoint"


def make_agent(kind: str, *, model: Path | None = None, seed: int = 0, sampling: SamplingConfig = SamplingConfig(), placement=None):
    """Return an object satisfying agent.interface.Agent; ValueError on a bad choice.

    Scripted agents use only `sampling.prompt` (the prompt they log); the VLM all of it, and
    `placement` (agent.device.resolve: device and dtype; default the CPU in fp32).
    """
    if kind not in AGENT_KINDS:
        raise ValueError(f"unknown agent {kind!r}; use one of {', '.join(AGENT_KINDS)}")
    if kind == "random":
        from vlm_agent.agent.scripted import RandomAgent

        return RandomAgent(prompt_variant=sampling.prompt, seed=seed)
    if kind == "expert":
        from vlm_agent.agent.experts import ExpertAgent

        return ExpertAgent(prompt_variant=sampling.prompt, seed=seed)
    if kind == "expert-ranked":  # the expert's actions; ALFWorld's search thoughts written out step by step
        from vlm_agent.agent.experts import RankedExpertAgent

        return RankedExpertAgent(prompt_variant=sampling.prompt, seed=seed)
    if kind == "expert-shuffled":  # the ranked teacher visiting one kind's places in a scrambled order
        from vlm_agent.agent.experts import ShuffledExpertAgent

        return ShuffledExpertAgent(prompt_variant=sampling.prompt, seed=seed)
    if kind == "expert-privileged":  # ALFWorld's handcoded expert, which reads the engine's facts
        from vlm_agent.agent.experts import PrivilegedExpertAgent

        return PrivilegedExpertAgent(prompt_variant=sampling.prompt, seed=seed)
    if kind == "human":
        from vlm_agent.agent.human import HumanAgent

        return HumanAgent(prompt_variant=sampling.prompt)
    from vlm_agent.runtime.checkpoints import load_policy

    return load_policy(model_path(model), seed=seed, placement=placement, **sampling.policy_kwargs())


def model_path(model: Path | None) -> Path:
    """The model a VLM agent plays: `model`, or the shipped default when none is given."""
    return Path(model) if model is not None else default_model_dir()
