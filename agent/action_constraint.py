"""Constrained decoding of the action field: once the answer opens `"action": "`, only tokens that keep
the value a prefix of some legal action (then its closing quote) may be sampled; once the thoughts'
string closes, only `, "action": "` may follow. Past a row's thought limit (the last step at which
the action still fits in the answer's token budget), an open thoughts string may only close: a
thought that loops or rambles to the budget still ends in a legal action instead of no action field.
Nor may the end token come inside open thoughts (masked as `Banned`, everything else left free).
Before any of that, the answer must open as the format asks, `{"thoughts": "` or `{"action": "`: a
degenerate answer that began `{ to put it ...` had no field to constrain and ended with no action.

The thoughts stay free (but for the end token); the constraint only spends the model's probability mass on actions the
environment accepts, so an RL run that is punished for illegal answers need not learn to avoid
acting at all. The policy that acts is then the model's distribution renormalised over the allowed
tokens: `constrained_logprobs` gives its log-probs, which generation logs and `VLMPolicy.evaluate`
re-scores from the same legal actions, so PPO trains the policy that acted. (Training on the raw
log-probs instead pushed mass from a legal action onto illegal tokens the mask then hid.)
"""
from __future__ import annotations

import bisect
import re
from typing import Sequence

import regex
import torch
from transformers import LogitsProcessor

from vlm_agent.agent.parsing import ACTION_KEY


class TokenStrings:
    """Each token id's text as it reads mid-answer, indexed for exact and prefix lookups."""

    def __init__(self, tokenizer):
        # Decoding after an anchor keeps a token's leading space for tokenizers (SentencePiece)
        # that drop it when a token is decoded alone.
        anchor = tokenizer.encode("a", add_special_tokens=False)[:1]
        anchor_text = tokenizer.decode(anchor, skip_special_tokens=True)
        special = set(tokenizer.all_special_ids)
        self.strings: list[str] = []
        for token_id in range(len(tokenizer)):
            text = "" if token_id in special else tokenizer.decode(anchor + [token_id], skip_special_tokens=True)
            text = text[len(anchor_text):] if text.startswith(anchor_text) else ""
            self.strings.append("" if "\ufffd" in text else text)  # half a character never matches an action
        self.by_text: dict[str, list[int]] = {}
        for token_id, text in enumerate(self.strings):
            if text:
                self.by_text.setdefault(text, []).append(token_id)
        self._sorted = sorted(self.by_text)
        self.blank_ids = [i for text in self._sorted if not text.strip(" ") for i in self.by_text[text]]
        self.openings: dict[str, list[int]] = {}  # answer so far -> `opening_ids`, filled as answers open

    def text_of(self, ids: Sequence[int]) -> str:
        return "".join(self.strings[i] if i < len(self.strings) else "" for i in ids)

    def starting_with(self, prefix: str) -> list[int]:
        """Ids of tokens whose text begins with `prefix`."""
        found = []
        k = bisect.bisect_left(self._sorted, prefix)
        while k < len(self._sorted) and self._sorted[k].startswith(prefix):
            found.extend(self.by_text[self._sorted[k]])
            k += 1
        return found


# The thoughts' string value once it is closed; after it only `, "action": "<legal action>"` may come.
THOUGHTS_CLOSED = re.compile(r'\s*\{\s*"thoughts"\s*:\s*"(?:[^"\\]|\\.)*"')
# The thoughts' string still open (and not ending in a lone backslash, which would escape a quote).
THOUGHTS_OPEN = re.compile(r'\s*\{\s*"thoughts"\s*:\s*"(?:[^"\\]|\\.)*')
ACTION_OPENING = ', "action": '
# How an answer opens: its first field's key and the value's opening quote, spelt as our answers spell
# them (a model prompted with the paper's multi-line format still writes the same JSON object).
ANSWER_OPENING = regex.compile(r'\{"(?:thoughts|action)": "')


