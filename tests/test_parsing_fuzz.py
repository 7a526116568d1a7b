"""The action parser against a reference oracle: the rules of agent/parsing.py's docstring, read one
character at a time (slow, plainly right), on fuzzed answers.

The suite runs a few thousand answers; PARSING_FUZZ_EXAMPLES=100000 runs more, and
benchmarks/parsing_fuzz.py counts crashes, wrong accepts and span errors over 100,000.
"""
from __future__ import annotations

import json
import os
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vlm_agent.agent.parsing import MAX_FIELDS, ParseResult, ParseStatus, normalize_action, parse_action

LEGAL = ["go to cabinet 1", "go to cabinet 10", "hit", "Hit", "stand", "+", "-", "10", "1", 'say "hi"', "it's"]
EXAMPLES = int(os.environ.get("PARSING_FUZZ_EXAMPLES", "1000"))


# --- the oracle --------------------------------------------------------------------------------
def key_end(answer: str, i: int) -> int | None:
    """Where the value starts if an action key begins at `i`, else None."""
    quote = answer[i]
    word = answer[i + 1 : i + 7]
    if quote not in "\"'" or not (word.isascii() and word.lower() == "action") or answer[i + 7 : i + 8] != quote:
        return None
    j = i + 8
    while j < len(answer) and answer[j].isspace():
        j += 1
    if answer[j : j + 1] != ":":
        return None
    j += 1
    while j < len(answer) and answer[j].isspace():
        j += 1
    return j


def read_value(answer: str, j: int) -> tuple[str | None, tuple[int, int] | None, bool, int]:
    """(value, span, closed, where reading goes on) for the value starting at `j`."""
    n = len(answer)
    if j < n and answer[j] in "\"'":
        quote, k = answer[j], j + 1
        while k < n and answer[k] != quote:
            k += 2 if quote == '"' and answer[k] == "\\" else 1
        k = min(k, n)
        raw, closed = answer[j + 1 : k], k < n
        value = raw
        if quote == '"':
            try:
                value = json.loads('"' + raw + '"', strict=False)
            except ValueError:
                pass
        if raw:
            span = (j + 1, k)
        else:
            span = (j, k + 1) if closed else (j, k)
        return value, span, closed, (k + 1 if closed else n)
    if j < n and answer[j] in "{[":
        return None, None, True, j
    k = j
    while k < n and answer[k] not in ",}]\n" and key_end(answer, k) is None:
        k += 1
    raw = answer[j:k]
    if not raw.strip():
        return None, None, True, k
    start = j
    while answer[start].isspace():
        start += 1
    end = k
    while answer[end - 1].isspace():
        end -= 1
    return answer[start:end], (start, end), True, k


def oracle(answer: str, legal_actions: list[str]) -> ParseResult:
    fields = []
    i = 0
    while i < len(answer) and len(fields) <= MAX_FIELDS:
        j = key_end(answer, i)
        if j is None:
            i += 1
            continue
        value, span, closed, i = read_value(answer, j)
        fields.append((value, span, closed))
    if not fields:
        return ParseResult(ParseStatus.NO_ACTION_FIELD)

    def named(value):
        if value is None:
            return "no action"
        same = [a for a in legal_actions if normalize_action(a) == normalize_action(value)]
        return same[-1] if same else "not legal"  # the last of two spellings, as a dict would keep

    value, span, closed = fields[-1]
    names = {named(v) for v, _, _ in fields}
    if not closed:
        return ParseResult(ParseStatus.UNTERMINATED, value=value, span=span)
    if len(fields) > MAX_FIELDS or len(names) > 1:
        return ParseResult(ParseStatus.AMBIGUOUS, value=value, span=span)
    if value is None:
        return ParseResult(ParseStatus.NO_ACTION_FIELD)
    if names == {"not legal"}:
        return ParseResult(ParseStatus.NOT_LEGAL, value=value, span=span)
    return ParseResult(ParseStatus.OK, action=names.pop(), value=value, span=span)


# --- answers -----------------------------------------------------------------------------------
FRAGMENTS = [
    '"action"', "'action'", '"ACTION"', "'Action'", '"act\u0131on"', '"actions"', "action", ":", ": ", " ", "\n",
    "\t", "\u00a0", '"', "'", "GO TO  cabinet\t10", "\\", '\\"', "\\\\", "\\u0041", "\\ud800", "\\q", "{", "}", "[", "]", ",",
    '{"thoughts": "', '", ', '"thoughts"', "x", "ok", "\u65e5", "\u200b", *LEGAL,
]


def json_answer(rng: random.Random) -> str:
    """A well-formed answer, sometimes with an action key quoted in the thoughts, sometimes cut short."""
    thoughts = rng.choice(["", "go right", "'action': 'hit'", '\\"action\\": \\"stand\\"', "a \\\"quote\\\""])
    value = rng.choice([
        json.dumps(rng.choice(LEGAL)), json.dumps(rng.choice(LEGAL).upper()), rng.choice(LEGAL), '["stand"]',
        '{"action": "hit"}', '""', "'hit'", " 10 ", "null",
    ])
    answer = f'{{"thoughts": "{thoughts}", "action": {value}}}'
    return answer[: rng.randint(0, len(answer))] if rng.random() < 0.3 else answer


def random_answer(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return json_answer(rng)
    return "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 24)))


answers = st.one_of(
    st.randoms(use_true_random=False).map(random_answer),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=3), max_size=30).map("".join),
)


def disagreement(answer: str, legal_actions: list[str]) -> str | None:
    """What is wrong with parse_action's result, or None: 'crash', 'wrong accept', 'span', 'status'."""
    try:
        got = parse_action(answer, legal_actions)
    except Exception:  # noqa: BLE001 - any exception is what we count
        return "crash"
    expected = oracle(answer, legal_actions)
    if got.ok and (not expected.ok or got.action != expected.action):
        return "wrong accept"
    if got.span != expected.span or (got.span is not None and got.span[1] <= got.span[0]):
        return "span"
    if (got.status, got.action, got.value) != (expected.status, expected.action, expected.value):
        return "status"
    return None


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers)
def test_parser_agrees_with_the_oracle(answer):
    assert disagreement(answer, LEGAL) is None, (answer, parse_action(answer, LEGAL), oracle(answer, LEGAL))


@settings(max_examples=EXAMPLES // 4, deadline=None)
@given(answers)
def test_a_value_found_always_has_a_non_empty_span(answer):
    result = parse_action(answer, LEGAL)
    assert (result.value is None) == (result.span is None)
    if result.span is not None:
        start, end = result.span
        assert 0 <= start < end <= len(answer)


def test_the_oracle_reads_the_issue_examples_as_the_issue_says():
    assert oracle('{"thoughts": "\'action\': \'hit\'", "action": ["stand"]}', LEGAL).status is ParseStatus.AMBIGUOUS
    assert oracle('{"action": "hit', LEGAL).span == (12, 15)
    assert oracle('"action": "-', LEGAL).span == (11, 12)
    assert oracle('{"action": "go to cabinet 1', LEGAL).status is ParseStatus.UNTERMINATED
