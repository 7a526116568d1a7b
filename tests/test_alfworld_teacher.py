"""The ALFWorld teacher (`expert`): wins real valid_train games and generated games from task, memory and
admissible commands alone; the memory reaches the log and is rebuilt from its texts; `expert-privileged`
is alfworld's handcoded expert."""
import dataclasses
import json
import random
import re
import shutil
from pathlib import Path

import gymnasium as gym
import pytest

import vlm_agent.envs  # noqa: F401  (registers the environments)
from vlm_agent.agent.experts import ExpertAgent, PrivilegedExpertAgent, ShuffledExpertAgent
from vlm_agent.envs.alfworld.search_prior import PRIOR_FILE, count_placements, load_prior
from vlm_agent.agent.experts.alfworld_teacher import alfworld_teacher, alfworld_teacher_ranked, alfworld_teacher_shuffled
from vlm_agent.agent.interface import Observation
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
        blocks = replay(ALFWorldMemory("ranked"), texts[0],
                        [(s.action_sent, s.legal_actions, after) for s, after in zip(steps, texts[1:])])
        for k, step in enumerate(steps):
            assert f"Memory:\n{blocks[k]}\nObservation:" in step.prompt
            if k + 1 < len(blocks):
                assert step.info["memory"] == blocks[k + 1]


def teacher_plays_each_type(train_data, check, **env_kwargs):
    """The teacher plays one valid_train game of each type, `check(obs, frame, thoughts, action)` at every step;
    each game must be won."""
    env = gym.make(ENV_ID, data_dir=str(train_data), split="valid_train", prefetch=0, **env_kwargs)
    try:
        for seed in range(6):
            frame, info = env.reset(seed=seed)
            for _ in range(50):
                obs = observation_from(ENV_ID, frame, info)
                thoughts, action = alfworld_teacher(obs, random.Random(0))
                check(obs, frame, thoughts, action)
                frame, _, terminated, truncated, info = env.step(action)
                if terminated or truncated:
                    break
            assert info["won"], info["game_file"]
    finally:
        env.close()


@real_games
def test_teacher_decides_from_task_memory_and_commands_only_and_explains(train_data):
    """The ranked teacher (`expert-ranked`) is checked at the same states: the same action, and every kind
    its thoughts call searched is searched in the memory."""
    def check(obs, frame, thoughts, action):
        blind = dataclasses.replace(obs, state={"memory": obs.state["memory"]}, frame=frame * 0)
        assert alfworld_teacher(blind, random.Random(0)) == (thoughts, action)  # no engine fact, no frame
        assert obs.task_text in thoughts and thoughts.endswith(".") and action in obs.legal_actions
        assert_ranked_lookup_holds(obs, action)
        assert_search_takes_the_ranked_blocks_first_place(obs, thoughts, action)
        if "likeliest at a" in alfworld_teacher_shuffled(obs, random.Random(0))[0]:
            assert_quoted_lookup_holds(obs, ALFWorldMemory.from_data(obs.state["memory"]))

    teacher_plays_each_type(train_data, check)


@real_games
def test_with_the_random_order_augmentation_the_teacher_follows_the_lines_head_and_still_wins(train_data):
    """`ranked-random`: the ranked block's words with the kinds in a drawn order; the teacher searches in that
    order, so a student of its data cannot recall the prior in place of reading the line."""
    differs = []

    def check(obs, frame, thoughts, action):
        assert_search_takes_the_ranked_blocks_first_place(obs, thoughts, action)
        ranked = ALFWorldMemory.from_data({**obs.state["memory"], "style": "ranked"})
        differs.append(ranked.render() != obs.memory)

    teacher_plays_each_type(train_data, check, memory="ranked-random")
    assert sum(differs) > 5


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


KITCHEN = ("You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a countertop 1, "
           "a diningtable 1, a fridge 1, a stoveburner 2, and a stoveburner 1.\n\nYour task is to: {task}.")


def decide(task, steps, legal, teacher=alfworld_teacher):
    memory = ALFWorldMemory()
    memory.reset(KITCHEN.format(task=task))
    for command, text in steps:
        memory.update(command, text)
    obs = Observation(env_id=ENV_ID, frame=None, text=steps[-1][1] if steps else "", legal_actions=tuple(legal),
                      task_type="", task_text=task, state={"memory": memory.as_data()})
    return teacher(obs, random.Random(0))


