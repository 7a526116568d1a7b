"""Vision pretraining settings (a light module: the CLI builds its options from them without importing torch)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class VisionPretrainConfig:
    steps: int = field(default=600, metadata={"help": "Optimizer steps in all (a resumed run counts the earlier ones).", "min": 1})
    batch_size: int = field(default=32, metadata={"help": "Frames per optimizer step.", "min": 1})
    lr: float = field(default=1e-3, metadata={"help": "Peak learning rate (warmup, then cosine to a tenth).", "min": 0.0})
    warmup_steps: int = field(default=30, metadata={"help": "Steps of linear learning-rate warmup.", "min": 0})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay.", "min": 0.0})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm.", "min": 0.0})
    caption_tokens: int = field(default=64, metadata={"help": "Caption positions predicted; longer captions are cut.", "min": 1})
    head_width: int = field(default=64, metadata={"help": "Width of the throw-away caption head.", "min": 1})
    eval_every: int = field(default=100, metadata={"help": "Held-out loss and token accuracy every this many steps.", "min": 1})
    save_every: int = field(default=200, metadata={"help": "Publish a version every this many steps.", "min": 1})
    held_out_batches: int = field(default=4, metadata={"help": "Batches the held-out scores are measured on.", "min": 1})
    seed: int = field(default=0, metadata={"help": "Seed of the batches and of the caption head."})
    anchor_weight: float = field(default=0.0, metadata={
        "help": "Hold the image tokens of frames drawn by --anchor-render to the start model's: the weight of their "
                "squared drift (relative to the start tokens' size) beside the caption loss. 0: off. Teaches a new "
                "rendering without moving the tokens a trained language model already reads.", "min": 0.0})
    anchor_render: str = field(default="clear", metadata={
        "help": "Which frames --anchor-weight holds, by logged rendering, comma-separated: the card games log 'clear' "
                "or 'paper' per step; 'unlogged' names frames of environments that log none (ALFWorld)."})
