"""Cost of keyed sampling: `generate` with KeyedGumbelSampler vs transformers' own multinomial sampling.

Same model, prompts, temperature and answer length (min = max new tokens, so both make the same
number of decoding steps); printed as seconds per batched call and their ratio, in one run.

    python benchmarks/keyed_sampling.py [--model DIR] [--num-envs 16] [--tokens 64] [--calls 5]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import gymnasium as gym
import torch
from rollout import default_model
from transformers import LogitsProcessorList

import vlm_agent.envs  # noqa: F401
from vlm_agent.agent.keyed_sampling import KeyedGumbelSampler
from vlm_agent.agent.policy import VLMPolicy
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.agent.prompts import build_prompt
from vlm_agent.agent.vlm_inputs import prompt_inputs
from vlm_agent.runtime.observation import observation_from

TEMPERATURE = 0.5


def seconds_of_call(policy: VLMPolicy, inputs: dict, tokens: int, call: int, keyed: bool) -> float:
    options = dict(max_new_tokens=tokens, min_new_tokens=tokens, pad_token_id=policy.pad_id, output_logits=True,
                   output_hidden_states=True, return_dict_in_generate=True)
    rows, prompt_len = inputs["input_ids"].shape
    started = time.perf_counter()
    if keyed:
        sampler = KeyedGumbelSampler([(call, row, 0) for row in range(rows)], 0, prompt_len, TEMPERATURE)
        policy.model.generate(**inputs, **options, do_sample=False, temperature=None, top_p=None, top_k=None,
                              logits_processor=LogitsProcessorList([sampler]))
    else:
        policy.model.generate(**inputs, **options, do_sample=True, temperature=TEMPERATURE, top_p=1.0, top_k=0)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--calls", type=int, default=5)
    args = parser.parse_args()
    model = args.model or default_model()
    policy = load_policy(model)
    env_id = "vlm_agent/NumberLine-v0"
    env = gym.make(env_id)
    obs = [observation_from(env_id, *env.reset(seed=k)) for k in range(args.num_envs)]
    inputs = prompt_inputs(policy.processor, [o.frame for o in obs], [build_prompt(o, policy.prompt_variant) for o in obs])
    with torch.no_grad():
        seconds_of_call(policy, inputs, args.tokens, -1, keyed=True)  # warm-up
        # Alternate so drift in the machine's speed hits both alike.
        baseline, keyed = [], []
        for call in range(args.calls):
            baseline.append(seconds_of_call(policy, inputs, args.tokens, call, keyed=False))
            keyed.append(seconds_of_call(policy, inputs, args.tokens, call, keyed=True))
    base, ours = sum(baseline) / len(baseline), sum(keyed) / len(keyed)
    print(f"model {model}, {args.num_envs} rows x {args.tokens} tokens, {args.calls} calls each, torch threads {torch.get_num_threads()}")
    print(f"transformers multinomial sampling: {base:6.3f} s per call")
    print(f"keyed Gumbel sampling:             {ours:6.3f} s per call")
    print(f"ratio (keyed / multinomial): {ours / base:.2f}x")


if __name__ == "__main__":
    main()
