"""Ceilings computed by code: Blackjack's best win rate, and how many Points24 deals each checker can solve."""
from __future__ import annotations

import pytest

from vlm_agent.agent.experts.blackjack import best_play, game_outcome, most_wins_play, optimal_outcome
from vlm_agent.envs.arithmetic import is_solvable
from vlm_agent.envs.points_solvable import accepted_by_python_eval, card_value_probs, deals, python_eval_solution


def test_blackjack_expert_and_most_wins_policies():
    win, draw, loss = optimal_outcome()
    assert (round(win, 4), round(draw, 4)) == (0.4295, 0.0945)
    most_win, most_draw, most_loss = game_outcome(most_wins_play)
    assert sum((most_win, most_draw, most_loss)) == pytest.approx(1.0)
    # Chasing wins only gives up draws: the highest win rate any policy reaches is 43.2%.
    assert round(most_win, 4) == 0.4316 and most_win > win and most_draw < draw
    # Hard 17 against an ace: the expert stands (a draw is worth more than a likely loss); chasing wins hits.
    assert best_play(17, False, 1)[0] == "stand" and most_wins_play(17, False, 1)[0] == "hit"


def test_deals_cover_every_multiset_with_total_probability_one():
    assert card_value_probs()[10] == pytest.approx(4 / 13) and card_value_probs()[1] == pytest.approx(1 / 13)
    all_deals = dict(deals(4))
    assert len(all_deals) == 715 and sum(all_deals.values()) == pytest.approx(1.0)
    assert all_deals[(10, 10, 10, 10)] == pytest.approx((4 / 13) ** 4)
    assert all_deals[(1, 2, 3, 4)] == pytest.approx(24 / 13 ** 4)


@pytest.mark.parametrize("values, strict, lenient", [
    ((1, 2, 3, 4), True, True),
    ((3, 3, 8, 8), True, True),  # 8/(3-8/3) is exact in ours, 23.99999999999999 in floats; 3+8//(3/8) rescues it
    ((1, 1, 1, 1), False, False),
    ((1, 1, 2, 2), False, True),  # 12+12: joined numbers
    ((1, 1, 2, 5), False, True),  # 121//5: joined numbers and floor division
    ((1, 1, 1, 2), False, True),  # 2*(1+11)
])
def test_known_deals_under_both_checkers(values, strict, lenient):
    assert is_solvable(values, 24) == strict
    formula = python_eval_solution(values)
    assert (formula is not None) == lenient
    if formula is not None:
        assert accepted_by_python_eval(formula, values, 24)
        assert eval("".join(formula)) == 24 and sorted(int(t) for t in formula if t.isdigit()) == sorted(values)


def test_the_paper_checker_is_pythons_eval_in_floats():
    assert not accepted_by_python_eval(("8", "/", "(", "3", "-", "8", "/", "3", ")"), (3, 3, 8, 8), 24)
    assert accepted_by_python_eval(("2", "4", "*", "1", "*", "1"), (1, 1, 2, 4), 24)
    assert not accepted_by_python_eval(("2", "4"), (2, 4, 1, 1), 24)  # every card must be used
    assert not accepted_by_python_eval(("(", "2", "4"), (2, 4), 24)  # a syntax error fails


def test_every_formula_found_fits_the_limit_and_passes_eval():
    for values, _ in list(deals(4))[::37]:
        formula = python_eval_solution(values)
        if formula is not None:
            assert len(formula) <= 20 and accepted_by_python_eval(formula, values, 24)
