"""The ALFWorld teacher (`expert`): wins real valid_train games and generated games from task, memory and
admissible commands alone; the memory reaches the log and is rebuilt from its texts; `expert-privileged`
is alfworld's handcoded expert."""
import dataclasses
import json
import random
import shutil
from pathlib import Path

import gymnasium as gym
import pytest

import vlm_agent.envs  # noqa: F401  (registers the environments)
from vlm_agent.agent.experts import ExpertAgent, PrivilegedExpertAgent
from vlm_agent.agent.experts.alfworld_prior import PRIOR_FILE, count_placements, load_prior
from vlm_agent.agent.experts.alfworld_teacher import alfworld_teacher
from vlm_agent.agent.prompts import build_prompt
from vlm_agent.envs.alfworld.engine.games import TASK_TYPES
from vlm_agent.envs.alfworld.memory import ALFWorldMemory
from vlm_agent.envs.memory import replay
from vlm_agent.runtime.agent_factory import make_agent
from vlm_agent.runtime.episode_log import EpisodeWriter
from vlm_agent.runtime.log_reader import iter_episodes
from vlm_agent.runtime.loop import LoopConfig, RolloutLoop
from vlm_agent.runtime.observation import observation_from
from vlm_agent.runtime.records import RecordBus

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "alfworld" / "json_2.1.1"
ENV_ID = "vlm_agent/ALFWorld-v0"
real_games = pytest.mark.skipif(not (REAL / "valid_train").is_dir(), reason="no real ALFWorld games in ../shared")


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLM_AGENT_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def train_data(tmp_path_factory):
    """One valid_train game of each task type (never valid_seen, the evaluation split), official layout."""
    root = tmp_path_factory.mktemp("alfworld")
    chosen = {}
    for game in sorted((REAL / "valid_train").glob("*/*/game.tw-pddl")):
        task_type = game.parts[-3].split("-")[0]
        if task_type in TASK_TYPES and task_type not in chosen and json.loads(game.read_text()).get("solvable"):
            chosen[task_type] = game.parent
    for trial in chosen.values():
        shutil.copytree(trial, root / "json_2.1.1" / "valid_train" / trial.parent.name / trial.name)
    return root


def play_logged(tmp_path, data, split, episodes, agent=None):
    writer = EpisodeWriter(tmp_path / "run", {"run_id": "t"})
    bus = RecordBus()
    bus.subscribe(writer.on_step)
    config = LoopConfig(env_id=ENV_ID, episodes=episodes, env_kwargs={"data_dir": str(data), "split": split,
                                                                       "prefetch": 0})
    loop = RolloutLoop(config, agent or ExpertAgent(seed=0), bus, "t")
    loop.run()
    loop.close()
    writer.close()
    return list(iter_episodes([tmp_path / "run"]))


@real_games
def test_teacher_wins_a_real_game_of_each_type_and_the_log_rebuilds_its_memory(train_data, tmp_path):
    episodes = play_logged(tmp_path, train_data, "valid_train", 6)
    assert {e.steps().__next__().task_type for e in episodes} == set(TASK_TYPES)
    for episode in episodes:
        steps = list(episode.steps())
        assert episode.success and len(steps) < 50, steps[0].info
        assert all(s.agent_kind == "expert" and not s.info["invalid_action"] for s in steps)
        # From the logged texts alone: the first observation, then (action sent, its legal actions,
        # the next observation). Block k+1 is the memory after step k, which that step's info holds;
        # block k is what the agent saw before step k, which its prompt shows.
        texts = [s.observation_text for s in steps]
        blocks = replay(ALFWorldMemory(), texts[0],
                        [(s.action_sent, s.legal_actions, after) for s, after in zip(steps, texts[1:])])
        for k, step in enumerate(steps):
            assert f"Memory:\n{blocks[k]}\nRecent steps:" in step.prompt or (
                k == 0 and f"Memory:\n{blocks[0]}\nObservation:" in step.prompt)
            if k + 1 < len(blocks):
                assert step.info["memory"] == blocks[k + 1]


