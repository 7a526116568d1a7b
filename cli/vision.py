"""`vlm-agent vision-pretrain`: train a new vision tower to see what the frames' captions say, before SFT."""
from __future__ import annotations

from pathlib import Path
from typing import List

import typer


def vision_pretrain(
    logs: List[Path] = typer.Argument(..., help="Log folders (or episode files) of expert episodes."),
    model: Path = typer.Option(..., help="Model folder (or checkpoint root) to start from, e.g. from `model init`."),
    out: Path = typer.Option(..., help="Checkpoint root to publish versions into (give it to `sft --model`)."),
    steps: int = typer.Option(600, min=1, help="Optimizer steps in all (a resumed run counts the earlier ones)."),
    batch_size: int = typer.Option(32, min=1),
    lr: float = typer.Option(1e-3, min=0.0, help="Peak learning rate (warmup, then cosine to a tenth)."),
    save_every: int = typer.Option(200, min=1, help="Publish a version every this many steps."),
    eval_every: int = typer.Option(100, min=1, help="Held-out loss and token accuracy every this many steps."),
    held_out: float = typer.Option(0.05, min=0.0, max=0.5, help="Fraction of episodes held out."),
    seed: int = typer.Option(0),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest version under --out."),
) -> None:
    """Vision pretraining: image tokens alone learn to predict each frame's caption (its text state)."""
    from vlm_agent.cli.main import console, err_console, user_errors
    from vlm_agent.cli.progress import published_line, train_with_progress
    from vlm_agent.runtime.checkpoints import resolve_model_dir
    from vlm_agent.training.sft_data import load_sft_data
    from vlm_agent.training.vision_pretrain import VisionPretrainConfig, run_vision_pretrain

    with user_errors():
        resolve_model_dir(model)  # a wrong --model fails before minutes of log reading
        data = load_sft_data(logs, held_out, captions=True, on_skip=lambda reason: err_console.print(f"[yellow]skipped[/] {reason}"))
        frames = sum(e.kind == "caption" for e in data.train)
        console.print(f"{frames} training frames with captions, {sum(e.kind == 'caption' for e in data.held_out)} held out")
        config = VisionPretrainConfig(steps=steps, batch_size=batch_size, lr=lr, save_every=save_every, eval_every=eval_every, seed=seed)
        metrics = train_with_progress(
            console, "vision", steps, lambda show: run_vision_pretrain(data, model, out, config, resume=resume, on_progress=show),
            status=lambda m: f"loss {m['loss']:.3f}  tokens right {m['token_accuracy']:.1%}",
            held_out=lambda m: f"held-out loss {m['held_out_loss']:.3f}, tokens right {m['held_out_token_accuracy']:.1%}",
        )
        console.print(published_line(out, metrics))
