"""docs/points24_plans.py: a Points24 run's deals split into misread, misplanned and mistyped."""
from __future__ import annotations

import pytest
from script_loader import load_script

from vlm_agent.agent.experts import ExpertAgent
from vlm_agent.runtime.loop import LoopConfig
from vlm_agent.runtime.play import PlaySession

plans = load_script("docs/points24_plans.py")


@pytest.mark.parametrize("plan, values, makes", [
    ("10 * ( 7 / 5 + 1 )", (10, 7, 5, 1), True),
    ("( 7 - 10 / 10 ) * 4", (10, 10, 7, 4), True),
    ("8 * 6 / ( 1 + 1 )", (8, 6, 1, 1), True),
    ("8 * 6 / 1 + 1", (8, 6, 1, 1), False),  # precedence: 49
    ("6 * 4", (6, 4, 1, 1), False),  # not every card used
    ("( 9 + 5 - 2 ) *", (9, 5, 2, 2), False),  # cut short
    ("10 / ( 5 - 5 ) + 2", (10, 5, 5, 2), False),  # division by zero
])
def test_a_plan_counts_when_it_uses_exactly_the_cards_and_makes_24(plan, values, makes):
    assert plans.evaluates_to_24(plan, values) is makes


def test_values_are_read_from_the_cards_not_the_target():
    text = "Cards: Q of clubs (10), 7 of diamonds (7), 5 of hearts (5), A of hearts (1). Formula: ( 7. Target: 24."
    assert plans.values_of(text) == (10, 7, 5, 1)


def test_the_expert_reads_and_plans_every_solvable_deal_and_loses_none_typing(tmp_path):
    session = PlaySession(LoopConfig(env_id="vlm_agent/Points24-v0", episodes=12, num_envs=4), ExpertAgent(seed=0),
                          tmp_path / "logs", "points24")
    session.loop.run()
    session.finish()
    run = next((tmp_path / "logs").iterdir())
    totals, by_seen = plans.plans(run, plans.multiset_counts([tmp_path / "logs"]))
    assert totals["deals"] == 12 and totals["read"] == totals["solvable"]  # unsolvable deals state no plan
    assert totals["plan_right"] == totals["won"] == totals["solvable"] and totals["lost_typing"] == 0
    assert by_seen["4+ times", "deals"] + by_seen["1-3 times", "deals"] == totals["solvable"]  # each deal is in its own logs
