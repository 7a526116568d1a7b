"""The paper's prompt variant: its exact wording, the formula as text, and our own prompts left byte for byte."""
from __future__ import annotations

import hashlib

import gymnasium as gym
import pytest

import vlm_agent.envs  # noqa: F401
from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.agent.parsing import parse_action
from vlm_agent.agent.prompts import build_prompt
from vlm_agent.runtime.observation import observation_from

CARDS = ("vlm_agent/NumberLine-v0", "vlm_agent/EZPoints-v0", "vlm_agent/Points24-v0", "vlm_agent/Blackjack-v0")

# sha256 of the prompts of three expert episodes per game, computed with the code before the paper variant existed.
OUR_PROMPTS = {
    ("vlm_agent/NumberLine-v0", "cot"): "5f6b10b11fdd3d0d8a5ce1700083daf8a2374ef9b4b5884627b6c4e008fc280c",
    ("vlm_agent/NumberLine-v0", "action-only"): "cc0a5190061e0af205c3bdc8f1e0ffed96ca9efe57c4fac8a807a53f00078229",
    ("vlm_agent/EZPoints-v0", "cot"): "7ad062ab1b843c2aeff9fec37060146da59aaf0039d5cc30cd395a781f83ba3b",
    ("vlm_agent/EZPoints-v0", "action-only"): "02c53fcee33e93faa8858522036446f7e0bb6a5b96729224647421c1103b973b",
    ("vlm_agent/Points24-v0", "cot"): "a456e50d9d4fc3a4dd68290b5ef799cb65883957923fe7f54327aa947071dd21",
    ("vlm_agent/Points24-v0", "action-only"): "caf2d8457b3abeaee88676c657b07811488c2f16f66d5f3b9772a20cb040225c",
    ("vlm_agent/Blackjack-v0", "cot"): "1169ffb899ed4f4d5d73529daa66836cf0e895256742729dfa291422f3c49ab4",
    ("vlm_agent/Blackjack-v0", "action-only"): "8197723b187b18270d4984bea685dfb9312bfde8db7241b18b44ad1be152357a",
}


def episode_observations(env_id, seeds=range(3)):
    """Every observation of one expert episode per seed."""
    env = gym.make(env_id)
    agent = ExpertAgent(seed=0)
    for seed in seeds:
        frame, info = env.reset(seed=seed)
        done = False
        while not done:
            obs = observation_from(env_id, frame, info)
            yield obs
            frame, _, terminated, truncated, info = env.step(agent.act([obs])[0].parse.action)
            done = terminated or truncated


def observation_after(env_id, seed, actions):
    """The observation after playing `actions` from the deal of `seed`."""
    env = gym.make(env_id)
    frame, info = env.reset(seed=seed)
    for action in actions:
        frame, *_, info = env.step(action)
    return observation_from(env_id, frame, info)


def values_dealt(env_id, seed):
    return gym.make(env_id).reset(seed=seed)[1]["state"]["values"]


@pytest.mark.parametrize("env_id, variant", sorted(OUR_PROMPTS))
def test_our_prompts_are_byte_identical_to_before(env_id, variant):
    text = "\n\n".join(build_prompt(obs, variant) for obs in episode_observations(env_id))
    assert hashlib.sha256(text.encode()).hexdigest() == OUR_PROMPTS[(env_id, variant)]


def test_points24_paper_prompt_is_the_references_with_the_formula_joined():
    a, b = (str(v) for v in values_dealt("vlm_agent/Points24-v0", 0)[:2])
    obs = observation_after("vlm_agent/Points24-v0", 0, ["(", a, "+", b])
    formula = f"({a}+{b}"
    assert build_prompt(obs, "paper") == (
        "You are an expert 24 points card game player. You are observing thee four cards in the image. "
        f"You are observing the current formula: {formula}. "
        "You can choose between ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '+', '-', '*', '/', '(', ')', '=']. "
        "The number or operator you choose will be appended to the current formula. "
        "Note that 'J', 'Q', and 'K' count as '10'. "
        "Your goal is to output a formula that evaluates to 24, and each number can only be used once. "
        "Your response should be a valid json file in the following format: \\{\n"
        " \"cards\": [x, y, z, w], \n"
        f"\"current formula\": {formula}, \n"
        "\"thoughts\": {First check whether the current formula equals 24. "
        "If the current formula equals 24, output '='. "
        "Otherwise consider which number or operator should be appended to the current formula to make it equal 24.} \n"
        "\"action\": \"{number}\" or \"{operator}\" \n \\}"
    )


