"""docs/paired.py: two evaluation runs compared seed by seed (exact McNemar)."""
from __future__ import annotations

import pytest
from script_loader import load_script

paired = load_script("docs/paired.py")


@pytest.mark.parametrize("only_a, only_b, p", [(0, 0, 1.0), (0, 5, 2 / 32), (5, 0, 2 / 32), (8, 9, 1.0), (47, 2, 2 * (1 + 49 + 1176) / 2**49)])
def test_exact_mcnemar_is_two_sided_on_the_discordant_seeds(only_a, only_b, p):
    assert paired.mcnemar_exact(only_a, only_b) == pytest.approx(p, rel=1e-9, abs=0)


def test_only_seeds_both_runs_played_are_compared():
    a = {0: True, 1: True, 2: False, 3: True}
    b = {0: True, 1: False, 2: True, 4: True}
    assert paired.compare(a, b) == "n=3 A won 2, B won 2; A only 1, B only 1; exact McNemar p = 1"


def test_wins_are_read_from_a_run_of_episode_logs(tmp_path):
    from test_finetune import write_logs
    from vlm_agent.runtime.agent_factory import default_model_dir
    from vlm_agent.runtime.checkpoints import load_policy

    policy = load_policy(default_model_dir(), greedy=True, max_new_tokens=64)
    write_logs(policy, tmp_path / "run", str(default_model_dir()), 3)
    wins = paired.wins_by_seed(tmp_path / "run")
    assert len(wins) == 3 and all(isinstance(w, bool) for w in wins.values())
