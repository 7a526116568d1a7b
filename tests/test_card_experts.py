"""The card games' experts: they win what can be won, continue others' formulas, and say why briefly."""
import random

import gymnasium as gym
import pytest
from gymnasium.envs.toy_text.blackjack import BlackjackEnv as GymBlackjack

import vlm_agent.envs  # noqa: F401  (registers the environments)
from vlm_agent.agent.experts import ExpertAgent, expert_for
from vlm_agent.agent.experts.blackjack import CARD_PROBS, best_play, dealer_finals, first_card, optimal_outcome
from vlm_agent.envs.cards import Card
from vlm_agent.runtime.observation import observation_from

NL, EZ, P24, BJ = (f"vlm_agent/{name}-v0" for name in ("NumberLine", "EZPoints", "Points24", "Blackjack"))


def play(env_id, seed, env=None, setup=None):
    """Play one episode with the expert; return (first info, last info, rewards, actions, thoughts)."""
    env = env or gym.make(env_id)
    frame, info = env.reset(seed=seed)
    if setup:
        frame, info = setup(env)
    first, expert, rng = info, expert_for(env_id), random.Random(0)
    rewards, actions, thoughts = [], [], []
    while True:
        thought, action = expert(observation_from(env_id, frame, info), rng)
        assert action in info["legal_actions"]
        thoughts.append(thought)
        actions.append(action)
        frame, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        if terminated or truncated:
            return first, info, rewards, actions, thoughts


def test_numberline_expert_always_reaches_the_target_by_the_shortest_path():
    env = gym.make(NL)
    for seed in range(100):
        first, last, rewards, _, _ = play(NL, seed, env)
        assert last["success"]
        assert len(rewards) == abs(first["state"]["current"] - first["state"]["target"])
        assert rewards[-1] == 1.0 and all(r == 0.0 for r in rewards[:-1])


def test_numberline_thoughts_read_the_numbers_and_state_the_move():
    first, _, _, actions, thoughts = play(NL, 0)
    current, target = first["state"]["current"], first["state"]["target"]
    relation, move = ("less", "add") if current < target else ("greater", "subtract")
    assert thoughts[0] == f"Current {current}, target {target}. {current} is {relation} than {target}, so {move} one."


def test_ezpoints_expert_solves_every_deal_in_four_steps():
    env = gym.make(EZ)
    for seed in range(100):
        _, last, rewards, actions, _ = play(EZ, seed, env)
        assert last["success"] and rewards == [0.0, 0.0, 0.0, 10.0] and actions[-1] == "="


def test_points24_expert_solves_every_solvable_deal_and_ends_unsolvable_ones_at_once():
    env = gym.make(P24)
    solved = unsolvable = 0
    for seed in range(40):
        first, last, rewards, actions, thoughts = play(P24, seed, env)
        if first["state"]["solvable"]:
            assert last["success"] and rewards[-1] == 10.0 and sum(rewards) == 10.0
            solved += 1
        else:
            assert actions == ["="] and rewards == [-1.0]
            assert "No formula of these cards makes 24" in thoughts[0]
            unsolvable += 1
    assert solved and unsolvable  # the sample holds both kinds


def with_cards(ranks, typed=()):
    """A setup for `play`: these cards, and `typed` already in the formula."""
    def setup(env):
        env.unwrapped.cards = [Card(rank, "hearts") for rank in ranks]
        env.unwrapped.solvable = True
        for token in typed:
            frame, _, _, _, info = env.step(token)
        return (frame, info) if typed else (env.unwrapped.render(), env.unwrapped.info())
    return setup


@pytest.mark.parametrize("typed", [("8",), ("8", "/", "("), ("(",)])
def test_points24_expert_continues_a_formula_that_can_still_succeed(typed):
    _, last, _, _, _ = play(P24, 0, setup=with_cards(["8", "3", "8", "3"], typed))
    assert last["success"], f"could not finish {typed}"


def test_points24_expert_continues_a_fully_parenthesised_start():
    _, last, _, _, _ = play(P24, 0, setup=with_cards(["A", "2", "3", "4"], ("(", "(", "1", "+")))
    assert last["success"]


@pytest.mark.parametrize(
    "env_id, ranks, typed",
    [(EZ, ["3", "4"], ("3", "+")), (EZ, ["3", "4"], ("5",)), (P24, ["8", "3", "8", "3"], ("8", "+")), (P24, ["8", "3", "8", "3"], ("3",))],
)
def test_a_formula_that_went_wrong_is_ended_with_equals(env_id, ranks, typed):
    _, last, rewards, actions, thoughts = play(env_id, 0, setup=with_cards(ranks, typed))
    assert actions == ["="] and rewards == [-1.0] and "cannot make" in thoughts[0]


