"""Rollout speed: batched `act` over 8 environments vs the reference implementation's scheme.

The reference (RL4VLM's release) steps one environment at a time and, after generating, runs a
second full forward pass over prompt + answer to get the log-probs. Ours generates for all
environments in one batched call and reads log-probs from generation's own logits. Same model,
same sampling settings, same machine, one run; printed as env steps/s and their ratio.

    python benchmarks/rollout.py [--model DIR] [--env numberline] [--steps 6]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gymnasium as gym
import torch

import vlm_agent.envs  # noqa: F401
from vlm_agent.agent.policy import VLMPolicy
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.envs import resolve_env_id
from vlm_agent.runtime.observation import observation_from


def default_model() -> Path:
    from vlm_agent.runtime.agent_factory import default_model_dir

    shipped = default_model_dir()
    if (shipped / "config.json").exists():
        return shipped
    from vlm_agent.runtime.corpus import expert_texts
    from vlm_agent.agent.model_init import init_model

    return init_model(Path(tempfile.mkdtemp()) / "model", expert_texts(episodes=5))


def run(policy: VLMPolicy, env_id: str, num_envs: int, steps: int, batched: bool) -> float:
    """Env steps per second over `steps` rounds of `num_envs` environments."""
    envs = [gym.make(env_id) for _ in range(num_envs)]
    obs = [observation_from(env_id, *env.reset(seed=k)) for k, env in enumerate(envs)]
    done_steps = 0
    started = time.perf_counter()
    for _ in range(steps):
        if batched:
            decisions = policy.act(obs)
        else:
            decisions = []
            for o in obs:  # one environment at a time, then a second pass for the log-probs
                decision = policy.act([o])[0]
                with torch.no_grad():
                    policy.evaluate([o.frame], [decision.prompt], [decision.token_ids])
                decisions.append(decision)
        for k, (env, decision) in enumerate(zip(envs, decisions)):
            action = decision.parse.action or env.unwrapped.np_random.choice(obs[k].legal_actions)
            frame, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                frame, info = env.reset(seed=1000 + done_steps + k)
            obs[k] = observation_from(env_id, frame, info)
        done_steps += num_envs
    return done_steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--env", default="numberline")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()
    model = args.model or default_model()
    policy = load_policy(model, temperature=0.2, max_new_tokens=args.max_new_tokens, seed=0)
    env_id = resolve_env_id(args.env)
    run(policy, env_id, args.num_envs, 1, batched=True)  # warm-up
    ours = run(policy, env_id, args.num_envs, args.steps, batched=True)
    reference = run(policy, env_id, args.num_envs, args.steps, batched=False)
    print(f"model {model}, {env_id}, {args.num_envs} envs, {args.steps} rounds, torch threads {torch.get_num_threads()}")
    print(f"reference scheme (one env at a time + second pass): {reference:7.2f} env steps/s")
    print(f"vlm-agent batched act (log-probs from generation):  {ours:7.2f} env steps/s")
    print(f"ratio: {ours / reference:.2f}x")


if __name__ == "__main__":
    main()
