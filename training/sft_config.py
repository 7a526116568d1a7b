"""Supervised fine-tuning settings (a light module: the CLI builds its options from them without importing torch)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SFTConfig:
    steps: int = field(default=2000, metadata={"help": "Optimizer steps in all (a resumed run counts the earlier ones).", "min": 1})
    batch_size: int = field(default=16, metadata={"help": "Answers per optimizer step.", "min": 1})
    lr: float = field(default=1e-3, metadata={"help": "Peak learning rate (warmup, then cosine to a tenth).", "min": 0.0})
    warmup_steps: int = field(default=100, metadata={"help": "Steps of linear learning-rate warmup.", "min": 0})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay.", "min": 0.0})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm.", "min": 0.0})
    eval_every: int = field(default=200, metadata={"help": "Held-out loss every this many steps.", "min": 1})
    save_every: int = field(default=500, metadata={"help": "Publish a version every this many steps.", "min": 1})
    held_out_batches: int = field(default=8, metadata={"help": "Batches the held-out loss is measured on.", "min": 1})
    seed: int = field(default=0, metadata={"help": "Seed of the batch order."})
    # Keep the vision tower and connector as they are: after `vision-pretrain` they already see the
    # frame, and Adam's full-size steps on SFT's early, noisy gradients would wash that out
    # (measured: 30-50% relative weight change in 500 steps, and the model stopped reading).
    freeze_vision: bool = field(default=False, metadata={
        "help": "Train only the language model (and value head): keep what `vision-pretrain` taught."})
    # Publish and stop at this step while the learning-rate schedule still spans `steps`: a staged
    # run (stop, look, --resume) that a recipe can state exactly, unlike a Ctrl-C.
    stop_at: int | None = field(default=None, metadata={
        "help": "Publish and stop at this step; the schedule still spans --steps (continue with --resume).", "min": 1})
