"""Blackjack: gymnasium's dynamics, every outcome's reward, card faces, invalid actions."""
import gymnasium as gym
from gymnasium.envs.toy_text.blackjack import BlackjackEnv as GymBlackjack

import vlm_agent.envs  # noqa: F401  (registers the environments)

BJ = "vlm_agent/Blackjack-v0"


def make(seed=0, **kwargs):
    env = gym.make(BJ, **kwargs)
    _, info = env.reset(seed=seed)
    return env, info


def hand_total(values):
    total = sum(values)
    return total + 10 if 1 in values and total + 10 <= 21 else total


def stand_outcomes(seeds):
    """(player sum, dealer sum, reward, info) of standing at once, per seed."""
    for seed in seeds:
        env, info = make(seed)
        player = info["state"]["player_sum"]
        _, reward, terminated, truncated, info = env.step("stand")
        assert terminated and not truncated
        yield player, info["state"]["dealer_sum"], reward, info


def test_legal_actions_and_task_type():
    _, info = make()
    assert info["legal_actions"] == ["stand", "hit"] and info["task_type"] == "blackjack"


def test_the_deal_is_gymnasiums_deal_for_the_same_seed():
    for seed in range(50):
        _, info = make(seed)
        (player_sum, dealer_value, usable_ace), _ = GymBlackjack(natural=False, sab=False).reset(seed=seed)
        state = info["state"]
        assert (state["player_sum"], state["dealer_value"], state["usable_ace"]) == (player_sum, dealer_value, bool(usable_ace))


def test_state_sums_the_drawn_cards_and_hides_the_dealers_hand_until_the_end():
    for seed in range(50):
        _, info = make(seed)
        state = info["state"]
        values = [card["value"] for card in state["player_cards"]]
        assert len(values) == 2 and state["player_sum"] == hand_total(values)
        assert state["usable_ace"] == (1 in values and sum(values) + 10 <= 21)
        assert "dealer_cards" not in state and "dealer_sum" not in state


def test_standing_scores_win_draw_and_loss_against_the_dealer():
    seen = set()
    for player, dealer, reward, info in stand_outcomes(range(300)):
        expected = 1.0 if dealer > 21 or player > dealer else (0.0 if player == dealer else -1.0)
        assert reward == expected
        assert info["success"] is (reward == 1.0)
        seen.add(reward)
    assert seen == {1.0, 0.0, -1.0}


def test_dealer_draws_to_seventeen_and_stands_there():
    for _, dealer, _, info in stand_outcomes(range(100)):
        values = [card["value"] for card in info["state"]["dealer_cards"]]
        assert dealer == hand_total(values) >= 17
        assert hand_total(values[:-1]) < 17  # it stopped as soon as it reached 17


def test_busting_loses_at_once():
    busts = 0
    for seed in range(40):
        env, _ = make(seed)
        while True:
            _, reward, terminated, truncated, info = env.step("hit")
            if terminated:
                break
            assert reward == 0.0 and not truncated
        assert info["state"]["player_sum"] > 21 and reward == -1.0 and info["success"] is False
        busts += 1
    assert busts == 40


def test_value_ten_cards_are_drawn_as_10_j_q_k():
    ranks = set()
    for seed in range(100):
        _, info = make(seed)
        ranks |= {card["rank"] for card in info["state"]["player_cards"] if card["value"] == 10}
    assert ranks == {"10", "J", "Q", "K"}


def test_invalid_action_is_a_penalised_no_op_truncated_at_max_steps():
    env, info = make(seed=7)
    start = info["state"]
    for step in range(1, 21):
        _, reward, terminated, truncated, info = env.step("double down")
        assert reward == -1.0 and info["invalid_action"] is True and not terminated
        assert truncated == (step == 20)
        assert info["state"]["player_cards"] == start["player_cards"]
    assert info["success"] is False


def test_text_names_the_dealer_card_and_the_hand():
    _, info = make(seed=1)
    state = info["state"]
    assert info["text"].startswith(f"Dealer shows: {state['dealer_card']['rank']} of {state['dealer_card']['suit']}")
    assert f"sum {state['player_sum']}" in info["text"]
