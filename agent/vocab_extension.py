"""Grow a trained model's vocabulary with the whole words of a new environment.

The default tokenizer was trained on the card games' text, so ALFWorld's words fall apart into
letters ("cabinet" is 6 tokens, a prompt about 820): slow to train on and hard to copy from the
prompt. Adding frequent new words as single tokens shortens that text while leaving every text
that holds none of them tokenized exactly as before, so what the model learned there still holds.
A new token's input embedding starts as the mean of its old pieces' embeddings, so the model reads
the word about as before; its output row starts as the mean output row, so the new token is as
unlikely as an average token and the model keeps writing what it wrote before until trained.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

import torch

# A word with the space before it: the unit byte-level BPE merges toward, so " cabinet" replaces
# the same characters the old pieces covered.
_WORD = re.compile(r" [A-Za-z][A-Za-z]+")


def new_words(tokenizer, texts: Iterable[str], keep_texts: Iterable[str], max_new: int, min_count: int) -> list[str]:
    """The words (with their leading space) worth a token: most tokens saved first.

    A word is never chosen if it occurs anywhere in `keep_texts` (also inside a longer word),
    so those texts tokenize as before.
    """
    counts = Counter(match for text in texts for match in _WORD.findall(text))
    keep = "\n".join(keep_texts)
    saved = {}
    for word, count in counts.items():
        if count < min_count or word in keep:
            continue
        pieces = len(tokenizer.tokenize(word))
        if pieces > 1:
            saved[word] = count * (pieces - 1)
    return sorted(saved, key=lambda w: (-saved[w], w))[:max_new]


# A numbered name with the space before it, as the environment's observations write it (" drawer 11").
_NAME = re.compile(r" ([A-Za-z]{2,}) (\d+)\b")


def name_range(largest: int) -> int:
    """How far a kind's names are numbered: to at least 6, and 10 past the largest seen for kinds numbered to 10 or
    more (cabinets, drawers, shelves), whose count varies most from room to room."""
    return largest + 10 if largest >= 10 else max(largest, 6)


def numbered_names(observations: Iterable[str], keep_texts: Iterable[str]) -> list[str]:
    """Every numbered name (" sidetable 4") of `observations`, each kind from 1 to `name_range` of its largest
    number seen, as phrases to make single tokens; none that occurs in `keep_texts`.

    Two tokens (" sidetable", " 4") are copied as a kind and then the number after one of the kind's occurrences,
    and a 4-layer model took the number from the wrong one (the place it stands at, named four times in the prompt).
    As one token a name is copied whole. Every number up to the largest is added because added tokens match longest
    first: with " drawer 1" added and " drawer 11" not, " drawer 11" would split into " drawer 1" and "1".
    """
    largest: dict[str, int] = {}
    for text in observations:
        for kind, number in _NAME.findall(" " + text):
            largest[kind] = max(largest.get(kind, 0), int(number))
    keep = "\n".join(keep_texts)
    names = [f" {kind} {n}" for kind, top in sorted(largest.items()) for n in range(1, name_range(top) + 1)]
    return [name for name in names if name not in keep]


@torch.no_grad()
def add_words(policy, words: list[str]) -> int:
    """Add `words` to the policy's tokenizer and embeddings; returns how many were added."""
    old_pieces = {word: policy.tokenizer(word, add_special_tokens=False)["input_ids"] for word in words}
    old_size = len(policy.tokenizer)
    added = policy.tokenizer.add_tokens(words)
    if not added:
        return 0
    policy.model.resize_token_embeddings(len(policy.tokenizer), mean_resizing=False)
    inputs = policy.model.get_input_embeddings().weight
    outputs = policy.model.get_output_embeddings().weight
    mean_output = outputs[:old_size].mean(dim=0)
    for word, pieces in old_pieces.items():
        new_id = policy.tokenizer.convert_tokens_to_ids(word)
        if new_id < old_size:
            continue
        inputs[new_id] = inputs[pieces].mean(dim=0)
        outputs[new_id] = mean_output
    return added
