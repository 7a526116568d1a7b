"""The lookup probe scores the ranked teacher's decision tokens and nothing else."""
from __future__ import annotations

from script_loader import load_script

probe = load_script("benchmarks/alfworld_lookup_probe.py")


def classes(pieces: list[str]) -> dict[str, str]:
    text = "".join(pieces)
    start, offsets = text.find("likeliest at a"), [sum(len(p) for p in pieces[:k]) for k in range(len(pieces) + 1)]
    end = text.find(" is unsearched", start)
    end = end if end >= 0 else text.find(".", text.find(", so I ", start))
    found = {}
    for j in range(len(pieces) - 1):
        kind = probe.decision(pieces, j, start, end, offsets)
        if kind:
            found[f"{j + 1}:{pieces[j + 1]}"] = kind
    return found


def test_each_decision_token_of_a_ranked_search_sentence_is_classed():
    pieces = ["I", " need", " a", " cup", ";", " here", " a", " cup", " is", " likeliest", " at", " a", " countertop",
              " ", "(searched)", ",", " then", " a", " cabinet", ",", " and", " cabinet", " 3", " is", " unsearched",
              ",", " so", " I", " go", " to", " cabinet", " 3", "."]
    assert classes(pieces) == {
        "12: countertop": "first kind",   # the room's likeliest kind
        "13: ": "spent or not",           # " (searched)" follows: every countertop is searched
        "18: cabinet": "next kind",
        "19:,": "spent or not",           # "," follows: a cabinet is left
        "22: 3": "place number",
    }


def test_the_quoting_sentence_has_the_same_decisions():
    pieces = [" here", " a", " cup", " is", " likeliest", " at", " a", " countertop", " n", "one", ",", " then", " a",
              " cabinet", " 2", ",", " 3", ",", " so", " I", " g", "o", " to", " cabinet", " 3", "."]
    assert classes(pieces) == {
        "7: countertop": "first kind",
        "8: n": "spent or not",           # the memory's entry for countertop: none left
        "13: cabinet": "next kind",
        "14: 2": "spent or not",          # cabinet's entry: places left
        "24: 3": "place number",
    }


def test_a_sentence_without_the_lookup_has_no_decision_tokens():
    pieces = [" the", " cup", " 1", " is", " here", ",", " so", " I", " take", " it", " at", " a", " cup"]
    assert classes(pieces) == {}


def test_drill_entries_are_the_tokens_after_each_name_and_the_short_prompt_is_the_memory_block():
    pieces = ["d", "rawer", " 1", ",", " 3", ";", " countertop", " n", "one", ";", " cabinet", " 2"]
    assert probe.entry_positions(pieces) == [7, 11]  # the first name, split at the answer's start, is not scored
    prompt = "You are a robot.\nMemory:\nat: desk 1 | holding: nothing\nunsearched: desk none\nObservation: You arrive."
    assert probe.memory_block(prompt) == "Memory:\nat: desk 1 | holding: nothing\nunsearched: desk none"
    assert probe.memory_block("Describe the state shown in the image.") is None


def test_drill_entries_are_grouped_by_none_and_by_the_name_on_another_memory_line():
    prompt = ("You are a robot.\nMemory:\nat: desk 1 | holding: nothing\nsearched: desk 1; bed 1\n"
              "unsearched: bed none; desk 2; shelf 1\nObservation: You arrive at shelf 1.\n"
              "Quote the unsearched: entries of: shelf, desk, bed")
    assert probe.entry_group(prompt, "bed", "none") == "none, also on another line"    # searched: bed 1
    assert probe.entry_group(prompt, "desk", "2") == "number, also on another line"    # at: desk 1
    assert probe.entry_group(prompt, "shelf", "1") == "number, only in unsearched:"    # the observation is not memory
    short = prompt.split("\n", 1)[1].replace("\nObservation: You arrive at shelf 1.", "")
    assert probe.entry_group(short, "bed", "none") == "none, also on another line"
