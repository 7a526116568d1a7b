"""vlm_agent/ALFWorld-v0 on a handful of real ALFWorld games (old grammar, upgraded in memory)."""
import gc
import hashlib
import json
import os
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from typer.testing import CliRunner

import vlm_agent.envs  # noqa: F401  (registers the environments)
from vlm_agent.agent.experts import PrivilegedExpertAgent
from vlm_agent.agent.parsing import parse_action
from vlm_agent.agent.prompts import build_prompt
from vlm_agent.cli.main import app
from vlm_agent.envs.alfworld.engine import grounding, prefetch
from vlm_agent.envs.alfworld.engine.games import TASK_TYPES, find_games, read_game
from vlm_agent.runtime.observation import observation_from

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "alfworld"
ENV_ID = "vlm_agent/ALFWorld-v0"
pytestmark = pytest.mark.skipif(not (REAL / "json_2.1.1" / "valid_seen").is_dir(),
                                reason="no real ALFWorld games in ../shared/alfworld")


def first_game_of_each_type() -> list[Path]:
    """One loadable trial folder per task type (the first in sorted order)."""
    chosen = {}
    for game in sorted((REAL / "json_2.1.1" / "valid_seen").glob("*/*/game.tw-pddl")):
        task_type = game.parts[-3].split("-")[0]
        if task_type in chosen or task_type not in TASK_TYPES:
            continue
        if json.loads(game.read_text()).get("solvable"):
            chosen[task_type] = game.parent
    return [chosen[t] for t in TASK_TYPES]


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """Translations go to a temp cache, not the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLM_AGENT_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A small data folder in the official layout: six real games, one per task type."""
    root = tmp_path_factory.mktemp("alfworld")
    for trial in first_game_of_each_type():
        shutil.copytree(trial, root / "json_2.1.1" / "valid_seen" / trial.parent.name / trial.name)
    return root


@pytest.fixture(scope="module")
def env(data):
    # No prefetching: the prefetch tests below own the process's worker.
    environment = gym.make(ENV_ID, data_dir=str(data), split="valid_seen", prefetch=0)
    yield environment
    environment.close()


def play_expert(env, seed):
    agent = PrivilegedExpertAgent(seed=seed)  # alfworld's handcoded expert (`expert` is the teacher)
    frame, info = env.reset(seed=seed)
    total, steps = 0.0, 0
    while True:
        decision = agent.act([observation_from(ENV_ID, frame, info)])[0]
        assert decision.parse.ok, decision.text
        frame, reward, terminated, truncated, info = env.step(decision.parse.action)
        total, steps = total + reward, steps + 1
        if terminated or truncated:
            return info, total, steps


def test_the_fixed_expert_wins_one_real_game_of_each_type_and_earns_the_papers_reward(env):
    seen = set()
    for seed in range(6):
        info, total, steps = play_expert(env, seed)
        assert info["success"] and info["won"] and info["goal_condition_success"] == 1.0, info["game_file"]
        assert steps < 50 and total >= 51.0  # the last step pays 50 * won + 1 * goal conditions
        seen.add(info["task_type"])
    assert seen == set(TASK_TYPES)


def test_observation_carries_frame_text_task_commands_and_facts(env):
    frame, info = env.reset(seed=3)
    assert frame.shape == (300, 300, 3) and frame.dtype == np.uint8
    assert info["text"].startswith("You are in the middle of a room") and "Welcome" not in info["text"]
    assert info["task_text"] and info["task_type"] in TASK_TYPES
    assert "look" in info["legal_actions"] and any(a.startswith("go to ") for a in info["legal_actions"])
    assert Path(info["game_file"]).name == "game.tw-pddl" and info["won"] is False
    prompt = build_prompt(observation_from(ENV_ID, frame, info))
    assert info["task_text"] in prompt and "Admissible actions: " in prompt and info["text"][:60] in prompt


