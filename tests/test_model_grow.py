"""`vlm-agent model grow`: a deeper text decoder that computes what the original did, and whose new blocks train."""
from __future__ import annotations

import json

import gymnasium as gym
import pytest
import torch
from typer.testing import CliRunner

import vlm_agent.envs  # noqa: F401
from tiny_models import build_tiny
from vlm_agent.agent.model_growth import block_sources, grow_depth
from vlm_agent.agent.policy import VLMPolicy
from vlm_agent.agent.prompts import build_prompt
from vlm_agent.agent.value_head import ValueHead
from vlm_agent.agent.vlm_inputs import prompt_inputs
from vlm_agent.cli.main import app
from vlm_agent.runtime.checkpoints import META, CheckpointStore, load_policy
from vlm_agent.runtime.observation import observation_from

runner = CliRunner()


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """A tiny Idefics3 model (2 decoder layers) with a value head, as a trained model folder holds one."""
    folder = build_tiny("idefics3", tmp_path_factory.mktemp("models") / "original", seed=1)
    with torch.random.fork_rng():
        torch.manual_seed(2)
        ValueHead(32, (16,)).save(folder)
    return folder


@pytest.fixture(scope="module")
def grown(original, tmp_path_factory):
    out = tmp_path_factory.mktemp("grown") / "grown"
    result = runner.invoke(app, ["model", "grow", str(original), "--out", str(out), "--layers", "4", "--version", "deep"])
    assert result.exit_code == 0, result.output
    assert "grown from 2 to 4 layers" in result.output
    return out


def observations(n=2):
    obs = []
    for env_id in ("vlm_agent/EZPoints-v0", "vlm_agent/NumberLine-v0"):  # prompts of different lengths: left padding
        env = gym.make(env_id)
        for seed in range(n // 2):
            frame, info = env.reset(seed=seed)
            obs.append(observation_from(env_id, frame, info))
    return obs


def test_new_blocks_follow_each_layer_spread_evenly():
    assert block_sources(4, 8) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert block_sources(4, 6) == [0, 1, 1, 2, 3, 3]  # LLaMA Pro: one copy closing each group of 2
    assert block_sources(2, 7) == [0, 0, 0, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="4-layer text decoder to 4 layers"):
        block_sources(4, 4)


@pytest.mark.parametrize("where", ["in memory", "reloaded"])
def test_grown_model_gives_the_same_logits_and_greedy_answers(original, grown, where):
    before = load_policy(original, greedy=True, max_new_tokens=12)
    if where == "reloaded":
        after = load_policy(grown, greedy=True, max_new_tokens=12)
    else:
        after = VLMPolicy(grow_depth(before.model, 4), before.processor, before.value_head, greedy=True, max_new_tokens=12)
    obs = observations()
    inputs = prompt_inputs(before.processor, [o.frame for o in obs], [build_prompt(o) for o in obs])
    with torch.no_grad():
        logits = before.model(**inputs).logits
        grown_logits = after.model(**inputs).logits
    assert torch.allclose(grown_logits, logits, atol=1e-5, rtol=0)
    # Generation reads the KV cache: a copy keeping its source's layer_idx would write into that layer's slot.
    first, second = before.act(obs), after.act(obs)
    assert all(len(d.token_ids) > 1 for d in first)
    assert [d.token_ids for d in second] == [d.token_ids for d in first]
    for a, b in zip(first, second):
        assert torch.allclose(torch.tensor(b.logprobs), torch.tensor(a.logprobs), atol=1e-5)
        assert b.value == pytest.approx(a.value, abs=1e-6)  # the last hidden state, read by the value head


def test_grown_folder_reloads_with_its_layers_value_head_and_record(original, grown):
    policy = load_policy(grown)
    layers = policy.model.get_decoder().layers
    assert policy.model.config.text_config.num_hidden_layers == len(layers) == 4
    assert [layer.self_attn.layer_idx for layer in layers] == [0, 1, 2, 3]
    assert policy.policy_version == "deep"
    source_head, _ = ValueHead.load_or_new(original, 32)
    assert all(torch.equal(a, b) for a, b in zip(policy.value_head.state_dict().values(), source_head.state_dict().values()))
    for name in ("tokenizer.json", "chat_template.jinja", "processor_config.json", "generation_config.json"):
        assert (grown / name).read_bytes() == (original / name).read_bytes()
    meta = json.loads((grown / META).read_text())
    assert meta["grown_from"] == str(original.resolve()) and (meta["layers_before"], meta["layers_after"]) == (2, 4)


def test_new_blocks_start_at_zero_and_move_after_one_step(original):
    model = load_policy(original).model
    grown = grow_depth(model, 4).train()
    new_block = grown.get_decoder().layers[1]  # the copy of layer 0
    writers = [new_block.self_attn.o_proj.weight, new_block.mlp.down_proj.weight]
    assert all(torch.count_nonzero(w) == 0 for w in writers)
    assert torch.equal(new_block.self_attn.q_proj.weight, model.get_decoder().layers[0].self_attn.q_proj.weight)
    obs = observations()
    inputs = prompt_inputs(load_policy(original).processor, [o.frame for o in obs], [build_prompt(o) for o in obs])
    logits = grown(**inputs).logits[:, :-1]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), inputs["input_ids"][:, 1:].reshape(-1))
    optimizer = torch.optim.SGD(grown.parameters(), lr=0.1)
    loss.backward()
    optimizer.step()
    assert all(torch.count_nonzero(w) > 0 for w in writers)


def test_grow_follows_latest_of_a_checkpoint_root(original, tmp_path):
    policy = load_policy(original)
    root = tmp_path / "run"
    CheckpointStore(root).publish(policy.save_pretrained, {"note": "test"})
    out = tmp_path / "grown"
    result = runner.invoke(app, ["model", "grow", str(root), "--out", str(out), "--layers", "3"])
    assert result.exit_code == 0, result.output
    assert load_policy(out).policy_version == "v000001-grown3"
    assert json.loads((out / META).read_text())["source_version"] == "v000001"


@pytest.mark.parametrize("case", ["not more layers", "missing model", "out holds a model"])
def test_bad_input_is_one_line_and_a_failing_exit(case, original, grown, tmp_path):
    args = {
        "not more layers": [str(original), "--out", str(tmp_path / "new"), "--layers", "2"],
        "missing model": [str(tmp_path / "nope"), "--out", str(tmp_path / "new"), "--layers", "4"],
        "out holds a model": [str(original), "--out", str(grown), "--layers", "4"],
    }[case]
    result = runner.invoke(app, ["model", "grow", *args])
    assert result.exit_code != 0
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "new").exists()
