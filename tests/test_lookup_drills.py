"""Lookup drills ask for a memory line's entries by name, and answer with exactly those entries."""
from __future__ import annotations

from vlm_agent.training.lookup_drills import add_lookup_drills, lookup_drill, short_lookup_drill
from vlm_agent.training.sft_data import SFTData, SFTExample

PROMPT = ("You are a household robot.\nMemory:\nat: cabinet 2 | holding: nothing\nsearched: cabinet 1, 2; countertop 1\n"
          "unsearched: cabinet 3, 4 (closed); countertop none; drawer 1; sinkbasin 1\nObservation: You arrive at cabinet 2.\n"
          "Task: put a cup in sinkbasin\nAnswer in JSON: {...}")


def example(prompt: str = PROMPT, kind: str = "answer") -> SFTExample:
    return SFTExample(b"png", prompt, '{"thoughts": "...", "action": "look"}', "vlm_agent/ALFWorld-v0", kind)


def test_a_drill_names_the_entries_in_a_shuffled_order_and_answers_each_by_its_name():
    drill = lookup_drill(example())
    question = drill.prompt.removeprefix(PROMPT + "\n")
    assert question.startswith("Quote the unsearched: entries of: ")
    names = question.split(": ")[-1].split(", ")
    assert sorted(names) == ["cabinet", "countertop", "drawer", "sinkbasin"] and names != sorted(names)
    entries = {"cabinet": "3, 4 (closed)", "countertop": "none", "drawer": "1", "sinkbasin": "1"}
    assert drill.answer == "; ".join(f"{name} {entries[name]}" for name in names)
    assert (drill.kind, drill.frame_png, drill.env_id) == ("drill", b"png", "vlm_agent/ALFWorld-v0")
    assert lookup_drill(example()) == drill  # seeded by the prompt


def test_prompts_without_a_line_of_named_entries_get_no_drill():
    assert lookup_drill(example("Describe the state shown in the image.")) is None
    assert lookup_drill(example(PROMPT.replace("cabinet 3, 4 (closed); countertop none; drawer 1; sinkbasin 1", "drawer 1"))) is None


def test_the_share_decides_how_many_and_drills_go_to_their_examples_split():
    prompts = [PROMPT.replace("cabinet 2 |", f"cabinet {n} |") for n in range(400)]
    data = SFTData(train=[example(p) for p in prompts[:300]], held_out=[example(p) for p in prompts[300:]])
    assert add_lookup_drills(data, 0.0) == 0 and len(data.train) == 300
    added = add_lookup_drills(data, 0.5)
    train_drills = [e for e in data.train if e.kind == "drill"]
    held_drills = [e for e in data.held_out if e.kind == "drill"]
    assert added == len(train_drills) + len(held_drills) and 150 < added < 250
    assert all(d.prompt.split("\nQuote")[0] in prompts[:300] for d in train_drills)
    assert all(d.prompt.split("\nQuote")[0] in prompts[300:] for d in held_drills)


def test_a_short_drill_asks_the_same_question_on_the_memory_block_alone():
    short, full = short_lookup_drill(example()), lookup_drill(example())
    block = PROMPT[PROMPT.index("Memory:"):PROMPT.index("\nObservation:")]
    assert short.prompt.startswith(f"{block}\nQuote the unsearched: entries of: ")  # the block, then the question
    assert "Observation" not in short.prompt and "Task:" not in short.prompt and short.kind == "drill"
    # the same entries as the whole prompt's drill (in an order seeded by the shorter prompt)
    assert sorted(short.answer.split("; ")) == sorted(full.answer.split("; "))
    assert short_lookup_drill(example("Describe the state shown in the image.")) is None


def test_short_drills_have_their_own_share():
    prompts = [PROMPT.replace("cabinet 2 |", f"cabinet {n} |") for n in range(400)]
    data = SFTData(train=[example(p) for p in prompts], held_out=[])
    added = add_lookup_drills(data, 0.0, short_share=0.5)
    drills = [e for e in data.train if e.kind == "drill"]
    assert added == len(drills) and 150 < added < 250
    assert all(d.prompt.startswith("Memory:\n") and "\nObservation:" not in d.prompt for d in drills)
    both = SFTData(train=[example(p) for p in prompts], held_out=[])
    assert 350 < add_lookup_drills(both, 0.5, short_share=0.5) < 450
    assert sum(d.prompt.startswith("Memory:\n") for d in both.train if d.kind == "drill") == added  # the same hash picks them
