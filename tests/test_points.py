"""EZPoints and Points24: deals, every reward case, limits and invalid actions."""
import gymnasium as gym
import pytest

import vlm_agent.envs  # noqa: F401  (registers the environments)
from vlm_agent.envs.arithmetic import is_solvable
from vlm_agent.envs.cards import Card

EZ, P24 = "vlm_agent/EZPoints-v0", "vlm_agent/Points24-v0"


def make(env_id, ranks=None, seed=0, **kwargs):
    """An env after reset; `ranks` replaces the dealt cards with known ones."""
    env = gym.make(env_id, **kwargs)
    _, info = env.reset(seed=seed)
    if ranks is not None:
        env.unwrapped.cards = [Card(rank, "spades") for rank in ranks]
    return env, info


def type_tokens(env, tokens):
    results = [env.step(token) for token in tokens]
    return results[-1]


def test_legal_actions_are_the_papers_fixed_sets():
    _, ez = make(EZ)
    _, p24 = make(P24)
    numbers = [str(n) for n in range(1, 11)]
    assert ez["legal_actions"] == numbers + ["+", "*", "="]
    assert p24["legal_actions"] == numbers + ["+", "-", "*", "/", "(", ")", "="]


def test_ezpoints_deals_are_always_solvable_by_plus_or_times():
    for seed in range(200):
        _, info = make(EZ, seed=seed)
        values = info["state"]["values"]
        assert len(values) == 2 and info["state"]["solvable"] is True
        assert sum(values) == 12 or values[0] * values[1] == 12


def test_points24_deals_four_cards_and_says_whether_they_are_solvable():
    flags = []
    for seed in range(60):
        _, info = make(P24, seed=seed)
        state = info["state"]
        assert len(state["cards"]) == 4 and state["target"] == 24
        assert state["solvable"] == is_solvable(state["values"], 24)
        flags.append(state["solvable"])
    assert any(flags) and not all(flags)


def test_face_cards_count_ten_and_aces_one():
    env, _ = make(EZ, ranks=["K", "2"])
    _, reward, _, _, info = env.step("10")
    assert reward == 0.0 and info["state"]["formula"] == ["10"] and info["state"]["remaining_values"] == [2]
    env, _ = make(EZ, ranks=["A", "J"])
    assert env.step("1")[1] == 0.0 and env.step("+")[1] == 0.0 and env.step("10")[1] == 0.0


@pytest.mark.parametrize("env_id", [EZ, P24])
def test_a_card_number_is_appended_with_no_reward(env_id):
    env, _ = make(env_id, ranks=["3", "4", "2", "1"][: 2 if env_id == EZ else 4])
    _, reward, terminated, truncated, info = env.step("3")
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["state"]["formula"] == ["3"] and info["invalid_action"] is False and info["card_missing"] is False


@pytest.mark.parametrize("env_id", [EZ, P24])
def test_a_number_no_card_shows_earns_minus_one_and_a_blank(env_id):
    env, _ = make(env_id, ranks=["3", "4", "2", "1"][: 2 if env_id == EZ else 4])
    _, reward, terminated, truncated, info = env.step("7")
    assert (reward, terminated, truncated) == (-1.0, False, False)
    assert info["state"]["formula"] == ["_"] and info["card_missing"] is True
    assert info["invalid_action"] is False  # "7" is a legal action string; it breaks a game rule


@pytest.mark.parametrize("env_id", [EZ, P24])
def test_a_number_used_more_often_than_the_cards_show_earns_minus_one(env_id):
    env, _ = make(env_id, ranks=["6", "6", "2", "1"][: 2 if env_id == EZ else 4])
    type_tokens(env, ["6", "+", "6", "+"])
    _, reward, _, _, info = env.step("6")
    assert reward == -1.0 and info["state"]["formula"][-1] == "_"


def test_ezpoints_correct_formula_earns_ten_and_succeeds():
    env, _ = make(EZ, ranks=["2", "Q"])
    type_tokens(env, ["10", "+"])
    assert env.step("2")[1] == 0.0
    _, reward, terminated, truncated, info = env.step("=")
    assert (reward, terminated, truncated, info["success"]) == (10.0, True, False, True)


def test_points24_correct_formula_with_parentheses_earns_ten():
    env, _ = make(P24, ranks=["8", "3", "8", "3"])
    type_tokens(env, ["8", "/", "(", "3", "-", "8", "/", "3", ")"])
    _, reward, terminated, _, info = env.step("=")
    assert (reward, terminated, info["success"]) == (10.0, True, True)


@pytest.mark.parametrize(
    "env_id, ranks, formula",
    [
        (EZ, ["3", "4"], ["3", "+", "4"]),  # wrong value
        (EZ, ["3", "4"], ["3", "*"]),  # malformed
        (EZ, ["3", "4"], []),  # empty
        (P24, ["6", "4", "2", "1"], ["6", "*", "4"]),  # 24, but two cards unused
        (P24, ["6", "4", "2", "1"], ["6", "*", "4", "*", "2", "/", "2"]),  # the second 2 became a blank
        (P24, ["6", "2", "2", "1"], ["6", "/", "(", "2", "-", "2", ")", "*", "1"]),  # division by zero
    ],
)
def test_a_wrong_equals_earns_minus_one_and_terminates_without_success(env_id, ranks, formula):
    env, _ = make(env_id, ranks=ranks)
    if formula:
        type_tokens(env, formula)
    _, reward, terminated, truncated, info = env.step("=")
    assert (reward, terminated, truncated, info["success"]) == (-1.0, True, False, False)


@pytest.mark.parametrize("env_id, limit", [(EZ, 5), (P24, 20)])
def test_a_formula_longer_than_the_limit_earns_minus_one_and_truncates(env_id, limit):
    env, _ = make(env_id)
    for _ in range(limit):
        _, reward, terminated, truncated, _ = env.step("+")
        assert reward == 0.0 and not (terminated or truncated)
    _, reward, terminated, truncated, info = env.step("+")
    assert (reward, terminated, truncated, info["success"]) == (-1.0, False, True, False)


@pytest.mark.parametrize("env_id, max_steps", [(EZ, 10), (P24, 30)])
def test_invalid_strings_are_penalised_no_ops_and_truncate_at_max_steps(env_id, max_steps):
    env, info = make(env_id, seed=5)
    start = info["state"]
    for step in range(1, max_steps + 1):
        _, reward, terminated, truncated, info = env.step("twelve")
        assert reward == -1.0 and info["invalid_action"] is True and not terminated
        assert truncated == (step == max_steps)
        assert info["state"]["formula"] == [] and info["state"]["values"] == start["values"]
    assert info["success"] is False


def test_text_names_the_cards_and_the_formula():
    env, _ = make(EZ, ranks=["K", "2"])
    _, _, _, _, info = type_tokens(env, ["10", "+"])
    assert info["text"] == "Cards: K of spades (10), 2 of spades (2). Formula: 10 +. Target: 12."
