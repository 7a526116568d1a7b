"""How many recent steps the ALFWorld prompt should carry: aliasing against prompt length.

    .venv/bin/python benchmarks/alfworld_history.py [--data DIR] [--split valid_train] [--games 60]

A memoryless policy sees the frame, the text observation and the admissible commands. When an
episode shows it the same input twice and the expert (whose episodes are the SFT data) answers
differently, no policy of that input can imitate both: the step is aliased. For each history
length k this counts the aliased steps of expert episodes and the mean prompt length; the default
is the smallest k after which more history removes almost no aliasing.
"""
from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

import gymnasium as gym

import vlm_agent.envs  # noqa: F401  (registers the environments)
from vlm_agent.agent.prompts import build_prompt
from vlm_agent.runtime.observation import observation_from

ENV_ID = "vlm_agent/ALFWorld-v0"
LENGTHS = (0, 1, 2, 3, 4, 6)


def expert_episode(env, seed: int) -> list[tuple[dict, object, str]]:
    """(info, view, expert action) per step of one expert episode, with the longest history kept."""
    frame, info = env.reset(seed=seed)
    steps = []
    for _ in range(env.unwrapped.max_steps):
        action = info["state"]["expert_action"] or info["legal_actions"][0]
        steps.append((info, env.unwrapped.view(), action))
        frame, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    return steps


def measure(episodes: list[list[tuple[dict, object, str]]], k: int) -> tuple[float, float]:
    """(fraction of aliased steps, mean prompt characters) with a history of k steps."""
    aliased = total = 0
    chars = []
    for steps in episodes:
        answers = defaultdict(set)
        keys = []
        for info, view, action in steps:
            history = tuple(info["history"][-k:]) if k else ()
            key = (view, info["text"], tuple(info["legal_actions"]), history)
            answers[key].add(action)
            keys.append(key)
            obs = observation_from(ENV_ID, None, {**info, "history": list(history)})
            chars.append(len(build_prompt(obs)))
        aliased += sum(len(answers[key]) > 1 for key in keys)
        total += len(keys)
    return aliased / total, statistics.mean(chars)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--split", default="valid_train")
    parser.add_argument("--games", type=int, default=60)
    args = parser.parse_args()
    env = gym.make(ENV_ID, data_dir=args.data, split=args.split, history_length=max(LENGTHS))
    episodes = [expert_episode(env, seed) for seed in range(min(args.games, len(env.unwrapped.games)))]
    print(f"{len(episodes)} expert episodes, {sum(map(len, episodes))} steps")
    print(f"{'history':>7s} {'aliased steps':>14s} {'prompt chars':>13s}")
    for k in LENGTHS:
        rate, chars = measure(episodes, k)
        print(f"{k:7d} {rate:13.1%} {chars:13.0f}")


if __name__ == "__main__":
    main()
