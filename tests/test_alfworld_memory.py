"""ALFWorld's episode memory: read from the text observations alone, in the prompt, info and the log."""
import ast
from dataclasses import replace
from pathlib import Path

import alfworld.gen.goal_library as goal_library
import numpy as np
import pytest

import vlm_agent.envs.alfworld.memory as memory_module
from vlm_agent.agent.interface import Observation
from vlm_agent.agent.prompts import build_prompt
from vlm_agent.envs.alfworld.memory import ALFWorldMemory, parse_list
from vlm_agent.envs.alfworld.task_sentence import TEMPLATES, Task, parse_task
from vlm_agent.envs.memory import accepted_command, replay

# Real observations of valid_train games (seed 0: "put a hot potato in fridge"), as the engine wrote them.
ROOM = ("You are in the middle of a room. Looking quickly around you, you see a cabinet 2, a cabinet 1, "
        "a countertop 1, a fridge 1, a garbagecan 1, a microwave 1, a sinkbasin 1, a stoveburner 2, "
        "a stoveburner 1, and a toaster 1.\n\nYour task is to: put a hot potato in fridge.")
EPISODE = [
    ("go to garbagecan 1", "You arrive at garbagecan 1. On the garbagecan 1, you see a apple 1, and a egg 1."),
    ("go to fridge 1", "You arrive at fridge 1. The fridge 1 is closed."),
    ("open fridge 1", "You open the fridge 1. The fridge 1 is open. In it, you see a apple 2, a bread 1, "
                      "a egg 2, a potato 2, a potato 1, and a tomato 2."),
    ("take potato 1 from fridge 1", "You pick up the potato 1 from the fridge 1."),
    ("go to microwave 1", "You arrive at microwave 1. The microwave 1 is closed."),
    ("heat potato 1 with microwave 1", "You heat the potato 1 using the microwave 1."),
    ("look", "You are facing the microwave 1. Next to it, you see nothing."),
    ("go to fridge 1", "You arrive at fridge 1. The fridge 1 is open. In it, you see a apple 2, a bread 1, "
                       "a egg 2, a potato 2, and a tomato 2."),
    ("move potato 1 to fridge 1", "You move the potato 1 to the fridge 1."),
]


def play(steps=EPISODE):
    memory = ALFWorldMemory()
    memory.reset(ROOM)
    for command, text in steps:
        memory.update(command, text)
    return memory


def test_the_twelve_task_templates_are_alfworlds_and_each_parses():
    theirs = {(t, task_type) for task_type, entry in goal_library.gdict.items()
              if task_type in {spec[0] for spec in TEMPLATES.values()} for t in entry["templates"]}
    assert theirs == {(t, spec[0]) for t, spec in TEMPLATES.items()}
    assert parse_task("put a hot potato in fridge") == Task("pick_heat_then_place_in_recep", "potato", "fridge",
                                                            treatment="heat")
    assert parse_task("look at bowl under the desklamp") == Task("look_at_obj_in_light", "bowl", lamp="desklamp")
    assert parse_task("find two statue and put them in dresser.").count == 2
    assert parse_task("put a clean soapbar in cabinet").treatment == "clean"  # not a plain "put a X in Y"
    assert parse_task("dance on the table") is None


def test_lists_of_the_text_become_names():
    assert parse_list("a apple 1, a egg 2, and a cup 1") == ["apple 1", "egg 2", "cup 1"]
    assert parse_list("a apple 1, and a egg 1") == ["apple 1", "egg 1"]
    assert parse_list("a sofa 1") == ["sofa 1"] and parse_list("nothing") == []


def test_first_observation_gives_every_receptacle_unsearched_and_the_task():
    memory = play([])
    assert memory.task == "put a hot potato in fridge"
    assert memory.receptacles[:3] == ["cabinet 1", "cabinet 2", "countertop 1"]  # "2" before "10" too
    assert memory.render() == (
        "at: the middle of the room | holding: nothing\n"
        "seen potato: none yet\n"
        "searched: nothing yet\n"
        "unsearched: cabinet 1, 2; countertop 1; fridge 1; garbagecan 1; microwave 1; sinkbasin 1; stoveburner 1, 2; "
        "toaster 1")


def test_arrivals_openings_takes_treatments_and_puts_are_remembered():
    memory = play(EPISODE[:6])
    assert memory.render() == (
        "at: microwave 1 (closed) unsearched | holding: potato 1 (heated)\n"
        "seen potato: potato 2 @ fridge 1\n"
        "searched: fridge 1 (open); garbagecan 1\n"
        "unsearched: cabinet 1, 2; countertop 1; fridge none; garbagecan none; microwave none; sinkbasin 1; "
        "stoveburner 1, 2; toaster 1\n"
        "done: took potato 1 from fridge 1; heated potato 1 with microwave 1")
    # The block logs of the earlier memory showed (spent kinds left out), for checking them against a rebuild.
    assert memory.earlier_renders() == (memory.render().replace("fridge none; garbagecan none; microwave none; ", ""),)
    memory = play()
    assert memory.holding == [] and "potato 1" in memory.contents["fridge 1"]
    # Back at the fridge: what lies where the agent is, is marked (here).
    assert memory.render().splitlines()[1] == "seen potato: potato 2, potato 1 @ fridge 1 (here)"
    assert memory.render().endswith("put potato 1 in fridge 1")