def test_invalid_command_costs_one_changes_nothing_and_counts_toward_the_limit(data):
    env = gym.make(ENV_ID, data_dir=str(data), max_steps=3, goal_condition="delta")  # no standing reward
    frame, info = env.reset(seed=0)
    for step in range(1, 4):
        after, reward, terminated, truncated, info2 = env.step("fly to the moon")
        assert reward == -1.0 and info2["invalid_action"] and not terminated
        assert np.array_equal(after, frame) and info2["legal_actions"] == info["legal_actions"]
        assert truncated == (step == 3)
    assert info2["success"] is False and "fly to the moon" in info2["history"][-1]


def test_same_seed_same_game_same_frames_and_history_is_bounded(data):
    first = gym.make(ENV_ID, data_dir=str(data), history_length=2)
    second = gym.make(ENV_ID, data_dir=str(data), history_length=2)
    frames = []
    for env in (first, second):
        frame, info = env.reset(seed=4)
        run = [frame]
        for _ in range(4):
            frame, _, _, _, info = env.step(info["state"]["expert_action"])
            run.append(frame)
        frames.append(run)
        assert len(info["history"]) == 2 and info["history"][-1].startswith("> ")
    assert all(np.array_equal(a, b) for a, b in zip(*frames))
    assert not np.array_equal(frames[0][0], frames[0][-1])  # the frame follows the state


