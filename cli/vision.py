"""`vlm-agent vision-pretrain`: train a new vision tower to see what the frames' captions say, before SFT."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vlm_agent.agent.device_config import DeviceConfig
from vlm_agent.cli.options import Options, options_command
from vlm_agent.training.vision_config import VisionPretrainConfig


@dataclass
class SupervisedOptions:
    """What `vision-pretrain` and `sft` train from and publish to."""

    logs: list[Path] = field(metadata={"argument": True, "help": "Log folders (or episode files) of expert episodes."})
    model: Path = field(metadata={"help": "Model folder (or checkpoint root) to start from, e.g. from `model init` or `vision-pretrain`."})
    out: Path = field(metadata={"help": "Checkpoint root to publish versions into."})
    resume: bool = field(default=False, metadata={"help": "Continue from the newest version under --out."})
    held_out: float = field(default=0.05, metadata={"help": "Fraction of episodes held out.", "min": 0.0, "max": 0.5})


@options_command("vision-pretrain", SupervisedOptions, VisionPretrainConfig, DeviceConfig, exclude={"fsdp"})
def vision_pretrain(options: Options) -> None:
    """Vision pretraining: image tokens alone learn to predict each frame's caption (its text state)."""
    from vlm_agent.cli.main import console, err_console, quiet_other_ranks, user_errors
    from vlm_agent.cli.progress import published_line, train_with_progress
    from vlm_agent.core.write_errors import check_writable
    from vlm_agent.runtime.checkpoints import resolve_model_dir
    from vlm_agent.training.sft_data import load_sft_data
    from vlm_agent.training.vision_pretrain import run_vision_pretrain

    quiet_other_ranks()
    with user_errors():
        resolve_model_dir(options.model)  # a wrong --model or a read-only --out fails before minutes of log reading
        check_writable(options.out)
        data = load_sft_data(options.logs, options.held_out, captions=True,
                             on_skip=lambda reason: err_console.print(f"[yellow]skipped[/] {reason}"))
        frames = sum(e.kind == "caption" for e in data.train)
        console.print(f"{frames} training frames with captions, {sum(e.kind == 'caption' for e in data.held_out)} held out")
        config = options.build(VisionPretrainConfig)
        metrics = train_with_progress(
            console, "vision", config.steps,
            lambda show: run_vision_pretrain(data, options.model, options.out, config, resume=options.resume, on_progress=show,
                                             run_options=options.record(), device=options.build(DeviceConfig)),
            status=lambda m: f"loss {m['loss']:.3f}  tokens right {m['token_accuracy']:.1%}",
            held_out=held_out_line,
        )
        console.print(published_line(options.out, metrics))


def held_out_line(metrics: dict) -> str:
    """Held-out loss and caption tokens right, per logged rendering where there are several, and the anchor's drift."""
    line = f"held-out loss {metrics['held_out_loss']:.3f}, tokens right {metrics['held_out_token_accuracy']:.1%}"
    renders = sorted(k.removeprefix("held_out_token_accuracy_") for k in metrics if k.startswith("held_out_token_accuracy_"))
    if len(renders) > 1:
        line += " (" + ", ".join(f"{r} {metrics['held_out_token_accuracy_' + r]:.1%}" for r in renders) + ")"
    if "held_out_anchor_drift" in metrics:
        line += f", anchored tokens drifted {metrics['held_out_anchor_drift']:.2%}"
    return line
