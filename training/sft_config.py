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
    # Adding a data set to the mix lowers every other one's weight (exp34: ALFWorld's share fell and its
    # two-object games with it); a share pins an environment's weight whatever else is added.
    env_share: list[str] = field(default_factory=list, metadata={
        "help": "ENV=SHARE: draw this share of the steps' batches from that environment's examples (repeatable, e.g. "
                "alfworld=0.45); the other examples share the remaining steps by their number."})
    # Publish and stop at this step while the learning-rate schedule still spans `steps`: a staged
    # run (stop, look, --resume) that a recipe can state exactly, unlike a Ctrl-C.
    stop_at: int | None = field(default=None, metadata={
        "help": "Publish and stop at this step; the schedule still spans --steps (continue with --resume).", "min": 1})


def parse_env_shares(items: list[str]) -> dict[str, float]:
    """{registered environment id: share} from --env-share's ENV=SHARE items; ValueError names a bad one."""
    from vlm_agent.envs import resolve_env_id

    shares: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--env-share {item!r}: expected ENV=SHARE, e.g. alfworld=0.45")
        try:
            share = float(value)
        except ValueError:
            raise ValueError(f"--env-share {item!r}: {value!r} is not a number") from None
        if not 0 < share <= 1:
            raise ValueError(f"--env-share {item!r}: a share is above 0 and at most 1")
        try:
            env_id = resolve_env_id(name)
        except ValueError as error:
            raise ValueError(f"--env-share {item!r}: {error}") from None
        if env_id in shares:
            raise ValueError(f"--env-share {item!r}: {name} is given twice")
        shares[env_id] = share
    if sum(shares.values()) > 1 + 1e-9:
        raise ValueError(f"--env-share: the shares add up to {sum(shares.values()):g}, more than 1")
    return shares
