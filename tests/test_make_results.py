"""docs/make_results.py: eval JSON files become docs/results.md's rows, cells and per-type ALFWorld table."""
from __future__ import annotations

import pytest
from script_loader import load_script


@pytest.fixture(scope="module")
def make_results():
    module = load_script("docs/make_results.py")
    ceilings = module.Ceilings((0.4295, 0.0945, 0.476), (0.4316, 0.0866, 0.4818), 0.731, 0.916, 715)
    render = module.render
    module.render = lambda results, ceilings=ceilings: render(results, ceilings)  # computing them takes minutes
    return module


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
    assert sft[1:4] == ["clear", "cot", "greedy"]
    assert sft[4].startswith("**100.0**") and "n=500, seeds 0-499" in sft[4]
    assert sft[5] == "-" and sft[7].startswith("**42.0**")
    ppo = table_row(text, "| vlm-agent default-sft-v9, SFT + PPO |")
    assert ppo[7].startswith("**45.0**") and ppo[4] == "-"
    assert table_row(text, "| paper: RL4VLM (LLaVA")[6] == "2.3"
    assert "vlm-agent eval blackjack" in text


def test_old_files_without_a_row_are_named_by_version_and_prompt(make_results):
    text = make_results.render([result("EZPoints", 0.5, 10, prompt="action-only")])
    assert table_row(text, "| vlm-agent default-sft-v9, action-only |")[5].startswith("**50.0**")


def test_alfworld_cells_fill_the_per_type_table(make_results):
    by_type = {"pick_and_place_simple": {"episodes": 35, "success_rate": 0.4, "mean_return": 1.0},
               "pick_two_obj_and_place": {"episodes": 24, "success_rate": 0.0, "mean_return": 0.0}}
    text = make_results.render([result("ALFWorld", 0.2, 140, by_task_type=by_type)])
    assert table_row(text, "| vlm-agent default-sft-v9 |")[8].startswith("**20.0**")
    per_type = text.split("per task type")[1]
    mine = table_row(per_type, "| vlm-agent default-sft-v9 (cot, greedy; split valid_seen) |")
    assert mine[1] == "40.0 (n=35)" and mine[6] == "0.0 (n=24)" and mine[2] == "-"
    assert table_row(per_type, "| paper: RL4VLM (AI2-THOR first person) |")[1] == "47.4"


def test_no_alfworld_cell_no_per_type_table(make_results):
    assert "per task type" not in make_results.render([result("NumberLine", 1.0, 5)])


def test_alfworld_is_labelled_with_its_engine_and_split(make_results):
    text = make_results.render([result("ALFWorld", 0.0, 24, command="vlm-agent eval alfworld --split valid_unseen --episodes 24")])
    header = text.splitlines()[next(k for k, line in enumerate(text.splitlines()) if line.startswith("| method | frames"))]
    assert "ALFWorld (TextWorld engine with a drawn schematic frame (paper: AI2-THOR first person))" in header
    assert "n=24, valid_unseen" in table_row(text, "| vlm-agent default-sft-v9 |")[8]


def test_both_protocols_are_two_rows_side_by_side(make_results):
    greedy = {"decoding": "greedy", "success_rate": 0.5, "success_ci95": [0.4, 0.6], "episodes": 100,
              "invalid_action_rate": 0.0, "mean_length": 2.0}
    paper = {**greedy, "decoding": "sampled, temperature 0.2", "success_rate": 0.3}
    text = make_results.render([result("NumberLine", 0.5, 100, render="paper", split="seeds 0-99",
                                       protocols={"greedy": greedy, "paper": paper})])
    rows = [line for line in text.splitlines() if line.startswith("| vlm-agent")]
    assert [row.split("|")[2:5] for row in rows] == [[" paper ", " cot ", " greedy "], [" paper ", " cot ", " sampled, temperature 0.2 "]]
    assert "**50.0**" in rows[0] and "**30.0**" in rows[1]


def test_paper_rows_state_the_papers_terms_and_the_ceilings_are_listed(make_results):
    text = make_results.render([result("Blackjack", 0.434, 500)])
    assert table_row(text, "| paper: RL4VLM (LLaVA")[1:4] == list(make_results.PAPER_TERMS)
    assert "highest win rate any policy reaches is **43.2%** (it draws 8.7%)" in text
    assert "**73.1%** of deals" in text and "**91.6%** under the paper's" in text


def test_the_ceilings_section_gives_the_experts_outcome(make_results):
    from vlm_agent.agent.experts.blackjack import optimal_outcome

    ceilings = make_results.Ceilings(optimal_outcome(), optimal_outcome(), 0.5, 0.6, 1)
    assert "42.9%" in "\n".join(make_results.ceilings_section(ceilings))


def test_scripted_agents_rows_say_they_read_no_frame_and_decode_nothing(make_results):
    text = make_results.render([
        result("ALFWorld", 1.0, 140, row="teacher", agent="expert", split="valid_seen (official)", memory=True),
        result("ALFWorld", 0.5, 140, row="model, no memory", split="valid_seen (official)", memory=False),
        result("ALFWorld", 0.9, 140, row="teacher, memory off", agent="expert", split="valid_seen (official)", memory="off"),
        result("ALFWorld", 1.0, 140, row="teacher ranked", agent="expert", split="valid_seen (official)", memory="ranked"),
    ])
    teacher = table_row(text, "| vlm-agent teacher |")
    assert teacher[1:4] == ["-", "memory", "scripted"] and "n=140, valid_seen (official)" in teacher[8]
    # memory styles (files since `--memory ranked|grouped|off`): off is no memory, like false
    assert table_row(text, "| vlm-agent teacher, memory off |")[1:4] == ["-", "-", "scripted"]
    assert table_row(text, "| vlm-agent teacher ranked |")[1:4] == ["-", "memory", "scripted"]
    assert table_row(text, "| vlm-agent model, no memory |")[1:4] == ["clear", "cot", "greedy"]


def test_the_decoding_says_constrained_from_what_was_logged_not_from_the_row_name(make_results):
    logged = {"decoding": "greedy", "constrained": True, "success_rate": 0.5, "success_ci95": [0.4, 0.6], "episodes": 100,
              "invalid_action_rate": 0.0, "mean_length": 2.0}
    text = make_results.render([
        result("ALFWorld", 0.5, 100, row="model default", protocols={"greedy": logged}),  # on by the model's own default: no flag typed
        result("ALFWorld", 0.2, 100, row="model free", protocols={"greedy": {**logged, "constrained": False}}),
        result("ALFWorld", 0.4, 100, row="older file", command="vlm-agent eval alfworld --constrain-actions"),  # before it was logged
    ])
    assert table_row(text, "| vlm-agent model default |")[3] == "greedy, actions constrained"
    assert table_row(text, "| vlm-agent model free |")[3] == "greedy"
    assert table_row(text, "| vlm-agent older file |")[3] == "greedy, actions constrained"
    assert "| vlm-agent model default (cot, greedy, actions constrained; split" in text  # the per-type table too
