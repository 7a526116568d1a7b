"""How the VLM writes its answers: the one place the decoding settings and their defaults live."""
from __future__ import annotations

from dataclasses import dataclass, field

from vlm_agent.agent.prompts import PROMPT_VARIANTS


@dataclass(frozen=True)
class SamplingConfig:
    greedy: bool = field(default=False, metadata={"help": "Greedy decoding instead of sampling."})
    temperature: float = field(default=0.2, metadata={"help": "Sampling temperature (paper: 0.2).", "min": 0.0})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling threshold.", "min": 0.0, "max": 1.0})
    max_new_tokens: int = field(default=256, metadata={"help": "Longest answer the model may write.", "min": 1})
    # None: the model decides (runtime.checkpoints.load_policy reads its record), so a model trained to be
    # decoded constrained is, and anyone else's keeps the paper's free decoding.
    constrain_actions: bool | None = field(default=None, metadata={
        "help": "Decode the action value only among the legal actions (thoughts stay free; log-probs are the constrained "
                "policy's, as PPO re-scores them). Default: the model's own (recorded at export), else off."})
    # None: the model decides, as for constrain_actions.
    avoid_repeats: bool | None = field(default=None, metadata={
        "help": "With constrained actions: in a state the episode has already been in (same task, observation, memory, "
                "frame and legal actions), never send an action already sent from it while another is legal, so a "
                "greedy agent cannot loop forever. Default: the model's own (recorded at export), else off."})
    prompt: str = field(default="cot", metadata={
        "help": "cot (thoughts then action), action-only (the paper's ablation), or the paper's own wording: paper, "
                "paper-action-only (EZPoints and Points24 then also give the formula as text).",
        "choices": PROMPT_VARIANTS})

    def policy_kwargs(self) -> dict:
        """The keyword arguments of VLMPolicy (and load_policy) these settings stand for."""
        return {"greedy": self.greedy, "temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens,
                "constrain_actions": self.constrain_actions, "avoid_repeats": self.avoid_repeats, "prompt_variant": self.prompt}
