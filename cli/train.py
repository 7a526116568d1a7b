"""`vlm-agent finetune` (PPO from logged episodes, once or --watch) and `vlm-agent train` (online PPO)."""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import typer

from vlm_agent.agent.device_config import DeviceConfig
from vlm_agent.agent.sampling_config import SamplingConfig
from vlm_agent.cli.environment import EnvOptions
from vlm_agent.cli.options import Options, options_command
from vlm_agent.runtime.loop import LoopConfig
from vlm_agent.runtime.rollout_workers import WorkersConfig
from vlm_agent.training.ppo_config import PPOConfig

DEFAULT_FINETUNE_OUT = Path("checkpoints/finetune")


@dataclass
class FinetuneOptions:
    logs: list[Path] = field(metadata={"argument": True, "help": "Log folders (or episode files) to read every episode from."})
    model: Optional[Path] = field(default=None, metadata={
        "help": "Model folder or checkpoint root to start from; default: the model that played the logs (their manifests)."})
    out: Optional[Path] = field(default=None, metadata={
        "help": f"Checkpoint root to publish versions into (LATEST switched atomically); default {DEFAULT_FINETUNE_OUT}, "
                "continued when it started from the same model."})
    resume: bool = field(default=False, metadata={"help": "Continue the checkpoint root --out from its newest version."})
    watch: bool = field(default=False, metadata={"help": "Keep running: train and publish each time --every new episodes land."})
    every: int = field(default=16, metadata={"help": "With --watch: new episodes per update.", "min": 1})
    poll_seconds: float = field(default=5.0, metadata={"help": "With --watch: how often to look for new episodes.", "min": 0.1})
    max_updates: Optional[int] = field(default=None, metadata={"help": "With --watch: stop after this many updates.", "min": 1})
    headless: bool = field(default=False, metadata={"help": "With --watch: console lines even on a terminal (no training view)."})


@dataclass
class TrainOptions:
    out: Path = field(metadata={"help": "Checkpoint root to publish versions into (LATEST switched atomically)."})
    model: Optional[Path] = field(default=None, metadata={
        "help": "Model folder or checkpoint root to start from (default: the shipped model)."})
    resume: bool = field(default=False, metadata={"help": "Continue the checkpoint root --out from its newest version."})
    updates: int = field(default=25, metadata={"help": "Rounds of (play, update) to run.", "min": 1})
    log_dir: Path = field(default=Path("logs"), metadata={"help": "Where the played episodes are logged."})
    headless: bool = field(default=False, metadata={"help": "Console lines even on a terminal (no training view)."})


def _warner():
    from vlm_agent.cli.main import err_console

    seen: set[str] = set()

    def warn(line: str) -> None:
        if line not in seen:
            seen.add(line)
            err_console.print(f"[yellow]warning:[/] {line}")

    return warn


def print_update(console, ref, metrics: dict) -> None:
    """One line of the diagnostics every RL user looks at first."""
    console.print(
        f"[bold]{ref.name}[/] from {metrics['trained_from']}: {metrics['samples']} steps of {metrics['episodes']} episodes "
        f"(return {metrics['mean_return']:+.2f}, success {metrics['success_rate']:.0%}, {metrics['dropped_stale']} stale dropped) | "
        f"policy {metrics['policy_loss']:+.4f} value {metrics['value_loss']:.4f} entropy {metrics['entropy']:.3f} "
        f"approx_kl {metrics['approx_kl']:.4f} clipfrac {metrics['clip_fraction']:.3f} explained_var {metrics['explained_variance']:.3f}"
        + (f" | value head warmed up first: explained_var {metrics['value_warmup_explained_variance']:.3f} out of fold"
           if "value_warmup_explained_variance" in metrics else "")
        + (" [yellow](interrupted)[/]" if metrics.get("interrupted") else "")
    )