def test_game_files_are_upgraded_in_memory_and_never_written(data, env):
    files = sorted(data.glob("json_2.1.1/valid_seen/*/*/game.tw-pddl"))
    before = {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    game = read_game(files[0])
    assert game.upgraded and "move {o} to {r}" in game.grammar and game.sentence
    env.reset(seed=0)
    env.step(env.unwrapped.state["admissible_commands"][0])
    assert {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in files} == before


def test_bad_game_files_are_skipped_with_one_line_naming_each(data, tmp_path, caplog):
    root = tmp_path / "data"
    shutil.copytree(data, root)
    trials = sorted(root.glob("json_2.1.1/valid_seen/*/*"))
    (trials[0] / "game.tw-pddl").unlink()
    (trials[1] / "game.tw-pddl").write_text("{ not json")
    marked = json.loads((trials[2] / "game.tw-pddl").read_text())
    (trials[2] / "game.tw-pddl").write_text(json.dumps({**marked, "solvable": False}))
    # An unsolvable problem that claims to be solvable: found when the engine translates it.
    unsolvable = next(p for p in sorted((REAL / "json_2.1.1" / "valid_seen").glob("*/*/game.tw-pddl"))
                      if json.loads(p.read_text()).get("solvable") is False)
    (trials[3] / "game.tw-pddl").write_text(json.dumps({**json.loads(unsolvable.read_text()), "solvable": True}))
    with caplog.at_level("WARNING", logger="vlm_agent.alfworld"):
        env = gym.make(ENV_ID, data_dir=str(root))
        assert len(env.unwrapped.games) == 3
        for seed in range(4):
            env.reset(seed=seed)
    lines = [r.getMessage() for r in caplog.records]
    for trial in trials[:4]:
        assert sum(str(trial) in line for line in lines) == 1, (trial, lines)
    assert len(env.unwrapped.games) == 2 and all("\n" not in line for line in lines)


def test_folder_without_games_or_split_is_a_clear_error(tmp_path):
    (tmp_path / "json_2.1.1" / "valid_seen" / "empty").mkdir(parents=True)
    with pytest.raises(ValueError, match="no playable ALFWorld games"):
        find_games(tmp_path, "valid_seen")
    with pytest.raises(FileNotFoundError, match="no ALFWorld split 'train'"):
        find_games(tmp_path, "train")
    with pytest.raises(ValueError, match="unknown ALFWorld split"):
        find_games(tmp_path, "test")


def test_cli_plays_real_games_and_reports_task_types_or_one_line_errors(data, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["play", "alfworld", "--agent", "random", "--episodes", "2", "--headless",
                                 "--alfworld-data", str(data), "--log-dir", str(tmp_path / "logs")])
    assert result.exit_code == 0, result.output
    assert "by task type" in result.output
    empty = tmp_path / "empty"
    (empty / "json_2.1.1" / "valid_seen").mkdir(parents=True)
    result = runner.invoke(app, ["play", "alfworld", "--agent", "random", "--episodes", "1", "--headless",
                                 "--alfworld-data", str(empty), "--log-dir", str(tmp_path / "logs")])
    assert result.exit_code == 2 and "no playable ALFWorld games" in result.output
    assert "Traceback" not in result.output


def test_expert_answers_parse_and_explain_the_action(env):
    frame, info = env.reset(seed=1)
    frame, *_, info = env.step(info["state"]["expert_action"])  # "look" first, then a real move
    decision = PrivilegedExpertAgent(seed=0).act([observation_from(ENV_ID, frame, info)])[0]
    answer = json.loads(decision.text)
    assert answer["action"] == info["state"]["expert_action"]
    assert info["task_text"] in answer["thoughts"] and parse_action(decision.text, info["legal_actions"]).ok


def play_seeds(env, seeds, steps=3):
    """Frames and infos of a short expert rollout over `seeds`, as a rollout resets them."""
    seen = []
    for seed in seeds:
        frame, info = env.reset(seed=seed)
        seen.append((frame, info))
        for _ in range(steps):
            frame, _, _, _, info = env.step(info["state"]["expert_action"] or "look")
            seen.append((frame, info))
    return seen


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Nothing translated yet, in memory or on disk, nothing in flight, and no prefetch worker running."""
    monkeypatch.setenv("VLM_AGENT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(grounding, "_MEMORY", type(grounding._MEMORY)())
    monkeypatch.setattr(grounding, "IN_FLIGHT", {})
    gc.collect()  # environments earlier tests dropped without close() let go of the worker
    assert prefetch_workers() == []


def prefetch_workers() -> list[int]:
    """The pids of this process's living children that run the prefetch worker (Linux /proc)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if int(parent) == os.getpid() and state != "Z" and prefetch.WORKER.encode() in command:
            pids.append(int(stat.parent.name))
    return pids


def count_translations(monkeypatch) -> list:
    """Each translation done in this process (not in the prefetch worker) appends its domain."""
    done, translate = [], grounding._translate
    monkeypatch.setattr(grounding, "_translate", lambda domain, problem: done.append(domain) or translate(domain, problem))
    return done


def test_prefetched_games_are_translated_by_the_worker_and_play_exactly_as_without(data, empty_caches, tmp_path,
                                                                                   monkeypatch):
    reference = play_seeds(gym.make(ENV_ID, data_dir=str(data), prefetch=0), range(3))
    monkeypatch.setenv("VLM_AGENT_CACHE", str(tmp_path / "prefetched"))
    monkeypatch.setattr(grounding, "_MEMORY", type(grounding._MEMORY)())
    here = count_translations(monkeypatch)
    env = gym.make(ENV_ID, data_dir=str(data), prefetch=2)
    try:
        prefetched = play_seeds(env, range(3))
    finally:
        env.close()
    assert len(here) == 1  # only the first game; the worker did seeds 1 and 2 during the episodes
    for game in env.unwrapped.games[1:3]:  # and wrote them to the disk cache
        text = read_game(game.game_file)
        assert grounding.cache_path(grounding.game_key(text.domain, text.problem)).is_file()
    for (frame_a, info_a), (frame_b, info_b) in zip(reference, prefetched, strict=True):
        assert np.array_equal(frame_a, frame_b) and info_a == info_b


def test_close_stops_the_prefetch_worker_and_leaves_nothing_in_flight(data, empty_caches):
    env = gym.make(ENV_ID, data_dir=str(data))
    env.reset(seed=0)
    prefetcher = env.unwrapped.prefetcher
    assert len(grounding.IN_FLIGHT) == 2 and prefetcher.process.poll() is None
    env.close()
    assert prefetcher.process.poll() is not None and not prefetcher.active
    assert not grounding.IN_FLIGHT  # finished work went to the memory cache, queued work was dropped


def test_a_dead_prefetch_worker_only_moves_the_work_back_to_reset(data, empty_caches, tmp_path, monkeypatch):
    reference = [info for _, info in play_seeds(gym.make(ENV_ID, data_dir=str(data), prefetch=0), range(4), steps=0)]
    monkeypatch.setenv("VLM_AGENT_CACHE", str(tmp_path / "second"))
    monkeypatch.setattr(grounding, "_MEMORY", type(grounding._MEMORY)())
    env = gym.make(ENV_ID, data_dir=str(data))
    env.reset(seed=0)
    env.unwrapped.prefetcher.process.kill()
    infos = [env.reset(seed=seed)[1] for seed in range(4)]
    env.close()
    assert infos == reference and not grounding.IN_FLIGHT


def game_keys(env) -> list[str]:
    """The translation key of each game, in seed order."""
    return [grounding.game_key(text.domain, text.problem) for text in (read_game(g.game_file) for g in env.unwrapped.games)]


def test_environments_of_a_process_share_one_prefetch_worker_until_the_last_closes(data, empty_caches):
    envs = [gym.make(ENV_ID, data_dir=str(data)) for _ in range(3)]
    for seed, env in enumerate(envs):  # as a loop with three environments starts
        env.reset(seed=seed)
    assert len({id(env.unwrapped.prefetcher.worker) for env in envs}) == 1
    assert len(prefetch_workers()) == 1
    envs[0].close()
    envs[1].close()
    assert prefetch_workers() == [envs[2].unwrapped.prefetcher.process.pid]
    envs[2].close()
    assert prefetch_workers() == [] and not grounding.IN_FLIGHT


def test_a_dropped_environment_lets_go_of_the_prefetch_worker(data, empty_caches):
    env = gym.make(ENV_ID, data_dir=str(data))
    env.reset(seed=0)
    process = env.unwrapped.prefetcher.process
    del env
    gc.collect()
    assert process.poll() is not None and prefetch_workers() == []
    assert all(future.done() for future in grounding.IN_FLIGHT.values())  # failed or cancelled: redone at reset


def test_closing_one_environment_drops_only_what_it_alone_wanted(data, empty_caches, tmp_path, monkeypatch):
    reference = [info for _, info in play_seeds(gym.make(ENV_ID, data_dir=str(data), prefetch=0), range(6), steps=0)]
    monkeypatch.setenv("VLM_AGENT_CACHE", str(tmp_path / "second"))
    monkeypatch.setattr(grounding, "_MEMORY", type(grounding._MEMORY)())
    first, second = gym.make(ENV_ID, data_dir=str(data)), gym.make(ENV_ID, data_dir=str(data))
    keys = game_keys(first)
    first.reset(seed=0)  # wants games 1 and 2
    second.reset(seed=3)  # wants games 4 and 5
    first.close()
    assert set(grounding.IN_FLIGHT) <= {keys[4], keys[5]}
    assert second.unwrapped.prefetcher.process.poll() is None
    infos = [second.reset(seed=seed)[1] for seed in (4, 1, 2, 5)]
    second.close()
    assert infos == [reference[seed] for seed in (4, 1, 2, 5)] and not grounding.IN_FLIGHT


def test_a_game_two_environments_want_stays_in_flight_when_one_of_them_closes(data, empty_caches, monkeypatch):
    first, second = gym.make(ENV_ID, data_dir=str(data)), gym.make(ENV_ID, data_dir=str(data))
    keys = game_keys(first)
    first.reset(seed=0)  # wants games 1 and 2
    second.reset(seed=1)  # takes game 1 from the worker, wants 2 (as the first does) and 3
    first.close()
    assert set(grounding.IN_FLIGHT) <= {keys[2], keys[3]}
    here = count_translations(monkeypatch)
    second.reset(seed=2)
    second.close()
    assert here == [] and not grounding.IN_FLIGHT  # game 2 came from the worker