def test_lamps_closing_inventory_and_refused_actions():
    memory = ALFWorldMemory()
    memory.reset("You are in the middle of a room. Looking quickly around you, you see a desk 1, a drawer 1, "
                 "and a sidetable 1.\n\nYour task is to: look at bowl under the desklamp.")
    memory.update("go to sidetable 1", "You arrive at sidetable 1. On the sidetable 1, you see a bowl 1, "
                                       "and a desklamp 1.")
    memory.update("go to drawer 1", "You arrive at drawer 1. The drawer 1 is closed.")
    memory.update("open drawer 1", "You open the drawer 1. The drawer 1 is open. In it, you see nothing.")
    memory.update("close drawer 1", "You close the drawer 1.")
    before = memory.render()
    memory.update(None, "You close the drawer 1.")  # not admissible: the same text again changes nothing
    assert memory.render() == before
    memory.update("take bowl 1 from sidetable 1", "You pick up the bowl 1 from the sidetable 1.")
    memory.update("use desklamp 1", "You turn on the desklamp 1.")
    memory.update("inventory", "You are carrying: a bowl 1.")
    lines = memory.render().splitlines()
    assert lines[0] == "at: drawer 1 (closed) | holding: bowl 1"
    assert lines[1:3] == ["seen bowl: none yet", "seen desklamp: desklamp 1 @ sidetable 1"]
    assert lines[3] == "searched: drawer 1 (closed); sidetable 1"
    assert lines[4] == "unsearched: desk 1; drawer none; sidetable none"  # a spent kind is named, not left out
    assert lines[5] == "done: took bowl 1 from sidetable 1; turned on desklamp 1"


def test_plain_data_round_trips_to_the_same_memory():
    memory = play(EPISODE[:5])
    again = ALFWorldMemory.from_data(memory.as_data())
    assert again.render() == memory.render() and again.as_data() == memory.as_data()


