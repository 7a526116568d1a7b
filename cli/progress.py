"""The progress bar of the training commands: a bar with a status line, held-out scores logged."""
from __future__ import annotations

from typing import Callable


def train_with_progress(console, label: str, steps: int, train: Callable, status: Callable[[dict], str], held_out: Callable[[dict], str]) -> dict:
    """Run `train(on_progress)`, showing `status(metrics)` on the bar and logging `held_out(metrics)`
    whenever the metrics carry a held-out loss; print where the result was published."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(label, total=steps, status="")

        def show(step: int, metrics: dict) -> None:
            if "held_out_loss" in metrics:
                console.log(f"step {step}: {held_out(metrics)}")
            progress.update(task, completed=step, status=status(metrics))

        return train(show)


def published_line(out, metrics: dict) -> str:
    return f"published {out} at step {metrics['step']}" + (" (interrupted)" if metrics.get("interrupted") else "")
