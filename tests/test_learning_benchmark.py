"""benchmarks/learning.py: which starts each round trains on, and the significance line of its table."""
from __future__ import annotations

import pytest
from script_loader import load_script

from vlm_agent.runtime.loop import LoopConfig

ALFWORLD_GENERATED_GAMES = 20  # the generated split plays game seed % 20


@pytest.fixture(scope="module")
def learning():
    return load_script("benchmarks/learning.py")


def games_of_round(learning, r: int, starts: int) -> set[int]:
    first = learning.round_seed(r, starts)
    return {(first + k) % ALFWORLD_GENERATED_GAMES for k in range(starts)}


def test_rounds_with_repeats_train_on_every_generated_game(learning):
    starts = 32 // 4  # --episodes 32 --repeats 4
    played = set().union(*(games_of_round(learning, r, starts) for r in range(1, 4)))
    assert played == set(range(ALFWORLD_GENERATED_GAMES))
    assert games_of_round(learning, 1, starts) != games_of_round(learning, 2, starts)


@pytest.mark.parametrize("episodes, repeats", [(32, 4), (30, 4), (7, 1), (3, 8)])
def test_round_starts_count_the_seeds_play_resets(learning, episodes, repeats):
    config = LoopConfig("vlm_agent/NumberLine-v0", episodes=episodes, repeats=repeats)
    assert learning.round_starts(episodes, repeats) == config.starts


def test_round_seeds_do_not_overlap(learning):
    starts = 32
    blocks = [range(learning.round_seed(r, starts), learning.round_seed(r, starts) + starts) for r in range(1, 7)]
    assert all(a[-1] < b[0] for a, b in zip(blocks, blocks[1:]))
    assert blocks[-1][-1] < learning.EVAL_SEED


def test_fisher_one_sided_by_hand(learning):
    assert learning.fisher_one_sided(1, 20, 1, 20) == pytest.approx(0.7564, abs=1e-4)
    assert learning.fisher_one_sided(0, 10, 10, 10) == pytest.approx(1 / 184756)
    assert learning.fisher_one_sided(15, 100, 10, 100) == pytest.approx(0.901, abs=1e-3)


def test_paired_sign_test_counts_only_the_seeds_that_differ(learning):
    gained, lost, p = learning.paired_sign_test({1, 2, 3, 4}, {3, 4, 5, 6, 7, 8, 9})
    assert (gained, lost) == (5, 2)
    assert p == pytest.approx((21 + 7 + 1) / 128)  # P(at least 5 of 7 fair coins)
    assert learning.paired_sign_test(set(range(10)), set(range(10)))[2] == 1.0  # nothing differs: no evidence


def test_significance_pairs_the_start_with_the_last_evaluated_round(learning):
    rows = [
        {"round": 0, "eval_success": 0.1, "eval_episodes": 10, "eval_won_seeds": [100]},
        {"round": 1, "eval_success": 0.3, "eval_episodes": 10, "eval_won_seeds": [100, 101, 102]},
        {"round": 2, "sampled_success": 0.5},  # a round without eval
    ]
    line = learning.significance(rows, 10)
    assert "round 1 3/10" in line
    assert "2 seeds won only by round 1, 0 only by the start" in line and "McNemar exact p = 0.250" in line
    unpaired = [{key: value for key, value in row.items() if key != "eval_won_seeds"} for row in rows]  # curves of older runs
    assert "McNemar" not in learning.significance(unpaired, 10) and "Fisher" in learning.significance(unpaired, 10)
