"""`vlm-agent eval`: greedy (or sampled) evaluation on fixed seeds, as a table and a JSON file."""
from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import typer

from vlm_agent.agent.device_config import TRAINING_ONLY, DeviceConfig
from vlm_agent.agent.sampling_config import SamplingConfig
from vlm_agent.cli.environment import EnvOptions
from vlm_agent.cli.options import Options, options_command
from vlm_agent.runtime.loop import LoopConfig


@dataclass
class EvalOptions:
    model: Optional[Path] = field(default=None, metadata={"help": "Model folder or checkpoint root; default: the shipped model."})
    out: Optional[Path] = field(default=None, metadata={
        "help": "JSON file for the results; default eval/<env>-<version>-<prompt>.json."})
    log_dir: Path = field(default=Path("logs/eval"), metadata={"help": "Where the evaluated episodes are logged."})
    row: Optional[str] = field(default=None, metadata={
        "help": "Row title in docs/results.md (e.g. 'default-sft-v4, SFT + PPO'); default: the model's version."})


@options_command("eval", EnvOptions, EvalOptions, LoopConfig, SamplingConfig, DeviceConfig,
                 defaults={"episodes": 100, "num_envs": 8, "greedy": True}, flags={"greedy": "--greedy/--sampled"}, exclude=TRAINING_ONLY)
def evaluate(options: Options) -> None:
    """Evaluate a model: success rate with its 95% interval, per task type, invalid actions, length."""
    from vlm_agent.runtime.agent_factory import make_agent, model_path
    from vlm_agent.core.atomic import write_json_atomic
    from vlm_agent.cli.main import console, placement_of, user_errors
    from vlm_agent.runtime.play import PlaySession, run_headless
    from vlm_agent.cli.summary_view import print_summary

    with user_errors():
        where = options.build(EnvOptions)
        env_id = where.env_id()
        config = options.build(LoopConfig, env_id=env_id, env_kwargs=where.env_kwargs())
        sampling = options.build(SamplingConfig)
        agent = make_agent("vlm", model=options.model, seed=options.seed, sampling=sampling, placement=placement_of(options))
        short = env_id.split("/")[-1].split("-")[0].lower()
        session = PlaySession(config, agent, options.log_dir, short, {"model": str(model_path(options.model)), "eval": True})
    summary = run_headless(session, console)
    summary["show_tasks"] = env_id.endswith("ALFWorld-v0")
    print_summary(console, summary, f"eval {env_id} · {agent.policy_version}")
    result = {
        "env_id": env_id,
        "model": str(options.model) if options.model else "default",
        "policy_version": agent.policy_version,
        "prompt": sampling.prompt,
        "row": options.row or default_row(agent.policy_version, sampling.prompt),
        "greedy": sampling.greedy,
        "seed": options.seed,
        "command": "vlm-agent " + shlex.join(sys.argv[1:]),
        **summary,
    }
    path = options.out or Path("eval") / f"{short}-{agent.policy_version or 'model'}-{sampling.prompt}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, result)
    console.print(f"results: {path}")
    if summary.get("interrupted"):
        raise typer.Exit(130)


def default_row(policy_version: str | None, prompt: str) -> str:
    """The results-table row of a model when --row is not given: its version, and the prompt if not CoT."""
    return (policy_version or "model") + (", action-only" if prompt == "action-only" else "")
