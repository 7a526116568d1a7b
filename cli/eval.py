"""`vlm-agent eval`: greedy (or sampled) evaluation on fixed seeds, as a table and a JSON file."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer


def evaluate(
    env: str = typer.Argument(..., help="Environment: numberline, ezpoints, points24, blackjack, alfworld."),
    model: Optional[Path] = typer.Option(None, help="Model folder or checkpoint root; default: the shipped model."),
    episodes: int = typer.Option(100, min=1, help="Episodes to evaluate (episode k is reset with seed + k)."),
    seed: int = typer.Option(0, help="First episode seed (the shipped model trained on seeds from 1,000,000)."),
    num_envs: int = typer.Option(8, min=1, help="Environments stepped together."),
    sampled: bool = typer.Option(False, "--sampled", help="Sample (at --temperature) instead of greedy decoding."),
    temperature: float = typer.Option(0.2, min=0.0),
    prompt: str = typer.Option("cot", help="cot or action-only (the paper's ablation)."),
    max_new_tokens: int = typer.Option(256, min=1),
    constrain_actions: bool = typer.Option(False, "--constrain-actions", help="Decode the action value only among the legal actions (thoughts stay free; log-probs are the constrained policy's, as PPO re-scores them)."),
    split: str = typer.Option("valid_seen", help="ALFWorld split."),
    alfworld_data: Optional[Path] = typer.Option(None, help="ALFWorld data folder (default: $ALFWORLD_DATA, else generated games)."),
    out: Optional[Path] = typer.Option(None, help="JSON file for the results; default eval/<env>-<version>-<prompt>.json."),
    log_dir: Path = typer.Option(Path("logs/eval"), help="Where the evaluated episodes are logged."),
    row: Optional[str] = typer.Option(None, help="Row title in docs/results.md (e.g. 'default-sft-v4, SFT + PPO'); default: the model's version."),
) -> None:
    """Evaluate a model: success rate with its 95% interval, per task type, invalid actions, length."""
    from vlm_agent.runtime.agent_factory import make_agent
    from vlm_agent.core.atomic import write_json_atomic
    from vlm_agent.cli.main import _env_kwargs, console, user_errors
    from vlm_agent.envs import resolve_env_id
    from vlm_agent.runtime.loop import LoopConfig
    from vlm_agent.runtime.play import PlaySession, run_headless
    from vlm_agent.cli.summary_view import print_summary

    with user_errors():
        env_id = resolve_env_id(env)
        config = LoopConfig(env_id=env_id, episodes=episodes, num_envs=num_envs, seed=seed, env_kwargs=_env_kwargs(env_id, alfworld_data, split))
        sampling = {"greedy": not sampled, "temperature": temperature, "top_p": 1.0, "max_new_tokens": max_new_tokens,
                    "constrain_actions": constrain_actions}
        agent = make_agent("vlm", model=model, seed=seed, prompt_variant=prompt, sampling=sampling)
        short = env_id.split("/")[-1].split("-")[0].lower()
        session = PlaySession(config, agent, log_dir, short, {"model": str(model) if model else None, "eval": True})
    summary = run_headless(session, console)
    summary["show_tasks"] = env_id.endswith("ALFWorld-v0")
    print_summary(console, summary, f"eval {env_id} · {agent.policy_version}")
    result = {
        "env_id": env_id,
        "model": str(model) if model else "default",
        "policy_version": agent.policy_version,
        "prompt": prompt,
        "row": row or default_row(agent.policy_version, prompt),
        "greedy": not sampled,
        "seed": seed,
        "command": "vlm-agent " + shlex.join(sys.argv[1:]),
        **summary,
    }
    path = out or Path("eval") / f"{short}-{agent.policy_version or 'model'}-{prompt}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, result)
    console.print(f"results: {path}")
    if summary.get("interrupted"):
        raise typer.Exit(130)


def default_row(policy_version: str | None, prompt: str) -> str:
    """The results-table row of a model when --row is not given: its version, and the prompt if not CoT."""
    return (policy_version or "model") + (", action-only" if prompt == "action-only" else "")
