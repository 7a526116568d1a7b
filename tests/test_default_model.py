"""The shipped default model: present, small, loadable by plain transformers, and it plays."""
from __future__ import annotations

import gymnasium as gym
from transformers import AutoModelForImageTextToText

import vlm_agent.envs  # noqa: F401
from vlm_agent.runtime.checkpoints import load_policy
from vlm_agent.runtime.agent_factory import default_model_dir
from vlm_agent.runtime.observation import observation_from

MAX_BYTES = 30 * 1024 * 1024


def test_default_checkpoint_ships_in_the_package_and_is_at_most_30_mb():
    folder = default_model_dir()
    assert (folder / "config.json").is_file() and (folder / "value_head.safetensors").is_file()
    assert not list(folder.glob("trainer_state*")), "training state does not ship"
    assert sum(f.stat().st_size for f in folder.iterdir()) <= MAX_BYTES


def test_plain_transformers_loads_it():
    model = AutoModelForImageTextToText.from_pretrained(default_model_dir())
    assert type(model).__name__ == "Idefics3ForConditionalGeneration"


def test_its_greedy_answers_parse_as_legal_actions_on_every_card_game():
    policy = load_policy(default_model_dir(), greedy=True, max_new_tokens=96)
    assert policy.policy_version.startswith("default")
    for env_id in ("vlm_agent/NumberLine-v0", "vlm_agent/EZPoints-v0", "vlm_agent/Points24-v0", "vlm_agent/Blackjack-v0"):
        env = gym.make(env_id)
        obs = [observation_from(env_id, *env.reset(seed=seed)) for seed in range(4)]
        decisions = policy.act(obs)
        assert all(d.parse.ok for d in decisions), [d.text for d in decisions]
        assert all(sum(d.action_mask) >= 1 for d in decisions)
