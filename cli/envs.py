"""`vlm-agent envs`: list the environments; `vlm-agent envs generate alfworld`: ALFWorld games into a folder.

`envs` is a group whose bare call still lists, so the listing keeps its name and the generator sits
beside it (as `git remote` lists and `git remote add` adds).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import typer

from vlm_agent.cli.options import Options, options_command

envs_app = typer.Typer(add_completion=False)


@envs_app.callback(invoke_without_command=True)
def envs(context: typer.Context) -> None:
    """List the environments; `envs generate alfworld` writes ALFWorld games into a folder."""
    if context.invoked_subcommand is not None:
        return
    from rich.table import Table

    from vlm_agent.cli.main import console
    from vlm_agent.envs import SHORT_NAMES

    table = Table("short name", "gymnasium id")
    for short, env_id in SHORT_NAMES.items():
        table.add_row(short, env_id)
    console.print(table)


@dataclass
class GenerateOptions:
    env: str = field(metadata={"argument": True, "help": "alfworld: the one environment whose games are files "
                                                         "(the card games deal from their seed)."})
    out: Path = field(metadata={"help": "Folder to write, new or empty: laid out like $ALFWORLD_DATA, for --alfworld-data."})
    seed: int = field(default=0, metadata={"min": 0, "help": "Generator seed: the same seed and count give the same games, byte for byte."})
    games_per_split: Optional[int] = field(default=None, metadata={
        "min": 1, "help": "Games in each of train, valid_seen and valid_unseen (default: as many as play generates without data)."})


@envs_app.command("generate")
@options_command("envs generate", GenerateOptions)
def envs_generate(options: Options) -> None:
    """Generate ALFWorld games into a folder (once per seed and count; later calls copy the cached games)."""
    from vlm_agent.cli.environment import ALFWORLD_ID
    from vlm_agent.cli.main import console, user_errors
    from vlm_agent.core.write_errors import check_writable
    from vlm_agent.envs import resolve_env_id

    with user_errors():
        if resolve_env_id(options.env) != ALFWORLD_ID:
            raise ValueError(f"{options.env}: only alfworld has games to generate (the card games deal from their seed)")
        from vlm_agent.envs.alfworld.generation.export import export_generated_games, refuse_occupied

        refuse_occupied(options.out)  # before the first game: generating can take hours
        check_writable(options.out)
        with _GenerationProgress(console, f"ALFWorld games, seed {options.seed}") as progress:
            counts = export_generated_games(options.out, options.seed, options.games_per_split, progress=progress)
    splits = ", ".join(f"{split} {count}" for split, count in counts.items())
    console.print(f"{options.out}: {sum(counts.values())} ALFWorld games of seed {options.seed} ({splits}); "
                  f"play them with --alfworld-data {options.out}", markup=False, highlight=False, soft_wrap=True)


class _GenerationProgress:
    """A bar that appears with the first game checked (a cached set shows none)."""

    def __init__(self, console, label: str):
        self.console, self.label, self.bar, self.task = console, label, None, None

    def __enter__(self):
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=self.console)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task, completed=done)

    def __exit__(self, *exc) -> bool:
        if self.bar is not None:
            self.bar.stop()
        return False