@real_games
def test_teacher_decides_from_task_memory_and_commands_only_and_explains(train_data):
    env = gym.make(ENV_ID, data_dir=str(train_data), split="valid_train", prefetch=0)
    try:
        for seed in range(6):
            frame, info = env.reset(seed=seed)
            for _ in range(50):
                obs = observation_from(ENV_ID, frame, info)
                thoughts, action = alfworld_teacher(obs, random.Random(0))
                blind = dataclasses.replace(obs, state={"memory": obs.state["memory"]}, frame=frame * 0)
                assert alfworld_teacher(blind, random.Random(0)) == (thoughts, action)  # no engine fact, no frame
                assert obs.task_text in thoughts and thoughts.endswith(".") and action in obs.legal_actions
                frame, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
            assert info["won"], info["game_file"]
    finally:
        env.close()


@real_games
def test_memory_off_keeps_the_old_prompt_and_the_teacher_still_plays(train_data):
    env = gym.make(ENV_ID, data_dir=str(train_data), split="valid_train", prefetch=0, memory=False)
    try:
        frame, info = env.reset(seed=2)
        assert "memory" not in info and "memory" in info["state"]
        obs = observation_from(ENV_ID, frame, info)
        assert obs.memory == "" and "Memory:" not in build_prompt(obs)
        decision = ExpertAgent(seed=0).act([obs])[0]
        assert decision.parse.ok
    finally:
        env.close()


@real_games
def test_privileged_expert_is_alfworlds_handcoded_one_under_its_own_name(train_data):
    agent = make_agent("expert-privileged")
    assert isinstance(agent, PrivilegedExpertAgent) and agent.kind == "expert-privileged"
    assert type(make_agent("expert")) is ExpertAgent
    env = gym.make(ENV_ID, data_dir=str(train_data), split="valid_train", prefetch=0)
    try:
        frame, info = env.reset(seed=0)
        for _ in range(3):
            decision = agent.act([observation_from(ENV_ID, frame, info)])[0]
            assert decision.parse.action == info["state"]["expert_action"]
            frame, _, _, _, info = env.step(decision.parse.action)
    finally:
        env.close()


def test_teacher_wins_generated_games(tmp_path):
    from vlm_agent.envs.alfworld.generation import generate

    for index, task_type in enumerate(("look_at_obj_in_light", "pick_two_obj_and_place", "pick_cool_then_place_in_recep")):
        game = generate.generate_slot(generate.Slot(3, "valid_unseen", index, task_type))
        for name, content in (("game.tw-pddl", game.game), ("traj_data.json", game.traj)):
            (tmp_path / game.folder).mkdir(parents=True, exist_ok=True)
            (tmp_path / game.folder / name).write_bytes(content)
    episodes = play_logged(tmp_path / "logs", tmp_path, "valid_unseen", 3)
    assert len(episodes) == 3
    for episode in episodes:
        assert episode.success and len(list(episode.steps())) < 50


def test_prior_counts_placements_per_receptacle_kind_from_pddl_text():
    problem = """(:objects Apple_1 - object Fridge_1 - receptacle Cabinet_1 - receptacle Cabinet_2 - receptacle)
        (objectType Apple_1 AppleType) (receptacleType Fridge_1 FridgeType)
        (receptacleType Cabinet_1 CabinetType) (receptacleType Cabinet_2 CabinetType)
        (openable Fridge_1) (openable Cabinet_1) (inReceptacle Apple_1 Fridge_1)"""
    counts = count_placements([problem, problem])
    assert counts == {"games": 2, "placed": {"apple": {"fridge": 2}}, "receptacles": {"cabinet": 4, "fridge": 2},
                      "openable": {"cabinet": 2, "fridge": 2}}
    shipped = load_prior()
    assert shipped.chance("potato", "fridge") > shipped.chance("potato", "toilet")
    assert json.loads(PRIOR_FILE.read_text())["split"] == "valid_train"
