"""PPO settings: each field's default, help and bounds, from which the CLI options are generated.

The defaults are the settings the documented learning curves ran with (docs/learning/): lr 3e-5
cosine to 1e-6, gradient norm 1.0, 2 epochs of minibatches of 16, no entropy bonus; they learn with
the shipped ~7M-parameter model on a CPU. The RL4VLM paper's values (a 7B LoRA: lr 1e-5, gradient
norm 0.01, 4 epochs of 8, entropy 0.001) are `configs/paper-7b.toml`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ADVANTAGES = ("gae", "grpo")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class PPOConfig:
    gamma: float = field(default=0.9, metadata={"help": "Discount factor.", "min": 0.0, "max": 1.0})
    gae_lambda: float = field(default=0.95, metadata={"help": "GAE lambda.", "min": 0.0, "max": 1.0})
    advantage: str = field(default="gae", metadata={
        "help": "gae (critic) or grpo (group-relative returns, no critic).", "choices": ADVANTAGES})
    step_cost: float = field(default=0.0, metadata={
        "help": "Subtract this from every step's reward in training (GAE and GRPO alike; the logged rewards and the "
                "reported returns stay the environment's): a win after a loop then counts less than a direct one.",
        "min": 0.0})
    norm_adv: bool = field(default=True, metadata={"help": "Normalise advantages over the whole batch."})
    clip_coef: float = field(default=0.1, metadata={"help": "PPO clip range (also clips the value loss).", "min": 0.0})
    clip_vloss: bool = field(default=True, metadata={"help": "Clip the value loss around the logged values."})
    vf_coef: float = field(default=0.5, metadata={"help": "Value-loss weight.", "min": 0.0})
    value_warmup_epochs: int = field(default=0, metadata={
        "help": "Epochs fitting a new root's value head to the first batch's returns before PPO (GAE only); 0: off.", "min": 0})
    ent_coef: float = field(default=0.0, metadata={"help": "Entropy-bonus weight (mean per-token entropy of the answer).", "min": 0.0})
    bc_coef: float = field(default=0.0, metadata={
        "help": "Behaviour-cloning weight on expert/human steps in the logs (0: skip them).", "min": 0.0})
    update_epochs: int = field(default=2, metadata={"help": "PPO epochs over each batch.", "flag": "--epochs", "min": 1})
    minibatch_size: int = field(default=16, metadata={"help": "Steps per optimizer step.", "min": 1})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm (paper, 7B LoRA: 0.01).", "min": 0.0})
    lr: float = field(default=3e-5, metadata={
        "help": "Peak learning rate, cosine-annealed to --lr-min over --total-updates (paper, 7B LoRA: 1e-5).", "min": 0.0})
    lr_min: float = field(default=1e-6, metadata={"help": "Learning rate at the end of the cosine.", "min": 0.0})
    total_updates: int = field(default=25, metadata={
        "help": "Updates the cosine schedule spans; it stays at --lr-min after.", "min": 1})
    thought_coef: float | None = field(default=None, metadata={
        "help": "Weight of CoT tokens in the step log-prob; default as logged (0.5 cards, 0.2 ALFWorld).", "min": 0.0})
    max_version_lag: int = field(default=1, metadata={
        "help": "Drop steps made more than this many versions before the current one.", "min": 0})
    lora_r: int = field(default=0, metadata={"help": "LoRA rank on the language model's linear layers; 0 = full fine-tuning.", "min": 0})
    lora_alpha: int | None = field(default=None, metadata={"help": "LoRA alpha (default 2 x rank, as the paper's 128/256).", "min": 1})
    precision: str = field(default="auto", metadata={
        "help": "auto (bf16 where the device has it), fp32 or bf16.", "choices": PRECISIONS})
    seed: int = field(default=0, metadata={"help": "Seed of the minibatch order (and, in `train`, of the episodes)."})

    def __post_init__(self) -> None:
        if self.advantage not in ADVANTAGES:
            raise ValueError(f"unknown advantage {self.advantage!r}; use one of {', '.join(ADVANTAGES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; use one of {', '.join(PRECISIONS)}")
        if self.minibatch_size < 1 or self.update_epochs < 1 or self.total_updates < 1:
            raise ValueError("minibatch size, epochs and total updates must be at least 1")
        if self.lora_r < 0 or self.max_version_lag < 0 or self.value_warmup_epochs < 0:
            raise ValueError("lora rank, max version lag and value warm-up epochs must not be negative")
