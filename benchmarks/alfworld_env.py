"""Reset and step times: vlm_agent/ALFWorld-v0 against alfworld's stock AlfredTWEnv, same games, one run.

    .venv/bin/python benchmarks/alfworld_env.py [--data DIR] [--split valid_seen] [--games 20] [--steps 20]

Both engines play each game once, driven by the fixed handcoded expert (at most --steps steps); the
games are the first --games of the split in seed order, and ours resets with seeds 0, 1, 2, ... as
a rollout does. The stock engine reads upgraded copies of the games (written to a temp folder:
alfworld 0.4.2 cannot play the old grammar); ours reads the originals. Ours is timed four times:
- "first sight": every cache empty and no prefetching: the cold cost of a game, all paid at reset;
- "disk cache": a new process meeting games translated before (the memory cache is cleared);
- "again": a second episode of each game in the same process, as when games recur in training;
- "rollout, prefetch": every cache empty again, with the default prefetching: the reset latency a
  rollout sees when the next games are translated in a worker process while the expert plays.
  The first reset has nothing prefetched; the steps share the CPU with the worker.
Wall clock, on whatever else the machine runs.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import gymnasium as gym

import vlm_agent.envs  # noqa: F401  (registers the environments)
from vlm_agent.envs.alfworld.engine.expert import apply_expert_fix
from vlm_agent.envs.alfworld.engine import grounding
from vlm_agent.envs.alfworld.engine.games import CACHE_ENV, GameEntry, current_game_json

TARGET_RESET_S, TARGET_STEP_S = 0.25, 0.050


def pick(games: list[GameEntry], count: int) -> list[GameEntry]:
    """The games of seeds 0 .. count-1 (the split's fixed shuffled order mixes the task types)."""
    return games[:count]


def upgraded_copies(games: list[GameEntry], folder: Path) -> None:
    """The games as alfworld 0.4.2 expects them: the wheel's domain and grammar written in."""
    for k, game in enumerate(games):
        trial = folder / "json_2.1.1" / "bench" / game.game_file.parent.parent.name / f"trial_{k}"
        trial.mkdir(parents=True)
        (trial / "game.tw-pddl").write_text(json.dumps(current_game_json(game.game_file)))
        (trial / "traj_data.json").write_bytes((game.game_file.parent / "traj_data.json").read_bytes())


def time_stock(folder: Path, episodes: int, steps: int) -> tuple[list[float], list[float]]:
    from alfworld.agents.environment import get_environment

    config = {
        "env": {"type": "AlfredTWEnv", "goal_desc_human_anns_prob": 0, "task_types": [1, 2, 3, 4, 5, 6],
                "domain_randomization": False, "expert_type": "handcoded"},
        "dataset": {"data_path": str(folder / "json_2.1.1"), "eval_id_data_path": "", "eval_ood_data_path": "",
                    "num_train_games": -1, "num_eval_games": -1},
        "logic": {"domain": "", "grammar": ""},
        "general": {"training_method": "dagger"},
        "dagger": {"training": {"max_nb_steps_per_episode": 50}},
    }
    env = get_environment("AlfredTWEnv")(config, train_eval="train").init_env(batch_size=1)
    resets, step_times = [], []
    try:
        for _ in range(episodes):  # the stock env cycles through every game once in a shuffled order
            started = time.perf_counter()
            _, infos = env.reset()
            resets.append(time.perf_counter() - started)
            for _ in range(steps):
                started = time.perf_counter()
                _, _, dones, infos = env.step([infos["extra.expert_plan"][0][0]])
                step_times.append(time.perf_counter() - started)
                if dones[0]:
                    break
    finally:
        env.close()
    return resets, step_times


def time_ours(env, games: list[GameEntry], steps: int) -> tuple[list[float], list[float]]:
    """A rollout: reset with seeds 0, 1, ... (game k of the split), then the expert's steps."""
    resets, step_times = [], []
    for seed, game in enumerate(games):
        started = time.perf_counter()
        _, info = env.reset(seed=seed)
        resets.append(time.perf_counter() - started)
        assert info["game_file"] == str(game.game_file)
        for _ in range(steps):
            started = time.perf_counter()
            _, _, terminated, truncated, info = env.step(info["state"]["expert_action"] or "look")
            step_times.append(time.perf_counter() - started)
            if terminated or truncated:
                break
    return resets, step_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="ALFWorld data folder (default: $ALFWORLD_DATA, else generated)")
    parser.add_argument("--split", default="valid_seen")
    parser.add_argument("--games", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20, help="steps per episode at most")
    args = parser.parse_args()
    apply_expert_fix()  # the stock expert gets the same fix, so both engines see the same trajectories
    cold_cache = os.environ[CACHE_ENV] = tempfile.mkdtemp(prefix="alfworld-bench-cache-")  # "first sight" means it
    env = gym.make("vlm_agent/ALFWorld-v0", data_dir=args.data, split=args.split, prefetch=0)
    games = pick(env.unwrapped.games, args.games)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="alfworld-bench-") as scratch:
        upgraded_copies(games, Path(scratch))
        rows["stock AlfredTWEnv"] = time_stock(Path(scratch), len(games), args.steps)
    rows["vlm_agent, first sight"] = time_ours(env.unwrapped, games, args.steps)
    grounding._MEMORY.clear()
    rows["vlm_agent, disk cache"] = time_ours(env.unwrapped, games, args.steps)
    rows["vlm_agent, again"] = time_ours(env.unwrapped, games, args.steps)
    env.close()
    grounding._MEMORY.clear()
    rollout_cache = os.environ[CACHE_ENV] = tempfile.mkdtemp(prefix="alfworld-bench-cache-")
    env = gym.make("vlm_agent/ALFWorld-v0", data_dir=args.data, split=args.split)  # default prefetching
    rows["vlm_agent, rollout, prefetch"] = time_ours(env.unwrapped, games, args.steps)
    env.close()
    for folder in (cold_cache, rollout_cache):
        shutil.rmtree(folder, ignore_errors=True)
    stock_reset, stock_step = (statistics.median(t) for t in rows["stock AlfredTWEnv"])
    print(f"{len(games)} games of {args.split} (seeds 0-{len(games) - 1}), up to {args.steps} expert steps each")
    print(f"{'engine':30s} {'reset median':>12s} {'reset p90':>10s} {'step median':>12s} {'reset x':>8s} {'step x':>8s}")
    for name, (resets, step_times) in rows.items():
        reset, step = statistics.median(resets), statistics.median(step_times)
        p90 = statistics.quantiles(resets, n=10)[-1]
        print(f"{name:30s} {reset:11.3f}s {p90:9.3f}s {step * 1000:10.1f}ms "
              f"{stock_reset / reset:7.1f}x {stock_step / step:7.1f}x")
    print("first sight = the cold per-game cost, paid at reset; rollout, prefetch = the reset latency a rollout sees")
    print(f"targets: reset <= {TARGET_RESET_S}s, step <= {TARGET_STEP_S * 1000:.0f}ms (median)")


if __name__ == "__main__":
    main()
