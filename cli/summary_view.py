"""Rich rendering of a play or eval summary."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def print_summary(console: Console, summary: dict, title: str) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    low, high = summary["success_ci95"]
    table.add_row("episodes", str(summary["episodes"]))
    table.add_row("success rate", f"{summary['success_rate']:.1%}  (95% CI {low:.1%}-{high:.1%})")
    table.add_row("mean return", f"{summary['mean_return']:.3f}")
    table.add_row("mean episode length", f"{summary['mean_length']:.1f}")
    table.add_row("invalid-action rate", f"{summary['invalid_action_rate']:.1%}")
    table.add_row("env steps/s", f"{summary['env_steps_per_second']:.1f}")
    if summary.get("episodes_kept_unfinished"):
        table.add_row("unfinished, logged as truncated", str(summary["episodes_kept_unfinished"]))
    if "log_dir" in summary:
        table.add_row("logs", summary["log_dir"])
    console.print(table)
    by_task = summary.get("by_task_type") or {}
    if len(by_task) > 1 or (by_task and summary.get("show_tasks")):
        tasks = Table(title="by task type", title_justify="left")
        tasks.add_column("task type")
        tasks.add_column("episodes", justify="right")
        tasks.add_column("success", justify="right")
        tasks.add_column("mean return", justify="right")
        for name, group in by_task.items():
            tasks.add_row(name, str(group["episodes"]), f"{group['success_rate']:.1%}", f"{group['mean_return']:.2f}")
        console.print(tasks)
