"""Per-update (PPO) or per-step (SFT, vision) diagnostics to TensorBoard (<out>/tensorboard) and to <out>/metrics.jsonl."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

from vlm_agent.core.finite_json import finite_or_none
from vlm_agent.core.write_errors import writing

# TensorBoard tags, grouped as CleanRL groups them.
TAGS = {
    "policy_loss": "losses/policy_loss",
    "value_loss": "losses/value_loss",
    "entropy": "losses/entropy",
    "bc_loss": "losses/bc_loss",
    "approx_kl": "losses/approx_kl",
    "clip_fraction": "losses/clipfrac",
    "explained_variance": "losses/explained_variance",
    "grad_norm": "losses/grad_norm",
    "lr": "charts/learning_rate",
    "mean_return": "charts/episodic_return",
    "success_rate": "charts/success_rate",
    "samples": "charts/samples",
    "dropped_stale": "charts/dropped_stale_steps",
    # SFT and vision pretraining
    "loss": "losses/loss",
    "held_out_loss": "losses/held_out_loss",
    "token_accuracy": "charts/token_accuracy",
    "held_out_token_accuracy": "charts/held_out_token_accuracy",
}


class MetricsLog:
    """Appends one record per update or step; TensorBoard is optional (the JSONL file is always written)."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.jsonl = self.out / "metrics.jsonl"
        with writing(self.out):
            self.out.mkdir(parents=True, exist_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.out / "tensorboard"))
        except ImportError:  # tensorboard not installed: JSONL only
            self.writer = None

    def log(self, update: int, metrics: dict, counter: str = "update") -> None:
        """Append `metrics` as one line that starts with {counter: update, "time": now}."""
        record = finite_or_none({counter: update, "time": time.time(), **metrics})
        with writing(self.jsonl), open(self.jsonl, "a") as handle:
            handle.write(json.dumps(record, default=str) + "\n")
        if self.writer is None:
            return
        for key, tag in TAGS.items():
            value = metrics.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(tag, value, update)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
