"""`vlm-agent model recipe`: run a recipe's stages in order, each skipped when done, so a rerun continues."""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import typer

from vlm_agent.cli.options import Options, options_command
from vlm_agent.cli.recipe_file import DEFAULT_RECIPE


@dataclass
class RecipeOptions:
    out: Path = field(metadata={"help": "Folder every stage writes under ({out}); its .recipe/ holds markers and timings."})
    recipe: Path = field(default=DEFAULT_RECIPE, metadata={
        "argument": True, "help": "Recipe TOML: its variables and its ordered stages, each a vlm-agent command (default: the shipped model's)."})
    until: Optional[str] = field(default=None, metadata={"help": "Stop after this stage."})
    dry_run: bool = field(default=False, metadata={"help": "Print each stage's command and state (done, partial, todo, changed); run nothing."})
    overrides: list[str] = field(default_factory=list, metadata={"flag": "--set", "help": "KEY=VALUE: override a recipe variable (repeatable)."})
    redo: list[str] = field(default_factory=list, metadata={
        "help": "Run this stage again from scratch, with every later stage that reads what it wrote (repeatable)."})


@options_command("model recipe", RecipeOptions)
def model_recipe(options: Options) -> None:
    """Build a model by a recipe's commands; after a stop, rerun the same command to continue where it stopped."""
    from rich.markup import escape

    from vlm_agent.cli.main import console, err_console, user_errors
    from vlm_agent.cli.recipe_file import load_recipe
    from vlm_agent.cli.recipe_run import Interrupts, run_stage, stage_command
    from vlm_agent.cli.recipe_state import RecipeRecords, State, redo_set, state_of

    with user_errors():
        recipe = load_recipe(options.recipe, options.out, _pairs(options.overrides))
        check_commands(recipe)
        stages = recipe.until(options.until)
        redo = redo_set(recipe, options.redo) if options.redo else []
        records = RecipeRecords(options.out)
        states = {stage.name: State.TODO if stage in redo else state_of(stage, records)[0] for stage in stages}
        if options.dry_run:
            for stage in stages:
                fresh = states[stage.name] is State.DONE or stage in redo  # a redone root is removed first: no --resume
                shown = None if fresh else _shown(stage, stage_command(stage, records)[0])
                _say(console, f"{states[stage.name].value:8} {stage.name}: {stage.display(shown)}")
            return
        changed = [stage.name for stage in stages if states[stage.name] is State.CHANGED]
        if changed:
            raise ValueError(f"{recipe.path}: stage {changed[0]} ran another command than the recipe now says"
                             f"{' (so did ' + ', '.join(changed[1:]) + ')' if changed[1:] else ''}: "
                             f"pass --redo {changed[0]} to run it again, or restore the recipe")
        records.lock(options.out)
    try:
        with user_errors(), Interrupts() as interrupts:
            if redo:
                _say(console, f"redoing {', '.join(stage.name for stage in redo)}: what they wrote is removed first")
                for stage in redo:
                    records.forget(stage)
            for number, stage in enumerate(stages, 1):
                state, found = state_of(stage, records)
                if state is State.DONE:
                    if found is not None:  # the runner stopped between the command's end and its marker
                        records.mark_done(stage, found=found)
                    _say(console, f"[{number}/{len(stages)}] {stage.name}: done")
                    continue
                if interrupts.count:
                    break
                _say(console, f"[{number}/{len(stages)}] {stage.name} ({state.value}): "
                              f"{stage.display(_shown(stage, stage_command(stage, records)[0]))}")
                attempt, why = run_stage(stage, records, interrupts)
                if attempt.status == "failed":
                    err_console.print(f"[bold red]error:[/] {escape(f'stage {stage.name} failed ({why}); it is not marked done')}")
                    raise typer.Exit(1)
                if attempt.status == "stopped":
                    err_console.print(f"stage {stage.name} stopped early ({why}): rerun the same command to continue from there",
                                      markup=False)
                    raise typer.Exit(130)
                if attempt.status == "done":
                    _say(console, f"{stage.name} done in {_duration(attempt.wall_seconds)}")
                if interrupts.count:
                    break
            if interrupts.count:
                err_console.print(f"interrupted at stage {stage.name}: rerun the same command to continue from there", markup=False)
                raise typer.Exit(130)
        _say(console, f"recipe done: {len(stages)} stage(s) in {options.out}; timings in {records.folder / 'timings.jsonl'}")
    finally:
        records.unlock()


def check_commands(recipe) -> None:
    """Parse every stage's arguments as `vlm-agent` does, so that a typo fails now, not hours into the recipe."""
    import typer

    from vlm_agent.cli.main import app

    for stage in recipe.stages:
        command, name, rest, parent = typer.main.get_command(app), "vlm-agent", stage.args, None
        try:
            while hasattr(command, "resolve_command"):  # a group: `model`, or vlm-agent itself
                parent = command.make_context(name, [], parent=parent, resilient_parsing=True)
                name, command, rest = command.resolve_command(parent, rest)
                if command is None:
                    raise ValueError(f"no such command {shlex.join(stage.args)!r}")
            command.make_context(name, list(rest), parent=parent)
        except Exception as error:
            if not hasattr(error, "format_message") and not isinstance(error, ValueError):
                raise
            message = error.format_message() if hasattr(error, "format_message") else str(error)
            raise ValueError(f"{recipe.path}: stage {stage.name}: {message}") from None


def _say(console, line: str) -> None:
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _shown(stage, args: list[str]) -> list[str] | None:
    """The arguments to show for a stage about to run: as run, except an output stage's temp folder."""
    return None if stage.output is not None else args


def _pairs(overrides: list[str]) -> dict[str, str]:
    pairs = {}
    for text in overrides:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {text}: expected KEY=VALUE")
        pairs[key] = value
    return pairs


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"