@options_command("finetune", FinetuneOptions, PPOConfig, DeviceConfig)
def finetune(options: Options) -> None:
    """PPO fine-tuning on logged episodes: one update and publish, or --watch to keep going."""
    from vlm_agent.cli.log_origin import log_origin
    from vlm_agent.cli.main import console, quiet_other_ranks, user_errors
    from vlm_agent.training.finetune import PPOTrainer, count_episode_files, finetune_once, first_readable_episode
    from vlm_agent.training.finetune_watch import watch as watch_logs
    from vlm_agent.cli.train_view import run_in_view, wants_view
    from vlm_agent.training.sft import StopFlag

    from vlm_agent.training.distributed import ranks_from_env

    quiet_other_ranks()
    warn = _warner()
    logs = options.logs
    with user_errors():
        config = options.build(PPOConfig)
        if options.watch and ranks_from_env().distributed:
            raise ValueError("--watch runs in one process; under torchrun run single updates (finetune LOGS) instead")
        for path in logs:
            if not path.exists():
                raise FileNotFoundError(f"{path}: no such log folder")
        if not options.watch and not count_episode_files(logs):
            raise ValueError(f"{', '.join(map(str, logs))}: no episode logs found")
        if not options.watch and first_readable_episode(logs) is None:  # before --out is created or the model copied
            raise ValueError(f"{', '.join(map(str, logs))}: no readable episode log (every file is corrupt or not an episode)")
        origin = log_origin(logs)
        options = _default_model_and_out(options, origin, console)
        trainer = PPOTrainer(options.model, options.out, config, resume=options.resume, run_options=options.record(),
                             device=options.build(DeviceConfig))
        console.print(f"training {options.out} from {trainer.version} ({'LoRA r=' + str(config.lora_r) if config.lora_r else 'full fine-tuning'})")
        with StopFlag() as stop:
            if options.watch and wants_view(options.headless):
                def job(hooks):
                    watch_logs(trainer, logs, options.every, hooks.warn, hooks.on_update, hooks.stop, options.poll_seconds,
                               options.max_updates, hooks.update_now, hooks.on_phase)

                run_in_view(job, trainer, f"finetune --watch {' '.join(map(str, logs))}", lambda: stop.requested)
            elif options.watch:
                console.print(f"watching {', '.join(map(str, logs))}: an update every {options.every} new episodes (Ctrl-C to stop)")
                watch_logs(trainer, logs, options.every, warn, lambda ref, m: print_update(console, ref, m), lambda: stop.requested,
                           options.poll_seconds, options.max_updates)
            else:
                with console.status("PPO update..."):
                    ref, metrics = finetune_once(trainer, logs, warn, lambda: stop.requested)
                print_update(console, ref, metrics)
        trainer.close()
        for env_id in origin.env_ids:
            console.print(f"play it: vlm-agent play {_short_name(env_id)} --model {shlex.quote(str(options.out))}", soft_wrap=True)
    if stop.requested:
        console.print(f"stopped; latest version {trainer.version}")
        raise typer.Exit(130)


def _default_model_and_out(options: Options, origin, console) -> Options:
    """Fill what `finetune LOGS` leaves out: --model from the logs' manifests, --out DEFAULT_FINETUNE_OUT.

    The default root is continued (as with --resume) when it started from that same model or is the
    model itself (logs played by its own versions); otherwise it is someone else's run: an error.
    """
    from vlm_agent.runtime.checkpoints import CheckpointStore

    model = options.model
    if model is None and not (options.resume and options.out is not None):
        model = origin.model(options.logs)
    if options.out is not None:
        return options.replace(model=model)
    out, resume = DEFAULT_FINETUNE_OUT, options.resume
    versions = CheckpointStore(out).versions()
    if versions and not resume:
        source = versions[0].meta().get("source")
        ours = model is not None and (_same(source, model) or out.resolve() in (Path(model).resolve(), *Path(model).resolve().parents))
        if not ours:
            raise ValueError(f"{out}: holds versions started from {source}, not {model}; pass --out (or --resume to continue it)")
        resume = True
        console.print(f"continuing {out} (it started from {source}), as with --resume")
    return options.replace(model=model, out=out, resume=resume)


def _same(a, b) -> bool:
    return a is not None and b is not None and Path(a).resolve() == Path(b).resolve()


def _short_name(env_id: str) -> str:
    from vlm_agent.envs import SHORT_NAMES

    return next((short for short, full in SHORT_NAMES.items() if full == env_id), env_id)


