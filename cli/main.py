"""The `vlm-agent` command line."""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported anywhere (see agent/__init__.py)

import contextlib
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(
    name="vlm-agent",
    help="Fine-tune vision-language models into decision-making agents with reinforcement learning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)  # an error stays one line however long


@contextlib.contextmanager
def user_errors():
    """Turn a user's mistake (bad flag value, missing file, unreadable model or log) into one line."""
    from vlm_agent.runtime.log_reader import LogFormatError

    known: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, NotADirectoryError, LogFormatError, KeyError)
    try:
        from vlm_agent.agent.model_loading import ModelLoadError

        known = known + (ModelLoadError,)
    except ImportError:
        pass
    try:
        yield
    except known as error:
        message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
        err_console.print(f"[bold red]error:[/] {message.splitlines()[0] if message else type(error).__name__}")
        raise typer.Exit(2) from None


@app.command()
def envs() -> None:
    """List the environments."""
    from rich.table import Table

    from vlm_agent.envs import SHORT_NAMES

    table = Table("short name", "gymnasium id")
    for short, env_id in SHORT_NAMES.items():
        table.add_row(short, env_id)
    console.print(table)


@app.command()
def play(
    env: str = typer.Argument(..., help="Environment: numberline, ezpoints, points24, blackjack, alfworld, or a full id."),
    agent: str = typer.Option("vlm", help="vlm (the model), expert, random, or human."),
    model: Optional[Path] = typer.Option(None, help="Checkpoint folder of the VLM; default: the shipped model."),
    episodes: int = typer.Option(10, min=1, help="Episodes to finish."),
    num_envs: int = typer.Option(1, min=1, help="Environments stepped together (one batched model call)."),
    seed: int = typer.Option(0, help="Episode k is reset with seed + k (seed + k // repeats with --repeats)."),
    repeats: int = typer.Option(1, min=1, help="Play each start this many times in a row (groups for finetune --advantage grpo)."),
    log_dir: Path = typer.Option(Path("logs"), help="Where episode logs go (one folder per run)."),
    headless: bool = typer.Option(False, "--headless", help="Plain progress output even on a terminal."),
    greedy: bool = typer.Option(False, "--greedy", help="Greedy decoding instead of sampling."),
    temperature: float = typer.Option(0.2, min=0.0, help="Sampling temperature (paper: 0.2)."),
    top_p: float = typer.Option(1.0, min=0.0, max=1.0, help="Nucleus sampling threshold."),
    max_new_tokens: int = typer.Option(256, min=1, help="Longest answer the model may write."),
    constrain_actions: bool = typer.Option(False, "--constrain-actions", help="Decode the action value only among the legal actions (thoughts stay free; log-probs are the constrained policy's, as PPO re-scores them)."),
    prompt: str = typer.Option("cot", help="cot (thoughts then action) or action-only."),
    fallback: str = typer.Option("noop", help="What an unparsable answer does: noop (no step, penalty) or random."),
    alfworld_data: Optional[Path] = typer.Option(None, help="ALFWorld data folder (default: $ALFWORLD_DATA, else generated games)."),
    split: str = typer.Option("valid_seen", help="ALFWorld split: train, valid_seen or valid_unseen."),
    reload: bool = typer.Option(False, "--reload", help="Load the newest version of the checkpoint root --model between episodes."),
) -> None:
    """Run an agent in live environments, logging every episode."""
    from vlm_agent.runtime.agent_factory import make_agent
    from vlm_agent.envs import resolve_env_id
    from vlm_agent.runtime.loop import LoopConfig
    from vlm_agent.runtime.play import PlaySession, run_headless
    from vlm_agent.cli.summary_view import print_summary

    interactive = not headless and sys.stdout.isatty()
    with user_errors():
        if agent == "human" and not interactive:
            raise ValueError("--agent human needs the terminal UI (a terminal, no --headless)")
        env_id = resolve_env_id(env)
        env_kwargs = _env_kwargs(env_id, alfworld_data, split)
        config = LoopConfig(env_id=env_id, episodes=episodes, num_envs=num_envs, seed=seed, repeats=repeats, fallback=fallback,
                            env_kwargs=env_kwargs)
        sampling = {"greedy": greedy, "temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens,
                    "constrain_actions": constrain_actions}
        the_agent = make_agent(agent, model=model, seed=seed, prompt_variant=prompt, sampling=sampling)
        env_name = env_id.split("/")[-1].split("-")[0].lower()
        session = PlaySession(config, the_agent, log_dir, env_name, {"model": str(model) if model else None})
        if reload:
            from vlm_agent.runtime.checkpoint_watch import watch_checkpoints

            watch_checkpoints(session, the_agent, model, on_event=(lambda line: None) if interactive else console.log)
    if interactive:
        from vlm_agent.tui.launch import run_play_tui

        summary = run_play_tui(session)
    else:
        summary = run_headless(session, console)
    print_summary(console, summary, f"{env_id} · {agent} agent")
    if summary.get("interrupted"):
        raise typer.Exit(130)


@app.command()
def replay(log_dir: Path = typer.Argument(..., help="A log root, a run folder or an episode file.")) -> None:
    """Browse logged episodes step by step in the terminal UI."""
    from vlm_agent.runtime.log_reader import find_episode_files

    with user_errors():
        files, _ = find_episode_files([log_dir])
        if not files:
            raise ValueError(f"{log_dir}: no episode logs found")
    from vlm_agent.tui.launch import run_replay

    with user_errors():
        run_replay(log_dir)


def _env_kwargs(env_id: str, alfworld_data: Path | None, split: str) -> dict:
    if env_id != "vlm_agent/ALFWorld-v0":
        return {}
    kwargs: dict = {"split": split}
    if alfworld_data is not None:
        if not alfworld_data.is_dir():
            raise FileNotFoundError(f"{alfworld_data}: no such ALFWorld data folder")
        kwargs["data_dir"] = str(alfworld_data)
    return kwargs


def _mount_subcommands() -> None:
    """Commands that live in their own modules: models, vision pretraining and SFT, evaluation, PPO."""
    from vlm_agent.cli.eval import evaluate
    from vlm_agent.cli.model import model_app, sft
    from vlm_agent.cli.train import finetune, train
    from vlm_agent.cli.vision import vision_pretrain

    app.add_typer(model_app, name="model", help="Build and inspect models.")
    app.command("vision-pretrain")(vision_pretrain)
    app.command()(sft)
    app.command()(finetune)
    app.command()(train)
    app.command("eval")(evaluate)


_mount_subcommands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