def test_teacher_searches_a_receptacle_at_the_same_spot_by_examining_it():
    # At stoveburner 1, stoveburner 2 shares its spot: `go to stoveburner 2` is not admissible (it looped on look).
    steps = [("go to stoveburner 1", "You arrive at stoveburner 1. On the stoveburner 1, you see nothing.")]
    legal = ["examine stoveburner 1", "examine stoveburner 2", "go to cabinet 1", "go to countertop 1",
             "go to diningtable 1", "go to fridge 1", "look"]
    thoughts, action = decide("cool some pan and put it in diningtable", steps, legal)
    assert action == "examine stoveburner 2" and "right here" in thoughts


def test_teacher_puts_down_what_the_task_does_not_need_back_where_it_came_from():
    steps = [("go to countertop 1", "You arrive at countertop 1. On the countertop 1, you see a kettle 1."),
             ("take kettle 1 from countertop 1", "You pick up the kettle 1 from the countertop 1."),
             ("go to fridge 1", "You arrive at fridge 1. The fridge 1 is closed.")]
    legal = ["go to cabinet 1", "go to countertop 1", "go to diningtable 1", "go to stoveburner 1", "look"]
    thoughts, action = decide("put a apple in diningtable", steps, legal)  # no `open`, no `move` here
    assert action == "go to countertop 1" and "does not need kettle 1" in thoughts
    thoughts, action = decide("put a apple in diningtable", steps[:2], legal + ["move kettle 1 to countertop 1"])
    assert action == "move kettle 1 to countertop 1"


def test_two_object_tasks_collect_in_one_place_and_never_take_from_it():
    steps = [("go to diningtable 1", "You arrive at diningtable 1. On the diningtable 1, you see a cup 2."),
             ("go to countertop 1", "You arrive at countertop 1. On the countertop 1, you see a cup 1."),
             ("take cup 1 from countertop 1", "You pick up the cup 1 from the countertop 1."),
             ("go to cabinet 1", "You arrive at cabinet 1. The cabinet 1 is closed."),
             ("open cabinet 1", "You open the cabinet 1. The cabinet 1 is open. In it, you see nothing."),
             ("move cup 1 to cabinet 1", "You move the cup 1 to the cabinet 1.")]
    legal = ["go to countertop 1", "go to diningtable 1", "go to fridge 1", "take cup 1 from cabinet 1", "look"]
    thoughts, action = decide("put two cup in cabinet", steps, legal)
    assert action == "go to diningtable 1" and "cup 2" in thoughts  # not `take cup 1 from cabinet 1`


def test_ranked_teacher_acts_as_the_teacher_and_writes_out_which_likelier_kinds_are_searched():
    # A pan's order in the shipped prior: stoveburner, countertop, diningtable, fridge, cabinet.
    task = "cool some pan and put it in diningtable"
    legal = ["go to cabinet 1", "go to countertop 1", "go to diningtable 1", "go to fridge 1", "go to stoveburner 1",
             "go to stoveburner 2", "look"]
    seen = [("go to stoveburner 1", "You arrive at stoveburner 1. On the stoveburner 1, you see nothing."),
            ("go to stoveburner 2", "You arrive at stoveburner 2. On the stoveburner 2, you see nothing."),
            ("go to countertop 1", "You arrive at countertop 1. On the countertop 1, you see a apple 1.")]
    expected = [
        ("go to stoveburner 1", "here a pan is likeliest at a stoveburner, and stoveburner 1 is unsearched, so I go to stoveburner 1."),
        ("go to stoveburner 2", "here a pan is likeliest at a stoveburner, and stoveburner 2 is unsearched, so I go to stoveburner 2."),
        ("go to countertop 1", "here a pan is likeliest at a stoveburner (searched), then a countertop, and countertop 1 is "
                               "unsearched, so I go to countertop 1."),
        ("go to diningtable 1", "here a pan is likeliest at a stoveburner (searched), then a countertop (searched), then a "
                                "diningtable, and diningtable 1 is unsearched, so I go to diningtable 1."),
    ]
    for k, (action, lookup) in enumerate(expected):
        thoughts, ranked_action = decide(task, seen[:k], legal, alfworld_teacher_ranked)
        plain_thoughts, plain_action = decide(task, seen[:k], legal)
        assert ranked_action == plain_action == action
        assert thoughts.endswith(lookup) and "most likely" in plain_thoughts and "(searched)" not in plain_thoughts
    assert type(make_agent("expert-ranked")).kind == "expert-ranked"