def test_ezpoints_paper_prompt_gives_the_formula_and_a_missing_card_as_a_space():
    values = values_dealt("vlm_agent/EZPoints-v0", 1)
    missing = next(str(n) for n in range(1, 11) if n not in values)
    obs = observation_after("vlm_agent/EZPoints-v0", 1, [str(values[0]), "*", missing])
    prompt = build_prompt(obs, "paper")
    assert f"You are observing the current formula: {values[0]}* . " in prompt
    assert f"\"current formula\": {values[0]}* , \n" in prompt
    assert prompt.startswith("You are an expert card game player. You are observing two cards in the image. ")
    assert "evaluates to 12" in prompt


def test_the_first_step_shows_an_empty_formula():
    obs = next(episode_observations("vlm_agent/EZPoints-v0", seeds=[0]))
    assert "You are observing the current formula: . " in build_prompt(obs, "paper")


def test_numberline_and_blackjack_paper_prompts_and_their_action_only_ablation():
    numberline = next(episode_observations("vlm_agent/NumberLine-v0", seeds=[0]))
    assert build_prompt(numberline, "paper") == (
        "You are playing a game called number line. You will see a target number and a current number in the image. "
        "And your goal is to move the current number closer to the target by choosing either adding or subtracting one to the current number. "
        "Your response should be a valid json file in the following format: \n{\n "
        "\"current number\": \"x\", \n\"target number\": \"x\", \n"
        "\"thoughts\": \"{first read out the current and target number, then think carefully about which action to choose}\", \n"
        "\"action\": \"-\" or \"+\" \n}"
    )
    blackjack = next(episode_observations("vlm_agent/Blackjack-v0", seeds=[0]))
    assert build_prompt(blackjack, "paper-action-only") == (
        "You are a blackjack player. You are observing the current game state, you can choose between ['stand', 'hit']. "
        "Your response should be a valid json file in the following format: \n{\n \"action\": \"stand\" or \"hit\" \n}"
    )


@pytest.mark.parametrize("variant, has_thoughts", [("paper", True), ("paper-action-only", False)])
def test_the_expert_answers_in_the_variants_format(variant, has_thoughts):
    obs = next(episode_observations("vlm_agent/NumberLine-v0", seeds=[0]))
    decision = ExpertAgent(prompt_variant=variant, seed=0).act([obs])[0]
    assert ('"thoughts"' in decision.text) == has_thoughts
    assert parse_action(decision.text, obs.legal_actions).ok


def test_an_unknown_variant_names_the_paper_ones():
    obs = next(episode_observations("vlm_agent/NumberLine-v0", seeds=[0]))
    with pytest.raises(ValueError, match="paper, paper-action-only"):
        build_prompt(obs, "socratic")


def test_alfworld_paper_prompt_lists_the_admissible_actions_as_the_reference_does():
    import numpy as np

    from vlm_agent.agent.interface import Observation

    obs = Observation(env_id="vlm_agent/ALFWorld-v0", frame=np.zeros((2, 2, 3), np.uint8), text="You are in the kitchen.",
                      legal_actions=("look", "go to fridge 1"), task_type="pick_and_place_simple", task_text="put a mug in desk.")
    prompt = build_prompt(obs, "paper")
    assert prompt.startswith("Your are an expert in the ALFRED Embodied Environment. "
                             "You are also given the following text description of the current scene: You are in the kitchen.. "
                             "Your task is to put a mug in desk. ")
    assert "Your admissible actions of the current situation are: ['look'\n 'go to fridge 1']. " in prompt
    assert prompt.endswith("\"action\": \"{an admissible action}\"\n\\}") and "\"thoughts\"" in prompt
