"""Cost of constrained action decoding: batched `act` on ALFWorld observations, free vs constrained,
and of PPO's re-scoring (`evaluate`) of the constrained answers, raw vs renormalised over the mask.

ALFWorld has the most legal actions per step (often 30-60 admissible commands), so it is where the
per-token mask costs most. Same model, same observations, greedy decoding; the two settings take
turns so that load on the machine hits both alike. Printed: seconds per batch, their ratios, and the
share of answers whose action parsed as legal.

    python benchmarks/constrained_decoding.py [--model DIR] [--envs 8] [--repeats 3] [--max-new-tokens 96]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported, or it has no effect

import gymnasium as gym
import torch

import vlm_agent.envs  # noqa: F401  (registers the environments)
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.runtime.agent_factory import default_model_dir
from vlm_agent.runtime.observation import observation_from

ENV_ID = "vlm_agent/ALFWorld-v0"


def observations(count: int) -> list:
    env = gym.make(ENV_ID)
    found = []
    for seed in range(count):
        frame, info = env.reset(seed=seed)
        found.append(observation_from(ENV_ID, frame, info))
    env.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_dir())
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    args = parser.parse_args()

    obs = observations(args.envs)
    free = load_policy(args.model, greedy=True, max_new_tokens=args.max_new_tokens, constrain_actions=False)
    constrained = load_policy(args.model, greedy=True, max_new_tokens=args.max_new_tokens, constrain_actions=True)
    constrained.act(obs[:1])  # builds the token table once, as a long run would
    seconds = {"free": [], "constrained": []}
    legal = {"free": 0, "constrained": 0}
    for _ in range(args.repeats):
        for name, policy in (("free", free), ("constrained", constrained)):
            started = time.perf_counter()
            decisions = policy.act(obs)
            seconds[name].append(time.perf_counter() - started)
            legal[name] += sum(d.parse.ok for d in decisions)
    scored = ([o.frame for o in obs], [d.prompt for d in decisions], [d.token_ids for d in decisions])
    rescoring = {"raw": [], "masked": []}
    for _ in range(args.repeats):
        for name, legal_actions in (("raw", None), ("masked", [list(o.legal_actions) for o in obs])):
            started = time.perf_counter()
            with torch.no_grad():
                constrained.evaluate(*scored, legal_actions)
            rescoring[name].append(time.perf_counter() - started)
    legal_counts = [len(o.legal_actions) for o in obs]
    print(f"{args.envs} ALFWorld observations ({min(legal_counts)}-{max(legal_counts)} legal actions), "
          f"greedy, {args.max_new_tokens} new tokens at most, {args.repeats} repeats, model {args.model}")
    for name in seconds:
        best = min(seconds[name])
        print(f"{name:>12}: {best:.2f} s per batch (best of {args.repeats}), "
              f"legal actions {legal[name]}/{args.envs * args.repeats}")
    print(f"constrained / free time: {min(seconds['constrained']) / min(seconds['free']):.2f}x")
    print(f"re-scoring the constrained answers (evaluate, no grad): raw {min(rescoring['raw']):.3f} s, "
          f"renormalised over the mask {min(rescoring['masked']):.3f} s, "
          f"ratio {min(rescoring['masked']) / min(rescoring['raw']):.2f}x")


if __name__ == "__main__":
    main()
