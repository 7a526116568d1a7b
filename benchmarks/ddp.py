"""PPO update throughput under torchrun: samples/s with 2 data-parallel processes against 1, in one run.

Both runs go through `torch.distributed.run` on the same logs, model and settings; only the process
count differs. The machine's cores are shared fairly: one process gets all of them as threads,
two processes one share each (and, as a control, one process with one share). Timed: one PPO update (every rank between two barriers), not the
start-up or the publish.

    python benchmarks/ddp.py [--model DIR] [--episodes 8] [--minibatch-size 8]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def worker(args) -> None:
    """One rank of a timed update (run by torchrun)."""
    from vlm_agent.training import distributed
    from vlm_agent.training.finetune import PPOTrainer, read_logs
    from vlm_agent.training.ppo_config import PPOConfig

    config = PPOConfig(update_epochs=1, minibatch_size=args.minibatch_size, max_version_lag=99)
    trainer = PPOTrainer(args.model, args.root, config)
    episodes = read_logs([args.episode_dir], warn=lambda line: None)
    ranks = trainer.run.ranks
    distributed.barrier(ranks, "before the update")
    started = time.perf_counter()
    metrics = trainer.update(episodes)
    distributed.barrier(ranks, "after the update")
    seconds = time.perf_counter() - started
    if ranks.is_main:
        Path(args.result_file).write_text(json.dumps({"samples": metrics["samples"], "seconds": seconds, "world_size": ranks.world_size,
                                                 "first_ratio_error": metrics["first_minibatch"]["max_abs_ratio_minus_1"]}))


def timed(nproc: int, model: Path, logs: Path, work: Path, minibatch_size: int, threads: int) -> dict:
    result = work / f"result-{nproc}x{threads}.json"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), __file__, "--worker",
               "--model", str(model), "--episode-dir", str(logs), "--root", str(work / f"out-{nproc}x{threads}"), "--result-file", str(result),
               "--minibatch-size", str(minibatch_size)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "VLM_AGENT_THREADS": str(threads)}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return {**json.loads(result.read_text()), "threads_per_process": threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--episodes", type=int, default=8, help="NumberLine episodes the model plays for the batch")
    parser.add_argument("--minibatch-size", type=int, default=8)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--episode-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    from vlm_agent.runtime.agent_factory import default_model_dir

    model = args.model or default_model_dir()
    work = Path(tempfile.mkdtemp(prefix="ddp-bench-"))
    subprocess.run([sys.executable, "-m", "vlm_agent.cli.main", "play", "numberline", "--model", str(model), "--episodes",
                    str(args.episodes), "--num-envs", str(min(8, args.episodes)), "--headless", "--temperature", "1.0",
                    "--log-dir", str(work / "logs")], check=True, stdout=subprocess.DEVNULL)
    cores = len(os.sched_getaffinity(0))
    one = timed(1, model, work / "logs", work, args.minibatch_size, cores)
    two = timed(2, model, work / "logs", work, args.minibatch_size, max(1, cores // 2))
    # The control: one process with one rank's threads, to tell DDP's gain from the threads' loss.
    alone = timed(1, model, work / "logs", work, args.minibatch_size, max(1, cores // 2))
    for run in (one, two, alone):
        print(f"{run['world_size']} process(es) x {run['threads_per_process']} thread(s): {run['samples']} samples in "
              f"{run['seconds']:.1f} s = {run['samples'] / run['seconds']:.2f} samples/s (first ratio off by {run['first_ratio_error']:.1e})")
    ratio = (two["samples"] / two["seconds"]) / (one["samples"] / one["seconds"])
    print(f"2 DDP processes / 1 process: {ratio:.2f}x on {cores} cores "
          f"(1 process with {alone['threads_per_process']} thread(s): {(alone['samples'] / alone['seconds']) / (one['samples'] / one['seconds']):.2f}x)")


if __name__ == "__main__":
    main()
