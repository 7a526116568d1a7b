"""PPO settings, with the RL4VLM paper's values as defaults (docs/rl4vlm.md), overridable from the CLI."""
from __future__ import annotations

from dataclasses import dataclass

ADVANTAGES = ("gae", "grpo")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class PPOConfig:
    gamma: float = 0.9
    gae_lambda: float = 0.95
    advantage: str = "gae"  # "gae" (critic) or "grpo" (group-relative returns, no critic)
    norm_adv: bool = True
    clip_coef: float = 0.1
    clip_vloss: bool = True
    vf_coef: float = 0.5
    value_warmup_epochs: int = 0  # >0: fit a root's fresh value head to the first batch's returns first (GAE only)
    ent_coef: float = 0.001  # on the mean per-token entropy of the answer
    bc_coef: float = 0.0  # weight of behaviour cloning on expert/human steps; 0 skips them
    update_epochs: int = 4
    minibatch_size: int = 8
    max_grad_norm: float = 0.01
    lr: float = 1e-5
    lr_min: float = 1e-9
    total_updates: int = 25  # the cosine reaches lr_min after this many updates, then stays there
    thought_coef: float | None = None  # None: as logged (0.5 cards, 0.2 ALFWorld)
    max_version_lag: int = 1  # steps from more than this many versions before the current one are dropped
    lora_r: int = 0  # 0: full fine-tuning; else LoRA rank on the language model's linear layers
    lora_alpha: int | None = None  # None: 2 * lora_r, as the paper's 128/256
    precision: str = "auto"  # bf16 autocast where the device supports it, else fp32
    seed: int = 0

    def __post_init__(self) -> None:
        if self.advantage not in ADVANTAGES:
            raise ValueError(f"unknown advantage {self.advantage!r}; use one of {', '.join(ADVANTAGES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; use one of {', '.join(PRECISIONS)}")
        if self.minibatch_size < 1 or self.update_epochs < 1 or self.total_updates < 1:
            raise ValueError("minibatch size, epochs and total updates must be at least 1")
        if self.lora_r < 0 or self.max_version_lag < 0 or self.value_warmup_epochs < 0:
            raise ValueError("lora rank, max version lag and value warm-up epochs must not be negative")