def test_the_memory_is_built_from_strings_only():
    """Structurally: the module imports no engine, view or game code, and replay needs nothing but texts."""
    tree = ast.parse(Path(memory_module.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    # search_prior: a fixed table counted from the train games (the ranked block's order), not this game's state.
    assert imported <= {"__future__", "re", "zlib", "vlm_agent.envs.alfworld.task_sentence", "vlm_agent.envs.memory",
                        "vlm_agent.envs.alfworld.search_prior"}
    steps = [(command.upper(), [command, "look"], text) for command, text in EPISODE]  # matched as the env does
    assert replay(ALFWorldMemory(), ROOM, steps)[-1] == play().render()
    assert accepted_command(" Go  To fridge 1", ["go to fridge 1"]) == "go to fridge 1"
    assert accepted_command("fly", ["look"]) is None


def obs(memory: str) -> Observation:
    return Observation(env_id="vlm_agent/ALFWorld-v0", frame=np.zeros((2, 2, 3), np.uint8),
                       text="You arrive at fridge 1. The fridge 1 is closed.", legal_actions=("look", "open fridge 1"),
                       task_type="pick_heat_then_place_in_recep", task_text="put a hot potato in fridge",
                       history=("> go to fridge 1: You arrive at fridge 1. The fridge 1 is closed.",), memory=memory)


def test_prompt_shows_the_memory_block_and_without_one_is_the_old_prompt_exactly():
    old = (
        "You are a household robot in ALFWorld. The image shows the goal, the place in front of you and what it "
        "holds, and what is in your hand. Complete the task with one admissible action per step.\n"
        "Task: put a hot potato in fridge\n"
        "Recent steps:\n> go to fridge 1: You arrive at fridge 1. The fridge 1 is closed.\n"
        "Observation: You arrive at fridge 1. The fridge 1 is closed.\n"
        "Admissible actions: look, open fridge 1\n"
        'Answer in JSON: {"thoughts": "say where you are and what you hold, what the task still needs, then choose '
        'the next action", "action": "one admissible action"}')
    assert build_prompt(obs("")) == old
    block = play(EPISODE[:2]).render()
    with_memory = build_prompt(obs(block))
    # With the memory: no recent steps, the task last, beside the answer that restates it.
    assert with_memory == (
        "You are a household robot in ALFWorld. The image shows the goal, the place in front of you and what it "
        "holds, and what is in your hand. Complete the task with one admissible action per step.\n"
        f"Memory:\n{block}\n"
        "Observation: You arrive at fridge 1. The fridge 1 is closed.\n"
        "Admissible actions: look, open fridge 1\n"
        "Task: put a hot potato in fridge\n"
        'Answer in JSON: {"thoughts": "say where you are and what you hold, what the task still needs, then choose '
        'the next action", "action": "one admissible action"}')


def test_memory_prompt_says_go_to_once_for_the_places_the_memory_names():
    block = play(EPISODE[:2]).render()
    legal = ("go to fridge 1", "go to microwave 1", "go to stoveburner 2", "go to bathtub 7", "look", "open fridge 1")
    prompt = build_prompt(replace(obs(block), legal_actions=legal))
    assert "microwave 1" in block and "bathtub 7" not in block and "stoveburner 1, 2" in block  # grouped
    # A place the memory does not name keeps its own command; every admissible command stays reachable.
    assert "Admissible actions: go to any place in the memory, go to bathtub 7, look, open fridge 1\n" in prompt


@pytest.mark.parametrize("bad", ["This is a hot potato 1.", "", "Nothing happens."])
def test_texts_it_does_not_know_change_nothing(bad):
    memory = play(EPISODE[:3])
    before = memory.as_data()
    memory.update("look", bad)
    assert memory.as_data() == before


def test_live_view_shows_the_memory_under_the_observation():
    import asyncio

    from textual.app import App

    from vlm_agent.tui.step_widgets import TaskView

    class OneView(App):
        def compose(self):
            yield TaskView()

    async def scenario():
        async with OneView().run_test() as pilot:
            view = pilot.app.query_one(TaskView)
            view.show("put a hot potato in fridge", EPISODE[1][1], play(EPISODE[:2]).render())
            shown = str(view.render())
            view.show("put a hot potato in fridge", EPISODE[1][1])
            return shown, str(view.render())

    with_memory, without = asyncio.run(scenario())
    assert with_memory.endswith("memory\n" + play(EPISODE[:2]).render()) and "memory" not in without


def play_ranked(steps=EPISODE, room=ROOM, style="ranked"):
    memory = ALFWorldMemory(style)
    memory.reset(room)
    for command, text in steps:
        memory.update(command, text)
    return memory


def test_ranked_block_lists_the_unsearched_places_likeliest_first_for_the_task_target():
    from vlm_agent.envs.alfworld.search_prior import load_prior, search_score

    memory = play_ranked(EPISODE[:1])  # garbagecan 1 searched, no potato there
    line = memory.render().splitlines()[-1]
    assert line.startswith("unsearched, likeliest first for a potato: ")
    assert "garbagecan" not in line and "unsearched: " not in memory.render()
    # The line's places, in order, are the unsearched ones by the prior's score for a potato.
    prior = load_prior()
    order = memory.search_order([r for r in memory.receptacles if r not in memory.contents])
    scores = [search_score(prior, "potato", r, memory.opened.get(r)) for r in order]
    assert scores == sorted(scores, reverse=True) and len(order) == 9
    first_kind = order[0].rpartition(" ")[0]
    assert line.split(": ", 1)[1].startswith(f"{first_kind} {order[0].rpartition(' ')[2]}")
    # The facts besides the unsearched line are the grouped block's.
    assert memory.render().splitlines()[:-1] == play(EPISODE[:1]).render().splitlines()[:-1]


def test_ranked_block_seeks_the_lamp_once_a_look_task_holds_its_target():
    room = ROOM.replace("put a hot potato in fridge", "look at potato under the desklamp").replace(
        "and a toaster 1", "a toaster 1, and a desklamp 1")
    memory = play_ranked(EPISODE[:4], room)  # the potato taken from the fridge; no lamp seen yet
    assert memory.sought_kind() == "desklamp" and "likeliest first for a desklamp: " in memory.render()
    assert play_ranked(EPISODE[:2], room).sought_kind() == "potato"


def test_an_unknown_memory_style_is_refused():
    with pytest.raises(ValueError, match="memory style"):
        ALFWorldMemory("sorted")
    assert ALFWorldMemory.from_data(play_ranked().as_data()).render() == play_ranked().render()


@pytest.mark.parametrize("style", ["ranked-head", "ranked-head-random"])
def test_ranked_head_writes_the_first_place_alone_and_then_the_ranked_lines_rest(style):
    """The same places in the same order as its ranked style, the head standing alone with its kind's name."""
    base = "ranked-random" if style.endswith("-random") else "ranked"
    head, ranked = play_ranked(EPISODE[:1], style=style), play_ranked(EPISODE[:1], style=base)
    line, ranked_line = head.render().splitlines()[-1], ranked.render().splitlines()[-1]
    order = head.search_order([r for r in head.receptacles if r not in head.contents])
    prefix = "unsearched, likeliest first for a potato: "
    assert line == prefix + head.labelled(order[0]) + "; then " + head._in_order(order[1:])
    assert order == ranked.search_order([r for r in ranked.receptacles if r not in ranked.contents])
    assert ranked_line.startswith(prefix) and ranked_line != line
    assert head.render().splitlines()[:-1] == ranked.render().splitlines()[:-1]