class Banned(tuple):
    """A step's mask given as the ids it bans (every other token allowed), where listing the allowed
    ones would name nearly the whole vocabulary: the end token inside open thoughts."""


def thoughts_open(answer: str) -> bool:
    """The answer is inside its thoughts' string (mid-escape included)."""
    return THOUGHTS_OPEN.fullmatch(answer) is not None or (
        answer.endswith("\\") and THOUGHTS_OPEN.fullmatch(answer[:-1]) is not None)


def opening(answer: str) -> bool:
    """`answer` is still on its way to an opening (`{"thoughts": "` or `{"action": "`): a prefix of one, not one yet."""
    return ANSWER_OPENING.fullmatch(answer, partial=True) is not None and ANSWER_OPENING.match(answer) is None


def opening_ids(vocab: TokenStrings, answer: str) -> list[int]:
    """Ids of tokens after which `answer` is still a prefix of an opening or has just completed one."""
    # Every row of every batch opens through the same few prefixes: each is worked out once per vocabulary.
    if answer not in vocab.openings:
        vocab.openings[answer] = [i for i, text in enumerate(vocab.strings)
                                  if text and ANSWER_OPENING.match(answer + text, partial=True) is not None]
    return vocab.openings[answer]


def closing_ids(vocab: TokenStrings, answer: str, legal_actions: Sequence[str]) -> list[int] | None:
    """Ids of tokens that close the open thoughts of `answer` on the way to a legal action field, or
    None where the thoughts are not an open string (not begun, or already closed). Mid-escape (a lone
    backslash last), only a backslash may come, which closes the escape, so the quote can come next."""
    if not legal_actions or not thoughts_open(answer):
        return None
    if THOUGHTS_OPEN.fullmatch(answer) is None:  # mid-escape
        return list(vocab.by_text.get("\\", ())) or None
    targets = ['"' + ACTION_OPENING + '"' + action + '"' for action in legal_actions]
    found = [i for i in vocab.starting_with('"') if any(t.startswith(vocab.strings[i]) for t in targets)]
    return found or None


def allowed_ids(vocab: TokenStrings, answer: str, legal_actions: Sequence[str], close_thoughts: bool = False,
                eos_ids: Sequence[int] = ()) -> list[int] | Banned | None:
    """Token ids that may come next in `answer`, `Banned` ids that may not, or None where the answer is free.

    Constrained: the answer's opening (to `{"thoughts": "` or `{"action": "`), inside the action value, and
    between the closed thoughts and the action key (so an answer cannot escape the constraint by ending
    without an action field); with `close_thoughts` (past the thought limit), open thoughts too, to their
    closing quote. Open thoughts before the
    limit are free but for `eos_ids`, the end tokens (an answer cannot end inside its thoughts either).
    Free: whatever follows a closed value, and an answer that already strayed from the format (a token
    that merged a closing quote with other text): the parser will report it, as without the constraint.
    """
    if not legal_actions:
        return None
    keys = list(ACTION_KEY.finditer(answer))
    if keys:
        tail, targets = answer[keys[-1].end():], ['"' + action + '"' for action in legal_actions]
    else:
        closed = THOUGHTS_CLOSED.match(answer)
        if not closed:
            if opening(answer):
                return opening_ids(vocab, answer)
            if close_thoughts:
                return closing_ids(vocab, answer, legal_actions)
            return Banned(sorted(eos_ids)) if eos_ids and thoughts_open(answer) else None
        tail, targets = answer[closed.end():], [ACTION_OPENING + '"' + action + '"' for action in legal_actions]
    if any(tail.startswith(t) for t in targets):
        return None  # the value is closed: the rest of the answer is free
    allowed: set[int] = set()
    for target in targets:
        if not target.startswith(tail):
            continue
        rest = target[len(tail):]
        for end in range(1, len(rest) + 1):
            allowed.update(vocab.by_text.get(rest[:end], ()))
            if keys and not tail:  # a space may still precede the opening quote
                allowed.update(vocab.by_text.get(" " + rest[:end], ()))
        allowed.update(vocab.starting_with(rest))  # the closing quote and what follows, in one token
    if not allowed:
        return None
    if keys and not tail:
        allowed.update(vocab.blank_ids)
    return sorted(allowed)