def assert_ranked_lookup_holds(obs, action):
    thoughts, ranked_action = alfworld_teacher_ranked(obs, random.Random(0))
    assert ranked_action == action
    memory = ALFWorldMemory.from_data(obs.state["memory"])
    for part in thoughts.split("then a ")[:-1]:
        if "(searched)" in part:
            kind = part.split(" (searched)")[0].split()[-1]
            places = [r for r in memory.receptacles if r.split()[0] == kind]
            assert places and all(r in memory.contents for r in places), (kind, thoughts)


def assert_search_takes_the_ranked_blocks_first_place(obs, thoughts, action):
    """With the ranked block (the environment's default) a search goes to the first place of its
    `unsearched, likeliest first` line, and the thought quotes the line's head word for word."""
    if "likeliest first for a" not in thoughts:
        return
    line = next(ln for ln in obs.memory.splitlines() if ln.startswith("unsearched, likeliest first for a "))
    head = re.match(r"unsearched, likeliest first for a [a-z]+: [a-z]+ \d+(?: \((?:open|closed)\))?", line).group(0)
    place = re.search(r"[a-z]+ \d+", head.split(": ", 1)[1]).group(0)
    assert f"memory's {head}," in thoughts and action.endswith(" " + place), (line, thoughts, action)


def assert_quoted_lookup_holds(obs, memory):
    """Each kind of the shuffled teacher's search thought is followed by that kind's entry of the memory's
    `unsearched:` line, word for word: "none" for every kind but the last, the places left for the last."""
    thoughts, action = alfworld_teacher_shuffled(obs, random.Random(0))
    lookup = thoughts.split("likeliest at a ", 1)[1].split(", so I ")[0]
    line = next(ln for ln in memory._render(spent_kinds=True).splitlines() if ln.startswith("unsearched: "))
    entries = lookup.split(", then a ")
    for entry in entries:
        assert f" {entry};" in f" {line.removeprefix('unsearched: ')};", (entry, line)
    assert all(entry.endswith(" none") for entry in entries[:-1]) and not entries[-1].endswith(" none")
    assert action.split()[-2] == entries[-1].split()[0]  # go to, open or examine a place of the last kind


def test_shuffled_teacher_takes_one_kinds_places_in_an_order_the_place_in_front_does_not_tell():
    """`expert-shuffled`: the ranked teacher's kind, but which unsearched place of it comes from a hash of the
    state; the same state gives the same place, and the sweep through six cabinets is not in number order."""
    room = ("You are in the middle of a room. Looking quickly around you, you see "
            + ", ".join(f"a cabinet {n}" for n in range(1, 7)) + ", and a garbagecan 1.\n\nYour task is to: put a cup in garbagecan.")
    memory = ALFWorldMemory()
    memory.reset(room)
    legal = [f"go to cabinet {n}" for n in range(1, 7)] + ["go to garbagecan 1", "look"]
    visited = []
    for _ in range(6):
        if visited:
            memory.update(f"go to {visited[-1]}", f"You arrive at {visited[-1]}. On the {visited[-1]}, you see nothing.")
        obs = Observation(env_id=ENV_ID, frame=None, text="", legal_actions=tuple(legal), task_type="",
                          task_text="put a cup in garbagecan", state={"memory": memory.as_data()})
        thoughts, action = alfworld_teacher_shuffled(obs, random.Random(0))
        assert alfworld_teacher_shuffled(obs, random.Random(1)) == (thoughts, action)  # a function of the state
        place = action.removeprefix("go to ")
        assert place.startswith("cabinet") and place not in memory.contents and place not in visited
        assert thoughts.endswith(f", so I go to {place}.")
        assert_quoted_lookup_holds(obs, memory)
        _, ranked_action = alfworld_teacher_ranked(obs, random.Random(0))
        assert ranked_action.split()[2] == "cabinet"  # the same kind as the ranked teacher's
        visited.append(place)
    assert sorted(visited) == [f"cabinet {n}" for n in range(1, 7)] and visited != sorted(visited)
    assert type(make_agent("expert-shuffled")) is ShuffledExpertAgent


@real_games
def test_shuffled_teacher_wins_real_games_of_each_type(train_data, tmp_path):
    episodes = play_logged(tmp_path, train_data, "valid_train", 6, agent=ShuffledExpertAgent(seed=0))
    assert len(episodes) == 6 and all(episode.success for episode in episodes)
