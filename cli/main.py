"""The `vlm-agent` command line."""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported anywhere (see agent/__init__.py)

import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from vlm_agent.agent.device_config import TRAINING_ONLY, DeviceConfig
from vlm_agent.agent.sampling_config import SamplingConfig
from vlm_agent.cli.environment import EnvOptions
from vlm_agent.cli.options import Options, options_command
from vlm_agent.core.write_errors import WriteFailed, check_writable
from vlm_agent.runtime.loop import LoopConfig

console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error stays one line however long


def print_error(message: str) -> None:
    """`error: MESSAGE` on stderr, on one line (the message's first)."""
    lines = message.strip().splitlines()
    err_console.print(f"[bold red]error:[/] {escape(lines[0] if lines else message)}", highlight=False)


class OneLineErrors(TyperGroup):
    """The command group whose usage errors (a value out of range, an unknown option) are one line, not a panel."""

    def make_context(self, info_name, args, *rest, **kwargs):
        with one_line_usage_errors(list(args)):
            return super().make_context(info_name, args, *rest, **kwargs)

    def invoke(self, ctx):
        # What the subcommand will parse, so a bad value can be quoted back as it was typed.
        typed = [*(getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", None) or []), *ctx.args]
        with one_line_usage_errors(typed):
            return super().invoke(ctx)


@contextlib.contextmanager
def one_line_usage_errors(argv: list[str] | None = None):
    """A usage error as `error: --episodes: Input should be greater than or equal to 1 (see vlm-agent play --help)`.

    Typer carries click inside it (typer._click), so its usage errors are caught by their public
    base, typer.TyperException, as typer's own error printer does.
    """
    try:
        yield
    except typer.TyperException as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # no arguments: the help itself (typer tells it by name too)
            raise
        print_error(usage_message(error, argv or []))
        raise typer.Exit(getattr(error, "exit_code", 2)) from None


def usage_message(error: typer.TyperException, argv: list[str] = ()) -> str:
    """What was wrong, naming the option, and where the help is."""
    param, ctx = getattr(error, "param", None), getattr(error, "ctx", None)
    if param is not None and getattr(error, "param_hint", None) is None and type(error).__name__ != "MissingParameter":
        typed = typed_value(param, list(argv))
        message = f"{param.get_error_hint().replace(chr(39), '')}{'' if typed is None else f' {typed}'}: {error.message}"
    else:
        message = error.format_message()
    return f"{message.rstrip()} (see {ctx.command_path if ctx is not None else 'vlm-agent'} --help)"


def typed_value(param, argv: list[str]) -> str | None:
    """The value the user typed for an option (`--episodes 0`, `--episodes=0`), the last one if repeated."""
    typed = None
    for i, word in enumerate(argv):
        for opt in getattr(param, "opts", []) or []:
            if word == opt and i + 1 < len(argv):
                typed = argv[i + 1]
            elif word.startswith(opt + "="):
                typed = word[len(opt) + 1:]
    return typed


app = typer.Typer(
    name="vlm-agent",
    help="Fine-tune vision-language models into decision-making agents with reinforcement learning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=OneLineErrors,
)


@contextlib.contextmanager
def user_errors():
    """Turn a user's mistake (bad flag value, missing file, unreadable model or log) or the machine's refusal
    (a read-only folder, a full disk) into one line naming what failed, and exit 2."""
    from vlm_agent.runtime.log_reader import LogFormatError

    known: tuple[type[BaseException], ...] = (ValueError, OSError, LogFormatError, KeyError)
    try:
        from vlm_agent.agent.model_loading import ModelLoadError

        known = known + (ModelLoadError,)
    except ImportError:
        pass
    try:
        yield
    except Exception as error:
        if not isinstance(error, known + _rank_failure()) or isinstance(error, BrokenPipeError):
            raise
        print_error(_one_line(error) or type(error).__name__)
        raise typer.Exit(2) from None


def _one_line(error: Exception) -> str:
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    if isinstance(error, OSError) and not isinstance(error, WriteFailed) and error.filename and error.strerror:
        return f"{error.filename}: {error.strerror}"  # not "[Errno 13] Permission denied: 'path'"
    return str(error)


def _rank_failure() -> tuple[type[BaseException], ...]:
    """torchrun's timeout error, if a run loaded the module that raises it (importing it costs torch's start-up)."""
    distributed = sys.modules.get("vlm_agent.training.distributed")
    return (distributed.RankFailure,) if distributed is not None else ()


@dataclass
class PlayOptions:
    agent: str = field(default="vlm", metadata={"help": "vlm (the model), expert (on ALFWorld: a teacher that sees only what the agent sees), expert-ranked (its actions, with its search lookup written out in the thoughts), expert-shuffled (that, taking one kind's places in a scrambled order), expert-privileged (ALFWorld's handcoded expert, which reads the engine's hidden facts), random, or human."})
    model: Optional[Path] = field(default=None, metadata={"help": "Checkpoint folder of the VLM; default: the shipped model."})
    log_dir: Path = field(default=Path("logs"), metadata={"help": "Where episode logs go (one folder per run)."})
    headless: bool = field(default=False, metadata={"help": "Plain progress output even on a terminal."})
    reload: bool = field(default=False, metadata={"help": "Load the newest version of the checkpoint root --model between episodes."})
    teacher: str = field(default="", metadata={
        "help": "An agent (e.g. expert) that answers every observation too; its answers are logged beside the agent's "
                "as labels `sft` trains on (DAgger). The agent's own actions are the ones played."})


@app.command()
@options_command("play", EnvOptions, PlayOptions, LoopConfig, SamplingConfig, DeviceConfig, exclude=TRAINING_ONLY)
def play(options: Options) -> None:
    """Run an agent in live environments, logging every episode."""
    from vlm_agent.runtime.agent_factory import make_agent, model_path
    from vlm_agent.runtime.play import PlaySession, run_headless
    from vlm_agent.cli.summary_view import print_summary

    interactive = not options.headless and sys.stdout.isatty()
    with user_errors():
        if options.agent == "human" and not interactive:
            raise ValueError("--agent human needs the terminal UI (a terminal, no --headless)")
        check_writable(options.log_dir)  # before the model loads
        where = options.build(EnvOptions)
        env_id = where.env_id()
        config = options.build(LoopConfig, env_id=env_id, env_kwargs=where.env_kwargs())
        placement = placement_of(options) if options.agent == "vlm" else None
        the_agent = make_agent(options.agent, model=options.model, seed=options.seed, sampling=options.build(SamplingConfig),
                               placement=placement)
        env_name = env_id.split("/")[-1].split("-")[0].lower()
        # The model actually played (the shipped default when no --model): `finetune LOGS` starts from it.
        played = str(model_path(options.model)) if options.agent == "vlm" else None
        teacher = make_agent(options.teacher, seed=options.seed, sampling=options.build(SamplingConfig)) if options.teacher else None
        if teacher is not None and teacher.kind in ("vlm", "human"):
            raise ValueError(f"--teacher {options.teacher}: a teacher must be a scripted agent (expert, expert-ranked, expert-shuffled, expert-privileged or random)")
        session = PlaySession(config, the_agent, options.log_dir, env_name, {"model": played}, teacher=teacher)
        if options.reload:
            from vlm_agent.runtime.checkpoint_watch import watch_checkpoints

            watch_checkpoints(session, the_agent, options.model, on_event=(lambda line: None) if interactive else console.log)
    with user_errors():  # a log that cannot be written (full disk) ends the run in one line; the episodes written stay
        if interactive:
            from vlm_agent.tui.launch import run_play_tui

            summary = run_play_tui(session)
        else:
            summary = run_headless(session, console)
    print_summary(console, summary, f"{env_id} · {options.agent} agent")
    if summary.get("interrupted"):
        raise typer.Exit(130)


def placement_of(options: Options):
    """Where a command's model runs (--device, --dtype, --attn-implementation), resolved on this machine."""
    from vlm_agent.agent.device import resolve

    return resolve(options.build(DeviceConfig))


def quiet_other_ranks() -> None:
    """Under torchrun only rank 0 talks on stdout (errors still come from every rank)."""
    from vlm_agent.training.distributed import ranks_from_env

    if not ranks_from_env().is_main:
        console.quiet = True


@app.command()
def replay(log_dir: Path = typer.Argument(..., help="A log root, a run folder or an episode file; or a checkpoint root.")) -> None:
    """Browse logged episodes step by step in the terminal UI, or a checkpoint root's training run."""
    from vlm_agent.cli.train_view import is_checkpoint_root, replay_training
    from vlm_agent.runtime.log_reader import find_episode_files

    with user_errors():
        if is_checkpoint_root(log_dir):
            return replay_training(log_dir)
        files, _ = find_episode_files([log_dir])
        if not files:
            raise ValueError(f"{log_dir}: no episode logs found")
        if not any(_reads(file) for file in files):
            raise ValueError(f"{log_dir}: no readable episode log ({len(files)} file(s), none of them reads)")
        if not sys.stdout.isatty():  # the UI would wait for keys that never come
            raise ValueError("replay browses episodes in the terminal UI: run it in a terminal")
    from vlm_agent.tui.launch import run_replay

    with user_errors():
        run_replay(log_dir)


def _reads(path: Path) -> bool:
    from vlm_agent.runtime.log_reader import LogFormatError, read_episode

    try:
        read_episode(path)
        return True
    except LogFormatError:
        return False


def _mount_subcommands() -> None:
    """Commands that live in their own modules: environments, models, vision pretraining and SFT, evaluation, PPO."""
    from vlm_agent.cli.envs import envs_app
    from vlm_agent.cli.eval import evaluate
    from vlm_agent.cli.model import model_app, sft
    from vlm_agent.cli.plot import plot
    from vlm_agent.cli.relabel import relabel
    from vlm_agent.cli.train import finetune, train
    from vlm_agent.cli.vision import vision_pretrain

    app.add_typer(envs_app, name="envs")
    app.add_typer(model_app, name="model", help="Build and inspect models.")
    app.command("vision-pretrain")(vision_pretrain)
    app.command()(sft)
    app.command()(relabel)
    app.command()(finetune)
    app.command()(train)
    app.command("eval")(evaluate)
    app.command()(plot)


_mount_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
