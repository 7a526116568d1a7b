"""The fast engine is alfworld's engine: same text, commands, facts and expert plan as the stock PddlEnv."""
import gzip
import json
from pathlib import Path

import pytest
import textworld
from textworld.envs import PddlEnv

from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
from alfworld.agents.expert.handcoded_expert import BasePolicy
from vlm_agent.envs.alfworld.engine import grounding
from vlm_agent.envs.alfworld.engine.engine import make_engine
from vlm_agent.envs.alfworld.engine.expert import ExpertPlan, apply_expert_fix
from vlm_agent.envs.alfworld.engine.games import current_game_json, read_game

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "alfworld" / "json_2.1.1" / "valid_seen"
# A pick-two game: the expert bug shows on these.
GAMES = ("pick_two_obj_and_place-", "pick_cool_then_place_in_recep-")


def upgraded_copy(game: Path, folder: Path) -> Path:
    """The game with the wheel's domain and grammar written out, so the stock PddlEnv can load it."""
    folder.mkdir(parents=True)
    (folder / "game.tw-pddl").write_text(json.dumps(current_game_json(game)))
    (folder / "traj_data.json").write_bytes((game.parent / "traj_data.json").read_bytes())
    return folder / "game.tw-pddl"


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VLM_AGENT_CACHE", str(tmp_path / "cache"))


@pytest.mark.skipif(not REAL.is_dir(), reason="no real ALFWorld games in ../shared/alfworld")
@pytest.mark.parametrize("prefix", GAMES)
def test_fast_engine_matches_the_stock_engine_step_for_step(prefix, tmp_path):
    game = next(p for p in sorted(REAL.glob(f"{prefix}*/*/game.tw-pddl")) if json.loads(p.read_text())["solvable"])
    infos = textworld.EnvInfos(admissible_commands=True, won=True, facts=True, extras=["gamefile"])
    stock = ExpertPlan(AlfredInfos(AlfredDemangler(PddlEnv(infos), shuffle=False)))
    fast = make_engine()
    stock.load(str(upgraded_copy(game, tmp_path / "stock")))
    fast.load(str(game))  # the original old-grammar file
    for env in (stock, fast):
        env.seed_expert(7)
    a, b = stock.reset(), fast.reset()
    for _ in range(50):
        assert a["feedback"] == b["feedback"]
        assert a["admissible_commands"] == b["admissible_commands"]
        assert sorted(map(str, a["facts"])) == sorted(map(str, b["facts"]))
        assert a["extra.expert_plan"] == b["extra.expert_plan"] and a["won"] == b["won"]
        if a["won"] or not a["extra.expert_plan"]:
            break
        command = a["extra.expert_plan"][0]
        (a, _, _), (b, _, _) = stock.step(command), fast.step(command)
    assert b["won"], "the fixed expert should win this game"
    # A second reset of the same game starts over from the cached translation.
    again = fast.reset()
    assert not again["won"] and again["admissible_commands"] == stock.reset()["admissible_commands"]


def test_expert_fix_tracks_move_as_put_and_applies_once():
    apply_expert_fix()
    fixed = BasePolicy.update_state_tracking
    apply_expert_fix()
    assert BasePolicy.update_state_tracking is fixed
    policy = BasePolicy({"object_target": "apple", "task_type": "pick_two_obj_and_place"})
    policy.inventory = ["apple 1"]
    policy.update_state_tracking({"feedback": "You move the apple 1 to the countertop 1."},
                                 "move apple 1 to countertop 1")
    assert policy.inventory == [] and "apple 1" in policy.object_blacklist


@pytest.mark.skipif(not REAL.is_dir(), reason="no real ALFWorld games in ../shared/alfworld")
def test_translation_is_kept_on_disk_and_a_damaged_cache_file_is_redone(tmp_path, monkeypatch):
    game = read_game(next(p for p in sorted(REAL.glob("pick_and_place_simple-*/*/game.tw-pddl"))
                          if json.loads(p.read_text())["solvable"]))
    first = grounding.ground(game.domain, game.problem)
    files = list((tmp_path / "cache").rglob("*.json.gz"))
    assert len(files) == 1
    monkeypatch.setattr(grounding, "_MEMORY", type(grounding._MEMORY)())  # as in a new process
    monkeypatch.setattr(grounding.fast_downward, "pddl2sas", lambda *a, **k: pytest.fail("translated again"))
    assert grounding.ground(game.domain, game.problem) == first
    monkeypatch.undo()
    monkeypatch.setenv("VLM_AGENT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(grounding, "_MEMORY", type(grounding._MEMORY)())
    files[0].write_bytes(b"\x1f\x8b truncated")
    assert grounding.ground(game.domain, game.problem) == first  # translated again and rewritten
    assert json.loads(gzip.decompress(files[0].read_bytes()))["sas"] == first.sas
