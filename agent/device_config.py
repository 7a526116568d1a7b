"""Where a model runs and in what precision: one dataclass, the options of every command that loads a model.

A light module (no torch at import): the CLI builds its options from it. The torch side (resolving
`auto`, placing the model, autocast) is agent/device.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field

DTYPES = ("auto", "fp32", "bf16", "fp16")
ATTENTIONS = ("auto", "eager", "sdpa", "flash_attention_2")
# Options that only mean something to a trainer; play and eval leave them out of their command line.
TRAINING_ONLY = ("gradient_checkpointing", "fsdp", "dist_timeout")


@dataclass(frozen=True)
class DeviceConfig:
    device: str = field(default="auto", metadata={
        "help": "auto (cuda when there is one, else cpu), cpu, cuda or cuda:N; under torchrun, cuda means cuda:LOCAL_RANK."})
    dtype: str = field(default="auto", metadata={
        "help": "Weights' dtype. auto: fp32 on the CPU; on a GPU bf16 where the card has it (training with full "
                "fine-tuning keeps fp32 weights and computes in bf16 autocast).", "choices": DTYPES})
    attn_implementation: str = field(default="auto", metadata={
        "help": "Attention kernel; auto: the model's default (eager for PaliGemma, whose SDPA path scores cached tokens differently).",
        "choices": ATTENTIONS})
    gradient_checkpointing: bool = field(default=False, metadata={
        "help": "Recompute activations in the backward pass: less memory, about a third more compute."})
    fsdp: bool = field(default=False, metadata={
        "help": "Under torchrun: shard parameters, gradients and optimizer state over the ranks (FSDP2) instead of replicating them."})
    dist_timeout: float = field(default=600.0, metadata={
        "help": "Under torchrun: seconds a rank waits for the others at a collective before the run fails, naming the rank.",
        "min": 1.0})

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; use one of {', '.join(DTYPES)}")
        if self.attn_implementation not in ATTENTIONS:
            raise ValueError(f"unknown attention implementation {self.attn_implementation!r}; use one of {', '.join(ATTENTIONS)}")
        kind, _, index = self.device.partition(":")
        if kind not in ("auto", "cpu", "cuda") or (index and (kind != "cuda" or not index.isdigit())):
            raise ValueError(f"unknown device {self.device!r}; use auto, cpu, cuda or cuda:N")
