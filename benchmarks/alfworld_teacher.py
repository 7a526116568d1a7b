"""Success of the ALFWorld teacher (`expert`) beside the privileged expert (`expert-privileged`), per task type.

    ALFWORLD_DATA=../shared/alfworld .venv/bin/python benchmarks/alfworld_teacher.py --split valid_seen
    .venv/bin/python benchmarks/alfworld_teacher.py --generated 100 --gen-seed 7 --split valid_unseen

Every game of the split is played once (seeds 0 .. n-1, as a rollout resets them), within the
environment's 50 steps. `--generated N` plays N games generated from the alfworld wheel for one
split and seed (cached under $VLM_AGENT_CACHE/alfworld-bench/); generation keeps only games the
privileged expert wins within 40 steps, which favours that expert. Rates carry 95% Wilson intervals.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from vlm_agent.agent.experts import ExpertAgent, PrivilegedExpertAgent, RankedExpertAgent, ShuffledExpertAgent
from vlm_agent.envs.alfworld.engine.games import TASK_TYPES, cache_root
from vlm_agent.envs.alfworld.env import ENV_ID, ALFWorldEnv
from vlm_agent.runtime.observation import observation_from
from vlm_agent.runtime.stats import wilson_interval

AGENTS = {"expert": ExpertAgent, "expert-ranked": RankedExpertAgent, "expert-shuffled": ShuffledExpertAgent,
          "expert-privileged": PrivilegedExpertAgent}


def generated_split(seed: int, split: str, count: int) -> Path:
    """A data folder with `count` generated games of one split (generated once, then cached)."""
    from vlm_agent.envs.alfworld.generation import generate

    root = cache_root() / "alfworld-bench" / f"seed{seed}-{split}-n{count}"
    if (root / "done").exists():
        return root
    slots = [generate.Slot(seed, split, index, TASK_TYPES[index % len(TASK_TYPES)]) for index in range(count)]
    temp = root.with_name(root.name + f".partial-{os.getpid()}")
    shutil.rmtree(temp, ignore_errors=True)
    started = time.time()
    for done, game in enumerate(generate._generate_all(slots), start=1):
        (temp / game.folder).mkdir(parents=True)
        (temp / game.folder / "game.tw-pddl").write_bytes(game.game)
        (temp / game.folder / "traj_data.json").write_bytes(game.traj)
        progress(f"generated {done}/{count} ({time.time() - started:.0f} s)", done == count)
    (temp / "done").write_text("")
    shutil.rmtree(root, ignore_errors=True)
    temp.rename(root)
    return root


def progress(line: str, last: bool) -> None:
    """One line redrawn on a terminal; in a log, only the last."""
    if sys.stdout.isatty():
        print(f"\r{line}", end="\n" if last else "", flush=True)
    elif last:
        print(line, flush=True)


def play(env: ALFWorldEnv, agent, seed: int) -> dict:
    frame, info = env.reset(seed=seed)
    steps, invalid = 0, 0
    while True:
        decision = agent.act([observation_from(ENV_ID, frame, info)])[0]
        frame, _, terminated, truncated, info = env.step(decision.parse.action if decision.parse.ok else "")
        steps += 1
        invalid += bool(info["invalid_action"])
        if terminated or truncated:
            return {"task_type": info["task_type"], "won": bool(info["won"]), "steps": steps, "invalid": invalid,
                    "game": info["game_file"]}


def summary(name: str, results: list[dict]) -> list[str]:
    def line(label: str, rows: list[dict]) -> str:
        wins = sum(r["won"] for r in rows)
        low, high = wilson_interval(wins, len(rows))
        steps = statistics.mean(r["steps"] for r in rows if r["won"]) if wins else float("nan")
        return (f"  {label:32s} {wins:3d}/{len(rows):<3d} {100 * wins / len(rows):5.1f}% "
                f"[{100 * low:5.1f}, {100 * high:5.1f}]  mean steps (won) {steps:5.1f}")
    by_type = defaultdict(list)
    for r in results:
        by_type[r["task_type"]].append(r)
    lines = [f"{name}:", line("all", results)]
    lines += [line(t, by_type[t]) for t in TASK_TYPES if by_type[t]]
    lines.append(f"  invalid actions: {sum(r['invalid'] for r in results)}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="valid_seen")
    parser.add_argument("--data", default=None, help="ALFWorld data folder (default: $ALFWORLD_DATA)")
    parser.add_argument("--games", type=int, default=0, help="play only the first N games (0: all)")
    parser.add_argument("--generated", type=int, default=0, help="play N generated games of --split instead")
    parser.add_argument("--gen-seed", type=int, default=7)
    parser.add_argument("--agents", default="expert,expert-privileged")
    parser.add_argument("--max-steps", type=int, default=50)
    parser.add_argument("--json", default=None, help="write every episode's result here")
    args = parser.parse_args()
    data = generated_split(args.gen_seed, args.split, args.generated) if args.generated else args.data
    env = ALFWorldEnv(split=args.split, data_dir=data, max_steps=args.max_steps, prefetch=0)
    count = min(args.games or len(env.games), len(env.games))
    source = f"generated games (seed {args.gen_seed})" if args.generated else "games"
    print(f"{args.split}: {count} {source}, at most {args.max_steps} steps")
    everything = {}
    for name in args.agents.split(","):
        agent, results, started = AGENTS[name](seed=0), [], time.time()
        for seed in range(count):
            results.append(play(env, agent, seed))
            progress(f"{name}: {seed + 1}/{count} ({time.time() - started:.0f} s)", seed + 1 == count)
        print("\n".join(summary(name, results)), flush=True)
        everything[name] = results
    env.close()
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1))


if __name__ == "__main__":
    main()