@options_command("train", EnvOptions, TrainOptions, LoopConfig, SamplingConfig, PPOConfig, WorkersConfig, DeviceConfig,
                 defaults={"split": "train", "episodes": 16, "num_envs": 4}, flags={"episodes": "--episodes-per-update"},
                 exclude={"greedy", "fsdp", "dist_timeout"})
def train(options: Options) -> None:
    """Online PPO: collect with the current policy, update, publish, repeat (in one process, or with --rollout-workers on Ray)."""
    from vlm_agent.core.write_errors import check_writable
    from vlm_agent.runtime.agent_factory import default_model_dir
    from vlm_agent.cli.main import console, user_errors
    from vlm_agent.training.finetune import PPOTrainer
    from vlm_agent.cli.train_view import run_in_view, wants_view
    from vlm_agent.training.online import train_online
    from vlm_agent.training.sft import StopFlag

    from vlm_agent.training.distributed import ranks_from_env

    warn = _warner()
    with user_errors():
        if ranks_from_env().distributed:
            raise ValueError("train plays and learns in one process; under torchrun use finetune on the logs of play (docs/scaling.md)")
        config = options.build(PPOConfig)
        where = options.build(EnvOptions)
        env_id = where.env_id()
        loop_config = options.build(LoopConfig, env_id=env_id, env_kwargs=where.env_kwargs())
        sampling = {**options.build(SamplingConfig).policy_kwargs(), "seed": options.seed}
        start = options.model if options.model is not None or options.resume else default_model_dir()
        check_writable(options.log_dir)  # before the model loads (the checkpoint root --out is claimed then, first)
        workers = options.build(WorkersConfig)
        if workers.rollout_workers:
            from vlm_agent.runtime.rollout_workers import import_ray

            import_ray()  # before the model loads: a missing extra is a one-line error
        trainer = PPOTrainer(start, options.out, config, resume=options.resume, sampling=sampling, run_options=options.record(),
                             device=options.build(DeviceConfig))
        if workers.rollout_workers:
            _train_with_workers(options, trainer, loop_config, workers, warn, console)
            return
        console.print(f"online PPO on {env_id}: {options.updates} rounds of {loop_config.episodes} episodes, from {trainer.version}")

        def show(ref, metrics, summary):
            print_update(console, ref, metrics)

        with StopFlag() as stop:
            if wants_view(options.headless):
                def job(hooks):
                    train_online(trainer, loop_config, options.log_dir, options.updates, hooks.warn,
                                 lambda ref, metrics, summary: hooks.on_update(ref, metrics), hooks.stop, hooks.update_now, hooks.on_phase)

                run_in_view(job, trainer, f"train {env_id.split('/')[-1]}", lambda: stop.requested)
            else:
                train_online(trainer, loop_config, options.log_dir, options.updates, warn, show, lambda: stop.requested)
        trainer.close()
    if stop.requested:
        console.print(f"stopped; latest version {trainer.version}")
        raise typer.Exit(130)


def _train_with_workers(options: Options, trainer, loop_config: LoopConfig, workers: WorkersConfig, warn, console) -> None:
    """`train --rollout-workers N`: Ray actors play and log; this process trains on their folder and publishes."""
    from vlm_agent.training.rollout_train import train_with_workers
    from vlm_agent.training.sft import StopFlag

    where = workers.ray_address or "a local Ray"
    console.print(f"online PPO on {loop_config.env_id}: {options.updates} updates, each on {loop_config.episodes} new episodes "
                  f"played by {workers.rollout_workers} rollout workers on {where}, from {trainer.version}")
    with StopFlag() as stop:
        made, tally = train_with_workers(
            trainer, loop_config, workers, options.build(SamplingConfig), options.log_dir, options.updates, warn,
            lambda ref, metrics: print_update(console, ref, metrics), lambda: stop.requested,
            on_start=lambda folder: console.print(f"workers log into {folder}", soft_wrap=True))
    trainer.close()
    console.print(f"{made} updates; {tally.episodes_written} episodes logged by {tally.workers} workers ({tally.restarts} restarts); "
                  f"dropped unfinished: {tally.lost_with_dead_workers} with a dead worker, {tally.unfinished_at_stop} at the end")
    if stop.requested:
        console.print(f"stopped; latest version {trainer.version}")
        raise typer.Exit(130)
