"""Generated ALFWorld games: official layout, all task types, deterministic, cached atomically,
and won by the fixed handcoded expert through alfworld's own AlfredTWEnv."""
import json
import re
import time
from pathlib import Path

import gymnasium as gym
import pytest

import vlm_agent.envs  # noqa: F401  (registers the environments)
import vlm_agent.envs.alfworld.engine.games as games
import vlm_agent.envs.alfworld.generation.generate as generate
from vlm_agent.envs.alfworld.engine.games import TASK_TYPES

REAL_GAMES = Path(__file__).resolve().parents[1].parent / "shared" / "alfworld" / "json_2.1.1" / "valid_seen"
PER_SPLIT = 2  # the task types rotate across splits, so 2 a split already cover all 6


@pytest.fixture(scope="module")
def root(cache):
    return generate.generated_data_root(seed=0, num_games_per_split=PER_SPLIT)


def trials(root):
    return sorted(p.parent for p in root.glob("json_2.1.1/*/*/*/game.tw-pddl"))


def test_layout_is_the_official_one_with_balanced_task_types(root, cache):
    assert root.is_relative_to(cache / "alfworld-generated")
    assert (root / "logic" / "alfred.pddl").read_text() == generate.DOMAIN_FILE.read_text()
    assert (root / "logic" / "alfred.twl2").read_text() == generate.GRAMMAR_FILE.read_text()
    found = trials(root)
    assert len(found) == 3 * PER_SPLIT
    for split in generate.SPLIT_SCENES:
        assert len([t for t in found if t.parts[-3] == split]) == PER_SPLIT
    seen = set()
    for trial in found:
        traj = json.loads((trial / "traj_data.json").read_text())
        game = json.loads((trial / "game.tw-pddl").read_text())
        task, obj, movable, recep, scene = trial.parent.name.split("-")
        params = traj["pddl_params"]
        assert (task, obj, movable) == (traj["task_type"], params["object_target"], "None")
        assert recep == (params["parent_target"] or params["toggle_target"])
        assert int(scene) in generate.SPLIT_SCENES[trial.parts[-3]]
        assert game["solvable"] is True and "UNKNOWN GOAL" not in game["grammar"]
        assert traj["turk_annotations"]["anns"][0]["task_desc"] in game["grammar"]
        seen.add(task)
    assert seen == set(TASK_TYPES)


def test_same_seed_gives_the_same_bytes_and_another_seed_differs(root):
    first = next(t for t in trials(root) if t.parts[-3] == "train" and t.name.endswith("_00000"))
    slot = generate.plan_slots(0, PER_SPLIT)[0]
    again = generate.generate_slot(slot)
    assert again.folder == first.relative_to(root).as_posix()
    assert again.game == (first / "game.tw-pddl").read_bytes()
    assert again.traj == (first / "traj_data.json").read_bytes()
    other = generate.generate_slot(generate.plan_slots(1, PER_SPLIT)[0])
    assert other.game != again.game


def test_second_call_reuses_the_cache_without_generating(root, monkeypatch):
    monkeypatch.setattr(generate, "generate_slot", lambda slot: pytest.fail("regenerated"))
    start = time.perf_counter()
    assert generate.generated_data_root(seed=0, num_games_per_split=PER_SPLIT) == root
    assert time.perf_counter() - start < 0.5


def fake_game(slot):
    return generate.GeneratedGame(f"json_2.1.1/{slot.split}/x-{slot.index}/trial", b"{}", b"{}", 1)


def test_incomplete_temp_folder_is_ignored_and_a_crash_leaves_no_cache(cache, monkeypatch):
    monkeypatch.setattr(generate, "_generate_all", lambda slots: map(fake_game, slots))
    final = cache / "alfworld-generated" / f"v{generate.GENERATOR_VERSION}" / "seed7-n1"
    abandoned = final.with_name(f"{final.name}{generate.TEMP_MARK}999999999-dead")
    (abandoned / "json_2.1.1" / "train").mkdir(parents=True)

    def crash(slots):
        yield fake_game(slots[0])
        raise KeyboardInterrupt

    monkeypatch.setattr(generate, "_generate_all", crash)
    with pytest.raises(KeyboardInterrupt):
        generate.generated_data_root(seed=7, num_games_per_split=1)
    assert not final.exists() and not abandoned.exists()
    assert not list(final.parent.glob(f"{final.name}{generate.TEMP_MARK}*"))

    monkeypatch.setattr(generate, "_generate_all", lambda slots: map(fake_game, slots))
    assert generate.generated_data_root(seed=7, num_games_per_split=1) == final
    assert len(list(final.glob("json_2.1.1/*/*/trial"))) == 3 and (final / generate.MANIFEST).exists()


def test_alfworld_collects_every_game_as_playable(root):
    from alfworld.agents.environment import get_environment

    config = {
        "env": {"type": "AlfredTWEnv", "goal_desc_human_anns_prob": 0, "task_types": [1, 2, 3, 4, 5, 6]},
        "dataset": {"data_path": str(root / "json_2.1.1"), "num_train_games": -1},
    }
    alfred = get_environment("AlfredTWEnv")(config, train_eval="train")  # alfworld's own filters
    assert alfred.num_games == 3 * PER_SPLIT


def test_env_without_data_plays_generated_games_and_says_so(root, monkeypatch, caplog):
    monkeypatch.delenv("ALFWORLD_DATA", raising=False)
    monkeypatch.setattr(games, "_REPORTED", set())
    monkeypatch.setattr(generate, "generate_slot", lambda slot: pytest.fail("regenerated"))
    with caplog.at_level("WARNING", logger="vlm_agent.alfworld"):
        env = gym.make("vlm_agent/ALFWorld-v0", split="valid_seen", generated_games=PER_SPLIT)
    notices = [r.getMessage() for r in caplog.records if "generated" in r.getMessage()]
    assert len(notices) == 1 and "alfworld-download" in notices[0]
    assert {g.game_file.parent for g in env.unwrapped.games} == {t for t in trials(root) if t.parts[-3] == "valid_seen"}
    for seed in range(PER_SPLIT):
        frame, info = env.reset(seed=seed)
        for _ in range(generate.CHECK_STEPS):
            frame, reward, terminated, truncated, info = env.step(info["state"]["expert_action"])
            if terminated or truncated:
                break
        assert info["success"], info["game_file"]


@pytest.mark.skipif(not REAL_GAMES.exists(), reason="no real ALFWorld games on this machine")
def test_generated_problems_use_only_what_real_games_use(root):
    def predicates(problem):
        init = problem.split("(:init", 1)[1].split("(:goal", 1)[0]
        return set(re.findall(r"\((\w+) ", init))

    real_game = json.loads(next(REAL_GAMES.glob("*/*/game.tw-pddl")).read_text())
    real = set().union(*(predicates(json.loads(p.read_text())["pddl_problem"])
                         for p in sorted(REAL_GAMES.glob("*/*/game.tw-pddl"))[:40]))
    for trial in trials(root):
        game = json.loads((trial / "game.tw-pddl").read_text())
        assert set(game) == set(real_game)
        assert predicates(game["pddl_problem"]) <= real | {"sliceable"}
