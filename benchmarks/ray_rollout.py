"""Env steps/s on ALFWorld: today's in-process loop against 1 and 2 Ray rollout workers, ratios in one run.

    .venv/bin/python benchmarks/ray_rollout.py [--data DIR] [--agent expert] [--num-envs 2] [--seconds 30]

Every configuration plays the same way: `--num-envs` environments per loop, driven by `--agent`
(the handcoded expert by default, so that it measures environment stepping: reset, step, frame,
prompt, episode log; `--agent vlm` plays the shipped model instead), logging every episode as
`play` does. The in-process loop is `play`'s PlaySession stepped here; a Ray worker is the same
session in an actor with 1 CPU. The window opens once every worker is built (Ray's start-up, the
imports and the model load are not in it) and lasts `--seconds`; a worker's steps are its loop's.
Each configuration starts with an empty game cache (games translated at first sight, with the
default prefetching), so none profits from another's translations. Wall clock, on whatever else
the machine runs: the load average is printed with each line.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from vlm_agent.agent.sampling_config import SamplingConfig
from vlm_agent.envs.alfworld.engine.games import CACHE_ENV
from vlm_agent.runtime.loop import LoopConfig
from vlm_agent.runtime.rollout_workers import WorkerPool, WorkersConfig, WorkerSpec

ENV = "vlm_agent/ALFWorld-v0"


def fresh_cache() -> None:
    """An empty game cache for the next configuration (Ray workers inherit it from the Ray this process starts)."""
    os.environ[CACHE_ENV] = tempfile.mkdtemp(prefix="ray-rollout-bench-cache-")


def in_process(spec: WorkerSpec, seconds: float) -> float:
    """Today's loop: one PlaySession stepped in this process for `seconds`; env steps/s."""
    from vlm_agent.runtime.agent_factory import make_agent
    from vlm_agent.runtime.play import PlaySession

    os.environ.setdefault("VLM_AGENT_THREADS", "1")  # what a 1-CPU worker gets
    agent = make_agent(spec.agent, model=spec.model, seed=spec.loop.seed, sampling=spec.sampling)
    session = PlaySession(spec.loop, agent, spec.folder, "alfworld")
    started = time.perf_counter()
    while time.perf_counter() - started < seconds and session.loop.step():
        pass
    elapsed = time.perf_counter() - started
    session.finish()
    return session.stats.steps / elapsed


def on_ray(spec: WorkerSpec, workers: int, seconds: float) -> float:
    """`workers` Ray workers (a local Ray of its own) playing together for `seconds`; their env steps/s together."""
    pool = WorkerPool(spec, WorkersConfig(rollout_workers=workers, worker_cpus=1.0, worker_restarts=0))
    try:
        reports = pool.run_for(seconds)
    finally:
        pool.close()
    return sum(r.env_steps for r in reports) / max(r.seconds for r in reports)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=os.environ.get("ALFWORLD_DATA"),
                        help="ALFWorld data folder (default $ALFWORLD_DATA, else generated games)")
    parser.add_argument("--split", default="valid_seen")
    parser.add_argument("--agent", default="expert", choices=("expert", "random", "vlm"))
    parser.add_argument("--num-envs", type=int, default=2, help="environments per loop (in-process, and each worker)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-new-tokens", type=int, default=64, help="with --agent vlm")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over the configurations (the median is kept)")
    parser.add_argument("--ray-niceness", type=int, default=0,
                        help="nice value of the Ray workers (Ray's own default is 15; `train` starts its local Ray with 0)")
    args = parser.parse_args()

    os.environ["RAY_worker_niceness"] = str(args.ray_niceness)
    env_kwargs = {"split": args.split, **({"data_dir": str(args.data)} if args.data else {})}
    loop = LoopConfig(ENV, num_envs=args.num_envs, env_kwargs=env_kwargs)
    sampling = SamplingConfig(max_new_tokens=args.max_new_tokens)
    print(f"ALFWorld {args.split} ({args.data or 'generated games'}), agent {args.agent}, {args.num_envs} envs per loop, "
          f"{args.seconds:g} s each, {len(os.sched_getaffinity(0))} cores, Ray workers at nice {args.ray_niceness}")
    configurations = [("in-process loop", 0), ("1 Ray worker", 1), ("2 Ray workers", 2)]
    rates: dict[str, list[float]] = {name: [] for name, _ in configurations}
    for round_ in range(args.rounds):
        # Rounds alternate the order, so a change in the machine's load does not favour one configuration.
        for name, workers in configurations if round_ % 2 == 0 else configurations[::-1]:
            fresh_cache()
            folder = Path(tempfile.mkdtemp(prefix="ray-rollout-bench-logs-"))
            spec = WorkerSpec(loop=loop, folder=folder, agent=args.agent, sampling=sampling)
            rate = in_process(spec, args.seconds) if workers == 0 else on_ray(spec, workers, args.seconds)
            rates[name].append(rate)
            print(f"round {round_ + 1} {name:>16}: {rate:6.2f} env steps/s   (load average {os.getloadavg()[0]:.1f})", flush=True)
    median = {name: statistics.median(values) for name, values in rates.items()}
    base = median["in-process loop"]
    print("median env steps/s: " + ", ".join(f"{name} {rate:.2f}" for name, rate in median.items()))
    print("ratios to the in-process loop: " + ", ".join(f"{name} {rate / base:.2f}x" for name, rate in median.items() if name != "in-process loop"))


if __name__ == "__main__":
    main()
