"""Where `finetune --watch` and `train` report (the training view on a terminal, console lines otherwise), and `replay ROOT`."""
from __future__ import annotations

import sys
from pathlib import Path


def wants_view(headless: bool) -> bool:
    return not headless and sys.stdout.isatty()


def run_in_view(job, trainer, title: str, interrupted) -> None:
    """Run `job(hooks)` under the live training view; afterwards one line says where the run stands."""
    from transformers.utils import logging as hf_logging

    from vlm_agent.cli.main import console
    from vlm_agent.tui.launch import run_train_view

    hf_logging.disable_progress_bar()  # publishing's "Writing model shards" bar would draw over the view
    before = trainer.updates
    run_train_view(job, trainer.version, title, interrupted)
    console.print(f"{trainer.updates - before} updates published; latest version {trainer.version}")


def is_checkpoint_root(path: Path) -> bool:
    return (path / "metrics.jsonl").is_file() or (path / "versions").is_dir()


def replay_training(root: Path) -> None:
    """The training view of `root` on a terminal; otherwise its updates as lines (it never waits for a key)."""
    from vlm_agent.cli.main import console
    from vlm_agent.tui.train_history import read_metrics_history

    history = read_metrics_history(root)
    if not history.points:
        raise ValueError(f"{root}: metrics.jsonl holds no PPO update")
    if sys.stdout.isatty():
        from vlm_agent.tui.launch import run_train_replay

        run_train_replay(root)
        return
    console.print(f"{root}: {len(history.points)} updates from {history.start_version} (no terminal: the training view needs one)")
    for point in history.points:
        m = point.metrics
        console.print(f"{point.version} from {point.parent}: " + ", ".join(
            f"{name} {format(m[key], spec)}" for key, name, spec in SUMMARY if isinstance(m.get(key), (int, float))), soft_wrap=True)
    for line in history.warnings(now=0.0):
        console.print(f"[yellow]warning:[/] {line}")


SUMMARY = (("success_rate", "success", ".0%"), ("mean_return", "return", "+.2f"), ("approx_kl", "approx_kl", ".4f"),
           ("clip_fraction", "clipfrac", ".3f"), ("explained_variance", "explained_var", ".3f"), ("value_loss", "value", ".4f"))
