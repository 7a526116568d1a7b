"""`vlm-agent eval`: greedy (or sampled) evaluation on fixed seeds, as a table and a JSON file.

`--protocol paper` decodes as the paper's reported runs did (sampled at temperature 0.2; keyed
sampling makes it reproducible per seed); `--protocol both` plays the same seeds greedily and then
so, and the JSON holds both figures.
"""
from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import typer

from vlm_agent.agent.device_config import TRAINING_ONLY, DeviceConfig
from vlm_agent.agent.sampling_config import SamplingConfig
from vlm_agent.cli.environment import EnvOptions
from vlm_agent.cli.options import Options, options_command
from vlm_agent.runtime.loop import LoopConfig


PROTOCOLS = ("as-given", "paper", "both")
EVAL_AGENTS = ("vlm", "expert", "expert-ranked", "expert-shuffled", "expert-privileged", "random")
PAPER_TEMPERATURE = 0.2  # the paper samples its reported episodes at 0.2 (shared/docs/rl4vlm.md)
DEFAULT_OUT_DIR = Path("eval")


@dataclass
class EvalOptions:
    model: Optional[Path] = field(default=None, metadata={"help": "Model folder or checkpoint root; default: the shipped model."})
    agent: str = field(default="vlm", metadata={
        "help": "vlm: the model; expert: the scripted expert (ALFWorld: the teacher that sees what the agent sees); "
                "expert-ranked and expert-shuffled: its variants with the search written out (the latter taking one "
                "kind's places in a scrambled order); expert-privileged: ALFWorld's handcoded expert, which reads the engine's facts; random.",
        "choices": EVAL_AGENTS})
    out: Optional[Path] = field(default=None, metadata={
        "help": "JSON file for the results; default eval/<env>-<version>-<prompt>[-paper-frames][-<protocol>].json."})
    log_dir: Path = field(default=Path("logs/eval"), metadata={"help": "Where the evaluated episodes are logged."})
    row: Optional[str] = field(default=None, metadata={
        "help": "Row title in docs/results.md (e.g. 'default-sft-v4, SFT + PPO'); default: the model's version."})
    protocol: str = field(default="as-given", metadata={
        "help": "as-given: one pass decoded as the options say (greedy by default); paper: the paper's sampling at "
                "temperature 0.2; both: a greedy pass, then a paper pass on the same seeds, both in the JSON.",
        "choices": PROTOCOLS})

    def __post_init__(self) -> None:
        if self.agent not in EVAL_AGENTS:
            raise ValueError(f"unknown agent {self.agent!r}; use one of {', '.join(EVAL_AGENTS)}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; use one of {', '.join(PROTOCOLS)}")


@options_command("eval", EnvOptions, EvalOptions, LoopConfig, SamplingConfig, DeviceConfig,
                 defaults={"episodes": 100, "num_envs": 8, "greedy": True}, flags={"greedy": "--greedy/--sampled"}, exclude=TRAINING_ONLY)
