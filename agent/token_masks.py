"""CoT and action token masks from character offsets: any tokenizer, no hard-coded token ids."""
from __future__ import annotations

from typing import Sequence


def masks_from_offsets(
    offsets: Sequence[tuple[int, int]], span: tuple[int, int] | None
) -> tuple[list[bool], list[bool]]:
    """(cot_mask, action_mask) for tokens with character `offsets` and the action value's `span`.

    A token is an action token when its characters overlap the span; every other token (the
    thoughts, the JSON around them, the end-of-answer token) is a CoT token, so that with
    thought_coef 1 the step log-prob is the log-prob of the whole answer.
    """
    action = []
    for start, end in offsets:
        action.append(span is not None and end > start and start < span[1] and end > span[0])
    return [not a for a in action], action


def generated_offsets(tokenizer, token_ids: Sequence[int]) -> tuple[str, list[tuple[int, int]]]:
    """The decoded answer and each generated token's character range in it.

    Generated ids are not what re-tokenizing the text would give, so offsets come from decoding
    growing prefixes: token k covers the characters its decode added. Special tokens add none.
    """
    offsets = []
    previous = 0
    text = ""
    for k in range(len(token_ids)):
        text = tokenizer.decode(token_ids[: k + 1], skip_special_tokens=True)
        end = max(previous, len(text.rstrip("\ufffd")))  # a half-decoded multi-byte character counts later
        offsets.append((previous, end))
        previous = end
    if offsets:  # the last token takes any trailing characters held back above
        offsets[-1] = (offsets[-1][0], max(offsets[-1][1], len(text)))
    return text, offsets


def text_offsets(tokenizer, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids of `text` (no special tokens added) and their character offsets."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return list(encoded["input_ids"]), [tuple(o) for o in encoded["offset_mapping"]]
