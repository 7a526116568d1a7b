"""NumberLine: dealing, every reward case, truncation and invalid actions."""
import gymnasium as gym
import pytest

import vlm_agent.envs  # noqa: F401  (registers the environments)


def make(seed=0, **kwargs):
    env = gym.make("vlm_agent/NumberLine-v0", **kwargs)
    _, info = env.reset(seed=seed)
    return env, info


def place(env, current, target):
    env.unwrapped.current, env.unwrapped.target = current, target


def test_start_differs_from_target_and_both_lie_on_the_line():
    seen = set()
    for seed in range(200):
        _, info = make(seed)
        state = info["state"]
        assert state["current"] != state["target"]
        assert 0 <= state["current"] <= 5 and 0 <= state["target"] <= 5
        seen.add((state["current"], state["target"]))
    assert len(seen) == 30  # every start/target pair of 0..5 comes up


def test_info_carries_the_contract_fields():
    _, info = make()
    assert info["legal_actions"] == ["+", "-"] and info["task_type"] == "numberline"
    assert info["text"] == f"Target: {info['state']['target']}. Current: {info['state']['current']}."
    assert "task_text" in info and "success" not in info


def test_reaching_the_target_earns_one_and_terminates_with_success():
    env, _ = make()
    place(env, 2, 3)
    _, reward, terminated, truncated, info = env.step("+")
    assert (reward, terminated, truncated, info["success"]) == (1.0, True, False, True)
    assert info["state"]["current"] == 3


def test_moving_closer_earns_zero():
    env, _ = make()
    place(env, 4, 1)
    _, reward, terminated, truncated, info = env.step("-")
    assert (reward, terminated, truncated) == (0.0, False, False) and info["state"]["current"] == 3


def test_moving_away_earns_minus_one():
    env, _ = make()
    place(env, 2, 4)
    _, reward, terminated, _, info = env.step("-")
    assert (reward, terminated) == (-1.0, False) and info["state"]["current"] == 1


@pytest.mark.parametrize("current, target, move", [(0, 3, "-"), (5, 2, "+")])
def test_pushing_against_an_end_stays_put_and_earns_minus_one(current, target, move):
    env, _ = make()
    place(env, current, target)
    _, reward, _, _, info = env.step(move)
    assert reward == -1.0 and info["state"]["current"] == current


def test_truncated_after_twice_max_position_steps_without_success():
    env, _ = make(max_position=5)
    place(env, 0, 5)
    for step in range(1, 11):
        _, _, terminated, truncated, info = env.step("-")  # never gets closer
        assert not terminated
        assert truncated == (step == 10)
    assert info["success"] is False


@pytest.mark.parametrize("action", ["left", "", "++", None, 1])
def test_invalid_action_is_a_penalised_no_op_that_counts_toward_truncation(action):
    env, info = make(seed=3)
    before = info["state"]
    for step in range(1, 11):
        _, reward, terminated, truncated, info = env.step(action)
        assert reward == -1.0 and info["invalid_action"] is True and not terminated
        assert (info["state"]["current"], info["state"]["target"]) == (before["current"], before["target"])
    assert truncated and info["success"] is False


def test_actions_match_ignoring_case_and_whitespace():
    env, _ = make()
    place(env, 1, 2)
    _, reward, terminated, _, info = env.step("  + ")
    assert reward == 1.0 and terminated and info["invalid_action"] is False


def test_invalid_action_penalty_is_configurable():
    env, _ = make(invalid_action_penalty=-0.5)
    assert env.step("jump")[1] == -0.5


def test_max_position_sets_the_line_and_the_step_cap():
    env, info = make(max_position=9)
    assert info["state"]["max_position"] == 9 and info["state"]["max_steps"] == 18
