"""The running table: episodes and success by environment and task type, invalid actions, speed."""
from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from textual.widgets import Static

from vlm_agent.runtime.stats import GroupStats, RunningStats


@dataclass(frozen=True)
class StatsRow:
    label: str
    episodes: int
    success_rate: float
    mean_return: float


@dataclass(frozen=True)
class StatsSnapshot:
    """A copy of RunningStats the UI thread can read while the worker keeps counting."""

    rows: tuple[StatsRow, ...] = ()
    steps: int = 0
    episodes: int = 0  # finished, all environments
    invalid_rate: float = 0.0
    steps_per_second: float = 0.0


def snapshot(stats: RunningStats) -> StatsSnapshot:
    """Copy the numbers out of `stats`; call it on the thread that updates them."""

    def row(label: str, group: GroupStats) -> StatsRow:
        return StatsRow(label, group.episodes, group.success_rate, group.mean_return)

    rows = []
    for env_id, group in sorted(stats.by_env.items()):
        rows.append(row(env_id.split("/")[-1], group))
        tasks = sorted((task, g) for (env, task), g in stats.by_task.items() if env == env_id)
        if len(tasks) > 1:  # one task type per environment (the card games) says nothing new
            rows.extend(row(f"  {task}", g) for task, g in tasks)
    return StatsSnapshot(tuple(rows), stats.steps, stats.total.episodes, stats.invalid_rate, stats.steps_per_second)


class StatsView(Static):
    """The statistics of the run so far, as a compact table."""

    def show(self, stats: StatsSnapshot) -> None:
        table = Table(box=None, padding=(0, 1), expand=True, header_style="bold")
        table.add_column("environment / task", ratio=3, no_wrap=True, overflow="ellipsis")
        table.add_column("episodes", justify="right")
        table.add_column("success", justify="right")
        table.add_column("return", justify="right")
        for row in stats.rows:
            table.add_row(row.label, str(row.episodes), f"{row.success_rate:.0%}", f"{row.mean_return:+.2f}")
        if not stats.rows:
            table.add_row("none finished yet", "", "", "")
        steps = f"{stats.steps} step" + ("" if stats.steps == 1 else "s")
        table.caption = f"{steps} · invalid actions {stats.invalid_rate:.1%} · {stats.steps_per_second:.1f} steps/s"
        table.caption_justify = "left"
        self.update(table)
