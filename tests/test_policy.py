"""The VLM policy on three architectures: acting, re-scoring, masks, streaming, loading errors."""
from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import vlm_agent.envs  # noqa: F401
from tiny_models import ARCHITECTURES, build_tiny
from vlm_agent.agent.model_loading import ModelLoadError, load_vlm
from vlm_agent.agent.parsing import parse_action
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.agent.token_masks import generated_offsets, masks_from_offsets, text_offsets
from vlm_agent.agent.tokenizer_training import train_tokenizer
from vlm_agent.runtime.observation import observation_from

ANSWER = '{"thoughts": "The cabinet 1 is empty, try cabinet 10.", "action": "go to cabinet 10"}'
LEGAL = ["go to cabinet 1", "go to cabinet 10", "look"]


@pytest.fixture(scope="module", params=ARCHITECTURES)
def model_dir(request, tmp_path_factory):
    return build_tiny(request.param, tmp_path_factory.mktemp(request.param))


def observations(env_id="vlm_agent/EZPoints-v0", n=3):
    env = gym.make(env_id)
    obs = []
    for seed in range(n):
        frame, info = env.reset(seed=seed)
        obs.append(observation_from(env_id, frame, info))
    return obs


def test_act_logprobs_match_evaluate_with_left_padding(model_dir):
    policy = load_policy(model_dir, temperature=1.0, max_new_tokens=12, seed=1)
    obs = observations("vlm_agent/EZPoints-v0", 2) + observations("vlm_agent/NumberLine-v0", 2)  # prompts of different lengths
    decisions = policy.act(obs)
    evaluation = policy.evaluate([o.frame for o in obs], [d.prompt for d in decisions], [d.token_ids for d in decisions])
    for row, decision in enumerate(decisions):
        n = len(decision.token_ids)
        assert n == len(decision.logprobs) == len(decision.cot_mask) == len(decision.action_mask)
        assert torch.allclose(evaluation.token_logprobs[row, :n], torch.tensor(decision.logprobs), atol=1e-4)
        assert evaluation.response_mask[row].sum() == n
        assert abs(float(evaluation.values[row]) - decision.value) < 1e-4
    assert torch.all(evaluation.entropy[evaluation.response_mask] > 0)


def test_action_mask_covers_exactly_the_action_value_tokens(model_dir):
    policy = load_policy(model_dir)
    ids, _ = text_offsets(policy.tokenizer, ANSWER)
    text, offsets = generated_offsets(policy.tokenizer, ids + [min(policy.eos_ids)])
    assert text == ANSWER
    parse = parse_action(text, LEGAL)
    cot, action = masks_from_offsets(offsets, parse.span)
    action_ids = [t for t, a in zip(ids, action) if a]
    assert policy.tokenizer.decode(action_ids).strip() == "go to cabinet 10"
    assert cot[-1] and not action[-1]  # the end token belongs to the CoT part
    assert all(c != a for c, a in zip(cot, action))


def test_two_tokenizers_mask_the_same_characters():
    coarse = train_tokenizer([ANSWER] * 50 + ["go to cabinet 10 go to"] * 50, vocab_size=600)
    fine = train_tokenizer(["a b c"], vocab_size=270)  # little more than single bytes
    span = parse_action(ANSWER, LEGAL).span
    covered = []
    for tokenizer in (coarse, fine):
        ids, offsets = text_offsets(tokenizer, ANSWER)
        _, action = masks_from_offsets(offsets, span)
        chars = set()
        for (start, end), is_action in zip(offsets, action):
            if is_action:
                chars.update(range(start, end))
        covered.append(chars)
        assert len(ids) > 0
    assert covered[0] == covered[1] == set(range(*span))
    assert len(text_offsets(coarse, ANSWER)[0]) < len(text_offsets(fine, ANSWER)[0])


def test_streaming_hook_sees_the_answer_grow(model_dir):
    policy = load_policy(model_dir, temperature=1.0, max_new_tokens=8, seed=3)
    seen: list[list[str]] = []
    policy.stream_callback = seen.append
    obs = observations(n=2)
    decisions = policy.act(obs)
    assert len(seen) == max(len(d.token_ids) for d in decisions)
    assert all(len(partials) == 2 for partials in seen)
    assert [seen[-1][row] for row in range(2)] == [d.text for d in decisions]


def test_sampling_is_seeded_and_greedy_is_deterministic(model_dir):
    obs = observations(n=2)
    first = [d.token_ids for d in load_policy(model_dir, temperature=1.0, max_new_tokens=8, seed=5).act(obs)]
    second = [d.token_ids for d in load_policy(model_dir, temperature=1.0, max_new_tokens=8, seed=5).act(obs)]
    assert first == second
    greedy = load_policy(model_dir, greedy=True, max_new_tokens=8)
    assert [d.token_ids for d in greedy.act(obs)] == [d.token_ids for d in greedy.act(obs)]


def test_save_and_reload_keeps_weights_and_value_head(model_dir, tmp_path):
    policy = load_policy(model_dir, greedy=True, max_new_tokens=6)
    with torch.no_grad():
        policy.value_head.mlp[-1].bias.fill_(3.5)
    policy.save_pretrained(tmp_path / "copy")
    again = load_policy(tmp_path / "copy", greedy=True, max_new_tokens=6)
    obs = observations(n=1)
    a, b = policy.act(obs)[0], again.act(obs)[0]
    assert a.token_ids == b.token_ids and abs(a.value - b.value) < 1e-5


def test_loading_errors_are_one_line(tmp_path, model_dir):
    with pytest.raises(ModelLoadError, match="no such model folder"):
        load_vlm(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_vlm(tmp_path / "empty")
    from transformers import LlamaConfig, LlamaForCausalLM

    LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)).save_pretrained(tmp_path / "text-only")
    with pytest.raises(ModelLoadError, match="not a vision-language"):
        load_vlm(tmp_path / "text-only")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for path in model_dir.iterdir():
        (corrupt / path.name).write_bytes(path.read_bytes())
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelLoadError) as error:
        load_vlm(corrupt)
    assert "\n" not in str(error.value)