def evaluate(options: Options) -> None:
    """Evaluate a model: success rate with its 95% interval, per task type, invalid actions, length."""
    from vlm_agent.runtime.agent_factory import make_agent, model_path
    from vlm_agent.core.atomic import write_json_atomic
    from vlm_agent.core.write_errors import check_writable, writing
    from vlm_agent.cli.main import console, placement_of, user_errors
    from vlm_agent.runtime.play import PlaySession, run_headless
    from vlm_agent.runtime.records import constraint_flags
    from vlm_agent.cli.summary_view import print_summary

    with user_errors():
        where = options.build(EnvOptions)
        env_id = where.env_id()
        config = options.build(LoopConfig, env_id=env_id, env_kwargs=where.env_kwargs())
        eval_options = options.build(EvalOptions)
        protocol, kind = eval_options.protocol, eval_options.agent
        passes = decoding_passes(protocol, options.build(SamplingConfig))
        # Where the results go is checked before the model plays, not after the table is printed.
        check_writable(options.log_dir)
        check_writable(options.out.parent, naming=options.out) if options.out else check_writable(DEFAULT_OUT_DIR)
    short = env_id.split("/")[-1].split("-")[0].lower()
    protocols: dict[str, dict] = {}
    for name, sampling in passes:
        with user_errors():
            agent = make_agent(kind, model=options.model, seed=options.seed, sampling=sampling, placement=placement_of(options))
            session = PlaySession(config, agent, options.log_dir, short, {"model": str(model_path(options.model)) if kind == "vlm" else kind, "eval": True})
            summary = run_headless(session, console)
        summary["show_tasks"] = env_id.endswith("ALFWorld-v0")
        constrained, _ = constraint_flags(agent.sampling)  # as the policy resolved it (the model's own default, or the flag)
        avoided = bool(agent.sampling.get("avoid_repeats"))
        print_summary(console, summary, f"eval {env_id} · {agent.policy_version} · {describe_decoding(sampling)}"
                      + (", actions constrained" if constrained else "") + (", repeats avoided" if avoided else ""))
        knobs = {} if sampling.greedy else {"temperature": sampling.temperature, "top_p": sampling.top_p}
        protocols[name] = {"decoding": describe_decoding(sampling), "greedy": sampling.greedy, "constrained": constrained,
                           "repeats_avoided": avoided,
                           **knobs, **summary}
        if summary.get("interrupted"):
            break
    first_name, first = passes[0]
    summary = protocols[first_name]
    result = {
        "env_id": env_id,
        "model": (str(options.model) if options.model else "default") if kind == "vlm" else kind,
        "agent": kind,
        "policy_version": agent.policy_version,
        "prompt": first.prompt,
        "row": options.row or default_row(agent.policy_version or (kind if kind != "vlm" else None), first.prompt, where.render)
        + (f", memory {where.memory}" if env_id.endswith("ALFWorld-v0") and where.memory != "ranked" else ""),
        "render": where.render,
        **({"memory": where.memory} if env_id.endswith("ALFWorld-v0") else {}),
        "split": where.split_label() if env_id.endswith("ALFWorld-v0") else f"seeds {options.seed}-{options.seed + config.starts - 1}",
        "protocol": protocol,
        "seed": options.seed,
        "command": "vlm-agent " + shlex.join(sys.argv[1:]),
        **summary,
        "protocols": protocols,
    }
    suffix = ("" if where.render == "clear" else f"-{where.render}-frames") + ("" if protocol == "as-given" else f"-{protocol}")
    path = options.out or DEFAULT_OUT_DIR / f"{short}-{agent.policy_version or (kind if kind != 'vlm' else 'model')}-{first.prompt}{suffix}.json"
    with user_errors():
        with writing(path.parent):
            path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, result)
    console.print(f"results: {path}")
    if any(p.get("interrupted") for p in protocols.values()) or len(protocols) < len(passes):
        raise typer.Exit(130)


def decoding_passes(protocol: str, sampling: SamplingConfig) -> list[tuple[str, SamplingConfig]]:
    """The (name, decoding) of each pass a protocol plays, in order; the first is the JSON's top-level figure."""
    paper = replace(sampling, greedy=False, temperature=PAPER_TEMPERATURE, top_p=1.0)
    if protocol == "paper":
        return [("paper", paper)]
    if protocol == "both":
        return [("greedy", replace(sampling, greedy=True)), ("paper", paper)]
    return [("greedy" if sampling.greedy else "sampled", sampling)]


def describe_decoding(sampling: SamplingConfig) -> str:
    """How the answers were decoded, in words for the results table: "greedy" or "sampled, temperature 0.2"."""
    if sampling.greedy:
        return "greedy"
    return f"sampled, temperature {sampling.temperature:g}" + (f", top-p {sampling.top_p:g}" if sampling.top_p < 1.0 else "")


def default_row(policy_version: str | None, prompt: str, render: str = "clear") -> str:
    """The results-table row of a model when --row is not given: its version, the prompt if not CoT, paper frames."""
    row = (policy_version or "model") + ("" if prompt == "cot" else f", {prompt} prompt" if prompt.startswith("paper") else f", {prompt}")
    return row + (", paper frames" if render == "paper" else "")