def test_points_thoughts_read_the_cards_and_state_the_plan():
    _, _, _, actions, thoughts = play(EZ, 0, setup=with_cards(["K", "2"]))
    assert actions == ["10", "+", "2", "="]
    assert thoughts[0] == "Cards: K=10, 2. Plan: 10 + 2 = 12. The formula is empty, so the next token is 10."
    assert thoughts[1].endswith("The formula is 10, so the next token is +.")
    assert thoughts[-1] == "Cards: K=10, 2. Plan: 10 + 2 = 12. The formula is complete, so press =."


def test_points24_plan_follows_the_sorted_cards_whatever_the_deal_order():
    plans = set()
    for ranks in (["2", "8", "A", "3"], ["A", "3", "8", "2"], ["8", "3", "2", "A"]):
        _, last, _, _, thoughts = play(P24, 0, setup=with_cards(ranks))
        assert last["success"]
        assert "Sorted: 8, 3, 2, 1." in thoughts[0]
        plans.add(thoughts[0].split("Plan: ")[1].split(" =")[0])
    assert len(plans) == 1
    # largest numbers first where a formula allows it
    assert [t for t in plans.pop().split() if t.isdigit()] == ["8", "3", "2", "1"]


# Sutton & Barto's optimal policy for this game (Figure 5.2): stand at or above these totals.
def textbook_action(total, soft, dealer):
    if soft:
        stand_from = 18 if 2 <= dealer <= 8 else 19
    elif 4 <= dealer <= 6:
        stand_from = 12
    else:
        stand_from = 13 if dealer in (2, 3) else 17
    return "stand" if total >= stand_from else "hit"


def test_blackjack_dp_policy_is_the_textbook_optimal_policy():
    for dealer in range(1, 11):
        for total in range(4, 22):
            assert best_play(total, False, dealer)[0] == textbook_action(total, False, dealer), (total, dealer)
        for total in range(12, 22):
            assert best_play(total, True, dealer)[0] == textbook_action(total, True, dealer), ("soft", total, dealer)


def test_blackjack_expert_plays_the_dp_action_in_every_state():
    env = gym.make(BJ)
    seen = set()
    for seed in range(300):
        frame, info = env.reset(seed=seed)
        while True:
            state = info["state"]
            key = (state["player_sum"], state["usable_ace"], state["dealer_value"])
            thoughts, action = expert_for(BJ)(observation_from(BJ, frame, info), random.Random(0))
            assert action == best_play(*key)[0]
            seen.add(key)
            frame, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
    assert len(seen) > 150


def test_blackjack_dealer_model_sums_to_one():
    for card in CARD_PROBS:
        assert sum(dealer_finals(*first_card(card)).values()) == pytest.approx(1.0)
    assert sum(optimal_outcome()) == pytest.approx(1.0)


def test_blackjack_dp_value_matches_gymnasiums_own_game():
    """The DP's expected reward of the optimal policy, against 20,000 games of gymnasium's env."""
    env = GymBlackjack(natural=False, sab=False)
    env.reset(seed=0)
    rewards = []
    for _ in range(20_000):
        (total, dealer, soft), _ = env.reset()
        while True:
            action = 1 if best_play(total, bool(soft), dealer)[0] == "hit" else 0
            (total, dealer, soft), reward, terminated, _, _ = env.step(action)
            if terminated:
                rewards.append(reward)
                break
    win, draw, loss = optimal_outcome()
    assert sum(rewards) / len(rewards) == pytest.approx(win - loss, abs=0.027)  # about 4 standard errors
    assert rewards.count(1.0) / len(rewards) == pytest.approx(win, abs=0.014)


def test_blackjack_thoughts_read_the_hand_and_the_dealer():
    frame, info = gym.make(BJ).reset(seed=2)
    thoughts, action = expert_for(BJ)(observation_from(BJ, frame, info), random.Random(0))
    state = info["state"]
    ranks = ", ".join(card["rank"] for card in state["player_cards"])
    assert thoughts.startswith(f"My cards {ranks} make ")
    assert f"Dealer shows {state['dealer_card']['rank']}." in thoughts and thoughts.endswith(f", {action}.")


@pytest.mark.parametrize("env_id", [NL, EZ, P24, BJ])
def test_expert_agent_answers_parse_as_legal_actions(env_id):
    frame, info = gym.make(env_id).reset(seed=0)
    decision = ExpertAgent(seed=0).act([observation_from(env_id, frame, info)])[0]
    assert decision.parse.ok and decision.parse.action in info["legal_actions"]
