"""Headless play: run the loop with logging and statistics, showing a rich progress bar."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vlm_agent.core.atomic import write_json_atomic
from vlm_agent.runtime.episode_log import EpisodeWriter, new_run_id
from vlm_agent.runtime.loop import LoopConfig, RolloutLoop
from vlm_agent.runtime.records import RecordBus
from vlm_agent.runtime.stats import RunningStats


class PlaySession:
    """One play run: the loop, its episode writer and its statistics, wired to one bus."""

    def __init__(self, config: LoopConfig, agent, log_dir: Path, env_name: str, manifest_extra: dict | None = None, teacher=None):
        self.run_id = new_run_id(env_name, agent.kind)
        self.run_dir = Path(log_dir) / self.run_id
        self.bus = RecordBus()
        self.stats = RunningStats()
        manifest = {
            "run_id": self.run_id,
            "loop": asdict(config),
            "agent": {"kind": agent.kind, "policy_version": agent.policy_version, "sampling": agent.sampling},
            **({"teacher": teacher.kind} if teacher is not None else {}),
            **(manifest_extra or {}),
        }
        self.writer = EpisodeWriter(self.run_dir, manifest)
        self.bus.subscribe(self.writer.on_step)
        self.bus.subscribe(self.stats.on_step)
        self.loop = RolloutLoop(config, agent, self.bus, self.run_id, teacher=teacher)

    def finish(self, keep_unfinished: bool = False) -> dict:
        """Close environments and the writer; write and return the summary.

        `keep_unfinished` (the user quit): the episodes in progress are logged as truncated, not dropped.
        A run that logged no episode leaves no folder (and its summary names none).
        """
        self.loop.close()
        self.writer.close(keep_unfinished=keep_unfinished)
        summary = {
            "run_id": self.run_id,
            **self.stats.summary(),
            "episodes_written": self.writer.episodes_written,
            "episodes_dropped": self.writer.episodes_dropped,
            "episodes_kept_unfinished": self.writer.episodes_kept_unfinished,
        }
        if self.writer.opened:
            summary["log_dir"] = str(self.run_dir)
            write_json_atomic(self.run_dir / "summary.json", summary)
        return summary


def run_headless(session: PlaySession, console: Console) -> dict:
    """Play to the end (or Ctrl-C) with a progress bar; return the summary."""
    total = session.loop.config.episodes
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("success {task.fields[success]:.1%}  invalid {task.fields[invalid]:.1%}"),
        TimeElapsedColumn(),
    )
    interrupted = False
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("episodes", total=total, success=0.0, invalid=0.0)
        try:
            while not session.loop.finished:
                if not session.loop.step():
                    break
                stats = session.stats
                progress.update(
                    task, completed=stats.total.episodes, success=stats.total.success_rate, invalid=stats.invalid_rate
                )
        except KeyboardInterrupt:
            interrupted = True
    summary = session.finish()
    summary["interrupted"] = interrupted
    return summary
