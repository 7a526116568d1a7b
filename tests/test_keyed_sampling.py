"""Keyed sampling: exact samples of the tempered distribution, with noise owned by each decision's key."""
from __future__ import annotations

import dataclasses

import gymnasium as gym
import pytest
import torch

import vlm_agent.envs  # noqa: F401
from tiny_models import build_tiny
from vlm_agent.agent.keyed_sampling import KeyedGumbelSampler
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.runtime.observation import observation_from

LOGITS = torch.tensor([2.0, 1.0, 0.0, -1.0, -30.0])
PROMPT_LEN = 7


def draw(keys, logits=LOGITS, position=0, temperature=0.7, top_p=1.0, seed=3):
    sampler = KeyedGumbelSampler(keys, seed, PROMPT_LEN, temperature, top_p)
    input_ids = torch.zeros(len(keys), PROMPT_LEN + position, dtype=torch.long)
    return sampler(input_ids, logits.expand(len(keys), -1).clone()).argmax(-1)


def test_draws_follow_the_tempered_softmax():
    n = 6000
    counts = torch.bincount(draw([(k,) for k in range(n)]), minlength=len(LOGITS)).double() / n
    expected = torch.softmax(LOGITS.double() / 0.7, -1)
    # Binomial standard error is at most 0.0065 at n = 6000: 4 of them.
    assert torch.allclose(counts, expected, atol=0.026), (counts, expected)


def test_top_p_never_draws_a_token_outside_the_nucleus():
    drawn = set(draw([(k,) for k in range(2000)], temperature=1.0, top_p=0.7).tolist())
    assert drawn == {0, 1}  # softmax of LOGITS: 0.64, 0.24, ... so the 0.7 nucleus is the first two


def test_a_key_draws_the_same_in_any_batch_and_fresh_at_another_position():
    keys = [(100_000 + k, 0, 2) for k in range(64)]
    alone = torch.cat([draw([key]) for key in keys])
    assert torch.equal(draw(keys), alone)
    assert torch.equal(draw(list(reversed(keys))), alone.flip(0))
    assert not torch.equal(draw(keys, position=1), alone)  # each answer position has its own noise
    assert not torch.equal(draw(keys, seed=4), alone)  # and each policy seed


def test_keyless_rows_use_the_global_generator():
    torch.manual_seed(0)
    first = draw([()] * 64)
    torch.manual_seed(0)
    assert torch.equal(draw([()] * 64), first)
    assert not torch.equal(draw([()] * 64), first)


def test_zero_temperature_is_refused():
    with pytest.raises(ValueError, match="temperature"):
        KeyedGumbelSampler([(1,)], 0, PROMPT_LEN, 0.0)


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    model_dir = build_tiny("idefics3", tmp_path_factory.mktemp("idefics3"))
    return load_policy(model_dir, temperature=1.0, max_new_tokens=10, seed=5)


def numberline_observations(n: int):
    env = gym.make("vlm_agent/NumberLine-v0")
    return [observation_from("vlm_agent/NumberLine-v0", *env.reset(seed=seed)) for seed in range(n)]


def test_a_policy_answers_a_key_the_same_alone_or_batched_and_differently_for_other_keys(policy):
    obs = numberline_observations(4)
    keyed = [dataclasses.replace(o, sample_key=(o_index, 0, 0)) for o_index, o in enumerate(obs)]
    batched = [d.token_ids for d in policy.act(keyed)]
    alone = [policy.act([o])[0].token_ids for o in keyed]
    assert batched == alone
    torch.manual_seed(123)  # keyed rows must not depend on the global generator either
    assert [d.token_ids for d in policy.act(keyed)] == batched
    # The untrained tiny model samples near-uniform tokens: other keys give other answers.
    same_frame = [dataclasses.replace(obs[0], sample_key=(0, repeat, 0)) for repeat in range(4)]
    assert len({tuple(d.token_ids) for d in policy.act(same_frame)}) == 4
