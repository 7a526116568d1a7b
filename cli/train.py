"""`vlm-agent finetune` (PPO from logged episodes, once or --watch) and `vlm-agent train` (online PPO)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from vlm_agent.training.ppo_config import PPOConfig as D  # the defaults: the paper's values

# PPO options shared by both commands.
Epochs = Annotated[int, typer.Option("--epochs", min=1, help="PPO epochs over each batch.")]
Minibatch = Annotated[int, typer.Option(min=1, help="Steps per optimizer step.")]
Lr = Annotated[float, typer.Option(min=0.0, help="Peak learning rate, cosine-annealed to --lr-min over --total-updates.")]
LrMin = Annotated[float, typer.Option(min=0.0)]
TotalUpdates = Annotated[int, typer.Option(min=1, help="Updates the cosine schedule spans.")]
ClipCoef = Annotated[float, typer.Option(min=0.0, help="PPO clip range (also clips the value loss).")]
VfCoef = Annotated[float, typer.Option(min=0.0, help="Value-loss weight.")]
ValueWarmup = Annotated[int, typer.Option(min=0, help="Epochs fitting a new root's value head to the first batch's returns before PPO (GAE only); 0: off.")]
EntCoef = Annotated[float, typer.Option(min=0.0, help="Entropy-bonus weight (mean per-token entropy).")]
MaxGradNorm = Annotated[float, typer.Option(min=0.0, help="Gradient clipping norm (paper: 0.01).")]
Gamma = Annotated[float, typer.Option(min=0.0, max=1.0)]
GaeLambda = Annotated[float, typer.Option(min=0.0, max=1.0)]
ThoughtCoef = Annotated[Optional[float], typer.Option(min=0.0, help="Weight of CoT tokens in the step log-prob; default as logged (0.5 cards, 0.2 ALFWorld).")]
Advantage = Annotated[str, typer.Option(help="gae (critic) or grpo (group-relative returns, no critic).")]
MaxLag = Annotated[int, typer.Option(min=0, help="Drop steps made more than this many versions before the current one.")]
BcCoef = Annotated[float, typer.Option(min=0.0, help="Behaviour-cloning weight on expert/human steps in the logs (0: skip them).")]
LoraR = Annotated[int, typer.Option(min=0, help="LoRA rank on the language model's linear layers; 0 = full fine-tuning.")]
LoraAlpha = Annotated[Optional[int], typer.Option(min=1, help="LoRA alpha (default 2 x rank).")]
Precision = Annotated[str, typer.Option(help="auto (bf16 where the device has it), fp32 or bf16.")]
Seed = Annotated[int, typer.Option()]
Out = Annotated[Path, typer.Option(help="Checkpoint root to publish versions into (LATEST switched atomically).")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue the checkpoint root --out from its newest version.")]


def _ppo_config(options: dict) -> D:
    return D(
        update_epochs=options["epochs"], minibatch_size=options["minibatch_size"], lr=options["lr"], lr_min=options["lr_min"],
        total_updates=options["total_updates"], clip_coef=options["clip_coef"], vf_coef=options["vf_coef"],
        value_warmup_epochs=options["value_warmup_epochs"], ent_coef=options["ent_coef"],
        max_grad_norm=options["max_grad_norm"], gamma=options["gamma"], gae_lambda=options["gae_lambda"], thought_coef=options["thought_coef"],
        advantage=options["advantage"], max_version_lag=options["max_version_lag"], bc_coef=options["bc_coef"],
        lora_r=options["lora_r"], lora_alpha=options["lora_alpha"], precision=options["precision"], seed=options["seed"],
    )


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


def finetune(
    logs: List[Path] = typer.Argument(..., help="Log folders (or episode files) to read every episode from."),
    model: Optional[Path] = typer.Option(None, help="Model folder or checkpoint root to start from (not needed with --resume)."),
    out: Out = ...,
    resume: Resume = False,
    watch: bool = typer.Option(False, "--watch", help="Keep running: train and publish each time --every new episodes land."),
    every: int = typer.Option(16, min=1, help="With --watch: new episodes per update."),
    poll_seconds: float = typer.Option(5.0, min=0.1, help="With --watch: how often to look for new episodes."),
    max_updates: Optional[int] = typer.Option(None, min=1, help="With --watch: stop after this many updates."),
    epochs: Epochs = D.update_epochs, minibatch_size: Minibatch = D.minibatch_size, lr: Lr = D.lr, lr_min: LrMin = D.lr_min,
    total_updates: TotalUpdates = D.total_updates, clip_coef: ClipCoef = D.clip_coef, vf_coef: VfCoef = D.vf_coef,
    value_warmup_epochs: ValueWarmup = D.value_warmup_epochs,
    ent_coef: EntCoef = D.ent_coef, max_grad_norm: MaxGradNorm = D.max_grad_norm, gamma: Gamma = D.gamma,
    gae_lambda: GaeLambda = D.gae_lambda, thought_coef: ThoughtCoef = D.thought_coef, advantage: Advantage = D.advantage,
    max_version_lag: MaxLag = D.max_version_lag, bc_coef: BcCoef = D.bc_coef, lora_r: LoraR = D.lora_r,
    lora_alpha: LoraAlpha = D.lora_alpha, precision: Precision = D.precision, seed: Seed = D.seed,
) -> None:
    """PPO fine-tuning on logged episodes: one update and publish, or --watch to keep going."""
    from vlm_agent.cli.main import console, user_errors
    from vlm_agent.training.finetune import PPOTrainer, count_episode_files, finetune_once
    from vlm_agent.training.finetune_watch import watch as watch_logs
    from vlm_agent.training.sft import StopFlag

    warn = _warner()
    with user_errors():
        config = _ppo_config(locals())
        for path in logs:
            if not path.exists():
                raise FileNotFoundError(f"{path}: no such log folder")
        if not watch and not count_episode_files(logs):
            raise ValueError(f"{', '.join(map(str, logs))}: no episode logs found")
        trainer = PPOTrainer(model, out, config, resume=resume)
        console.print(f"training {out} from {trainer.version} ({'LoRA r=' + str(lora_r) if lora_r else 'full fine-tuning'})")
        with StopFlag() as stop:
            if watch:
                console.print(f"watching {', '.join(map(str, logs))}: an update every {every} new episodes (Ctrl-C to stop)")
                watch_logs(trainer, logs, every, warn, lambda ref, m: print_update(console, ref, m), lambda: stop.requested,
                           poll_seconds, max_updates)
            else:
                with console.status("PPO update..."):
                    ref, metrics = finetune_once(trainer, logs, warn, lambda: stop.requested)
                print_update(console, ref, metrics)
        trainer.close()
    if stop.requested:
        console.print(f"stopped; latest version {trainer.version}")
        raise typer.Exit(130)


def train(
    env: str = typer.Argument(..., help="Environment: numberline, ezpoints, points24, blackjack, alfworld, or a full id."),
    model: Optional[Path] = typer.Option(None, help="Model folder or checkpoint root to start from (default: the shipped model)."),
    out: Out = ...,
    resume: Resume = False,
    updates: int = typer.Option(25, min=1, help="Rounds of (play, update) to run."),
    episodes_per_update: int = typer.Option(16, min=1, help="Episodes played with the current policy before each update."),
    repeats: int = typer.Option(1, min=1, help="Play each start this many times in a round (groups for --advantage grpo)."),
    num_envs: int = typer.Option(4, min=1, help="Environments stepped together."),
    log_dir: Path = typer.Option(Path("logs"), help="Where the played episodes are logged."),
    temperature: float = typer.Option(0.2, min=0.0, help="Sampling temperature while collecting."),
    max_new_tokens: int = typer.Option(256, min=1),
    constrain_actions: bool = typer.Option(False, "--constrain-actions", help="Decode the action value only among the legal actions (thoughts stay free; log-probs are the constrained policy's, as PPO re-scores them)."),
    prompt: str = typer.Option("cot", help="cot or action-only."),
    fallback: str = typer.Option("noop", help="What an unparsable answer does: noop or random."),
    epochs: Epochs = D.update_epochs, minibatch_size: Minibatch = D.minibatch_size, lr: Lr = D.lr, lr_min: LrMin = D.lr_min,
    total_updates: TotalUpdates = D.total_updates, clip_coef: ClipCoef = D.clip_coef, vf_coef: VfCoef = D.vf_coef,
    value_warmup_epochs: ValueWarmup = D.value_warmup_epochs,
    ent_coef: EntCoef = D.ent_coef, max_grad_norm: MaxGradNorm = D.max_grad_norm, gamma: Gamma = D.gamma,
    gae_lambda: GaeLambda = D.gae_lambda, thought_coef: ThoughtCoef = D.thought_coef, advantage: Advantage = D.advantage,
    max_version_lag: MaxLag = D.max_version_lag, bc_coef: BcCoef = D.bc_coef, lora_r: LoraR = D.lora_r,
    lora_alpha: LoraAlpha = D.lora_alpha, precision: Precision = D.precision, seed: Seed = D.seed,
) -> None:
    """Online PPO in one process: collect with the current policy, update, publish, repeat."""
    from vlm_agent.runtime.agent_factory import default_model_dir
    from vlm_agent.cli.main import _env_kwargs, console, user_errors
    from vlm_agent.envs import resolve_env_id
    from vlm_agent.runtime.loop import LoopConfig
    from vlm_agent.training.finetune import PPOTrainer
    from vlm_agent.training.online import train_online
    from vlm_agent.training.sft import StopFlag

    warn = _warner()
    with user_errors():
        config = _ppo_config(locals())
        env_id = resolve_env_id(env)
        loop_config = LoopConfig(env_id=env_id, episodes=episodes_per_update, num_envs=num_envs, seed=seed, repeats=repeats, fallback=fallback,
                                 thought_coef=thought_coef, env_kwargs=_env_kwargs(env_id, None, "train"))
        sampling = {"temperature": temperature, "max_new_tokens": max_new_tokens, "prompt_variant": prompt, "seed": seed,
                    "constrain_actions": constrain_actions}
        start = model if model is not None or resume else default_model_dir()
        trainer = PPOTrainer(start, out, config, resume=resume, sampling=sampling)
        console.print(f"online PPO on {env_id}: {updates} rounds of {episodes_per_update} episodes, from {trainer.version}")

        def show(ref, metrics, summary):
            print_update(console, ref, metrics)

        with StopFlag() as stop:
            train_online(trainer, loop_config, log_dir, updates, warn, show, lambda: stop.requested)
        trainer.close()
    if stop.requested:
        console.print(f"stopped; latest version {trainer.version}")
        raise typer.Exit(130)
