"""docs/make_results.py: eval JSON files become docs/results.md's rows, cells and per-type ALFWorld table."""
from __future__ import annotations

import pytest
from script_loader import load_script


@pytest.fixture(scope="module")
def make_results():
    return load_script("docs/make_results.py")


def result(env: str, success: float, episodes: int, row: str | None = None, **extra) -> dict:
    data = {
        "env_id": f"vlm_agent/{env}-v0", "policy_version": "default-sft-v9", "prompt": "cot", "success_rate": success,
        "success_ci95": [max(0.0, success - 0.1), min(1.0, success + 0.1)], "episodes": episodes,
        "invalid_action_rate": 0.0, "mean_length": 3.0, "command": f"vlm-agent eval {env.lower()}", **extra,
    }
    if row:
        data["row"] = row
    return data


def table_row(text: str, starts: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(starts))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_cells_land_in_their_row_and_column(make_results):
    text = make_results.render([
        result("NumberLine", 1.0, 500),
        result("Blackjack", 0.42, 500),
        result("Blackjack", 0.45, 300, row="default-sft-v9, SFT + PPO"),
    ])
    sft = table_row(text, "| vlm-agent default-sft-v9 |")
    assert sft[1].startswith("**100.0**") and "n=500" in sft[1]
    assert sft[2] == "-" and sft[4].startswith("**42.0**")
    ppo = table_row(text, "| vlm-agent default-sft-v9, SFT + PPO |")
    assert ppo[4].startswith("**45.0**") and ppo[1] == "-"
    assert table_row(text, "| paper: RL4VLM (LLaVA")[3] == "2.3"
    assert "vlm-agent eval blackjack" in text


def test_old_files_without_a_row_are_named_by_version_and_prompt(make_results):
    text = make_results.render([result("EZPoints", 0.5, 10, prompt="action-only")])
    assert table_row(text, "| vlm-agent default-sft-v9, action-only |")[2].startswith("**50.0**")


def test_alfworld_cells_fill_the_per_type_table(make_results):
    by_type = {"pick_and_place_simple": {"episodes": 35, "success_rate": 0.4, "mean_return": 1.0},
               "pick_two_obj_and_place": {"episodes": 24, "success_rate": 0.0, "mean_return": 0.0}}
    text = make_results.render([result("ALFWorld", 0.2, 140, by_task_type=by_type)])
    assert table_row(text, "| vlm-agent default-sft-v9 |")[5].startswith("**20.0**")
    per_type = text.split("per task type")[1]
    mine = table_row(per_type, "| vlm-agent default-sft-v9 |")
    assert mine[1] == "40.0 (n=35)" and mine[6] == "0.0 (n=24)" and mine[2] == "-"
    assert table_row(per_type, "| paper: RL4VLM |")[1] == "47.4"


def test_no_alfworld_cell_no_per_type_table(make_results):
    assert "per task type" not in make_results.render([result("NumberLine", 1.0, 5)])