class LegalActionProcessor(LogitsProcessor):
    """Per batch row, masks the tokens that would make the action value illegal (see module doc).

    `masked_steps[row]` keeps step -> allowed ids, so generation's log-probs need not find them again.
    `thought_limits[row]` (None: no limit) is the step from which open thoughts may only close.
    """

    def __init__(self, vocab: TokenStrings, legal_actions: Sequence[Sequence[str]], prompt_len: int, eos_ids: set[int],
                 thought_limits: Sequence[int | None] | None = None):
        self.vocab = vocab
        self.legal_actions = [tuple(actions) for actions in legal_actions]
        self.thought_limits = list(thought_limits) if thought_limits is not None else [None] * len(self.legal_actions)
        self.prompt_len = prompt_len
        self.eos_ids = eos_ids
        self._eos_sorted = sorted(eos_ids)
        self.masked_steps: list[dict[int, list[int]]] = [{} for _ in self.legal_actions]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row, actions in enumerate(self.legal_actions):
            generated = input_ids[row, self.prompt_len:].tolist()
            if any(t in self.eos_ids for t in generated):
                continue  # finished rows only receive padding
            limit = self.thought_limits[row]
            close = limit is not None and len(generated) >= limit
            allowed = allowed_ids(self.vocab, self.vocab.text_of(generated), actions, close, self._eos_sorted)
            if allowed is None:
                continue
            self.masked_steps[row][len(generated)] = allowed
            if isinstance(allowed, Banned):
                scores[row, [i for i in allowed if i < scores.shape[1]]] = float("-inf")
                continue
            keep = torch.tensor([i for i in allowed if i < scores.shape[1]], dtype=torch.long)
            masked = torch.full_like(scores[row], float("-inf"))
            masked[keep] = scores[row, keep]
            scores[row] = masked
        return scores


def allowed_by_step(vocab: TokenStrings, response_ids: Sequence[int], legal_actions: Sequence[str],
                    thought_limit: int | None = None, eos_ids: Sequence[int] = ()) -> dict[int, list[int] | Banned]:
    """For one generated answer, step -> allowed (or `Banned`) ids at the steps the processor masked (as it
    did, given the same thought limit and end tokens)."""
    steps, answer = {}, ""
    for k, token_id in enumerate(response_ids):
        allowed = allowed_ids(vocab, answer, legal_actions, thought_limit is not None and k >= thought_limit, eos_ids)
        if allowed is not None:
            steps[k] = allowed
        answer += vocab.text_of([token_id])  # grown a token at a time: re-joining each prefix is quadratic
    return steps


def constrained_logprobs(logits: torch.Tensor, masked_steps: Sequence[dict[int, list[int]]]) -> torch.Tensor:
    """Log-softmax of (batch, steps, vocab) logits, renormalised over the allowed tokens at each row's
    masked steps (step -> allowed or `Banned` ids, as `allowed_by_step` or the processor found them). Differentiable."""
    keep = torch.ones(logits.shape, dtype=torch.bool, device=logits.device)
    banned: list[tuple[int, int, int]] = []  # (row, step, id): one indexing for every thought step of the batch
    for row, steps in enumerate(masked_steps):
        for step, allowed in steps.items():
            if step >= logits.shape[1]:
                continue
            ids = [i for i in allowed if i < logits.shape[2]]
            if isinstance(allowed, Banned):
                banned.extend((row, step, i) for i in ids)
            else:
                keep[row, step] = False
                keep[row, step, ids] = True
    if banned:
        keep[tuple(torch.tensor(banned, device=logits.device).T)] = False
    return torch.log_softmax(logits.masked_fill(~keep, float("-inf")), -1)
