"""Find the action field in a free-text answer and match it exactly against the legal actions.

The answer is read once, left to right, by one regular expression, so time and memory are linear
in its length whatever the model wrote. What it reads:
- an action key: `"action"` or `'action'` (ASCII letters in any case), a colon, whitespace around it;
- the key's value, from the first character after that whitespace:
  `"...`  a JSON string, to the first `"` not escaped by a backslash (escapes decoded; kept as
          written where they are not valid JSON); without one, to the end: unterminated;
  `'...`  text to the next `'` (or to the end: unterminated);
  `{` `[` an object or a list: no action (an action is a string); reading goes on inside it;
  else    a bare value, to `,` `}` `]`, a newline, the next action key or the end, whitespace
          stripped; nothing there: no action.
  A quoted value is one token: an action key written inside it is text, not a field.
Every action field must name the same legal action (or all be illegal, or all hold no action),
otherwise the answer is ambiguous; the last field is the answer, and an unterminated one is not
accepted. Past MAX_FIELDS fields the answer is ambiguous and reading stops.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from itertools import islice
from typing import Sequence

from vlm_agent.envs.base import normalize_action  # the environments' own matching rule


class ParseStatus(str, Enum):
    OK = "ok"
    NO_ACTION_FIELD = "no_action_field"
    NOT_LEGAL = "not_legal"
    AMBIGUOUS = "ambiguous"
    # A quoted value whose closing quote never came: the answer was cut (max new tokens) inside it.
    # Rejected, not accepted: the tokens that would tell "go to cabinet 1" from "go to cabinet 10",
    # or close the value at all, were never sampled, so acting on the prefix would act (and train
    # PPO) on a choice the model did not make. The runtime falls back as for any invalid answer.
    UNTERMINATED = "unterminated"


@dataclass(frozen=True)
class ParseResult:
    """Outcome of parsing one answer.

    `action` is the legal action as the environment spells it (None unless status is OK).
    `value` is the last action field's value, set whenever that field holds one, legal or not.
    `span` is the [start, end) character span of that value in the answer, for the policy to turn
    into a token mask. It is set exactly when `value` is, and never empty: an empty string's span
    is its quotes, so the tokens that chose "nothing" are still the action.
    """

    status: ParseStatus
    action: str | None = None
    value: str | None = None
    span: tuple[int, int] | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status is ParseStatus.OK


# Spelled out rather than re.IGNORECASE, which also matches Unicode look-alikes such as a dotless ı.
_ACTION_WORD = "[Aa][Cc][Tt][Ii][Oo][Nn]"
# A JSON-style key: "action" or 'action', any ASCII case, then a colon.
ACTION_KEY = re.compile(rf"""(["']){_ACTION_WORD}\1\s*:\s*""")
# A key and its value in one match; possessive repeats never backtrack, so each character is read
# a bounded number of times. The value's end is where the next search starts.
_FIELD = re.compile(
    rf"""
    (?P<quote>["']){_ACTION_WORD}(?P=quote)\s*+:\s*+
    (?:
        "(?P<double>[^"\\]*+(?:\\.?[^"\\]*+)*+)(?P<double_end>"?)
      | '(?P<single>[^']*+)(?P<single_end>'?)
      | (?P<nested>(?=[{{\[]))
      | (?P<bare>(?:[^,}}\]\n"']++|(?!(?P<next>["']){_ACTION_WORD}(?P=next)\s*+:)["'])*+)
    )
    """,
    re.VERBOSE | re.DOTALL,
)
# An answer is one decision: past this many action fields it is a model repeating itself, and
# reading on would only cost time (a 1 MB loop of `"action": x` holds 10^5 of them).
MAX_FIELDS = 64
_DESCRIBED = 4  # values quoted in an ambiguity's reason; the count says how many there were


@dataclass(frozen=True)
class _Field:
    value: str | None  # None: the field holds no action (an object, a list, nothing)
    span: tuple[int, int] | None
    closed: bool
    shown: str  # for reasons


def _field(match: re.Match) -> _Field:
    """The value of one _FIELD match."""
    for kind, end_group in (("double", "double_end"), ("single", "single_end")):
        raw = match.group(kind)
        if raw is None:
            continue
        start, end = match.span(kind)
        closed = match.group(end_group) != ""
        value = _decode_json_string(raw) if kind == "double" else raw
        # An empty value's span is its quote(s): never an empty action mask for a value found.
        span = (start, end) if end > start else (start - 1, end + closed)
        return _Field(value, span, closed, repr(_clip(value)))
    if match.group("nested") is not None:
        opener = match.string[match.end()]
        return _Field(None, None, True, "an object" if opener == "{" else "a list")
    raw = match.group("bare")
    stripped = raw.strip()
    if not stripped:
        return _Field(None, None, True, "nothing")
    start = match.start("bare") + (len(raw) - len(raw.lstrip()))
    return _Field(stripped, (start, start + len(stripped)), True, repr(_clip(stripped)))


def _decode_json_string(raw: str) -> str:
    if "\\" not in raw:
        return raw  # nothing to decode (and control characters are taken as written)
    try:
        return json.loads(f'"{raw}"', strict=False)
    except ValueError:
        return raw  # not valid JSON escapes: the text as written


def _legal_action(value: str, legal: dict[str, str], most_words: int) -> str | None:
    """The legal action `value` names, or None.

    A value with more words than any legal action names none, and is never normalised whole: a
    megabyte of words costs one split that stops after `most_words` + 1 of them.
    """
    words = value.split(maxsplit=most_words)
    if len(words) > most_words:
        return None
    return legal.get(normalize_action(" ".join(words)))


_NO_ACTION = object()  # the outcome of a field that holds no action; None is a value that is not legal


def parse_action(answer: str, legal_actions: Sequence[str]) -> ParseResult:
    """Parse `answer` for its action field and match it against `legal_actions`.

    Every action field found must name the same legal action; otherwise the answer is ambiguous.
    Reading stops after MAX_FIELDS + 1 fields, so the work per answer is bounded by its length alone.
    """
    fields = list(islice(map(_field, _FIELD.finditer(answer)), MAX_FIELDS + 1))
    if not fields:
        return ParseResult(ParseStatus.NO_ACTION_FIELD, reason='no "action" field in the answer')
    legal = {normalize_action(a): a for a in legal_actions}
    most_words = max((len(name.split()) for name in legal), default=0)
    outcomes = {_NO_ACTION if f.value is None else _legal_action(f.value, legal, most_words) for f in fields}
    last = fields[-1]
    found = dict(value=last.value, span=last.span)
    if not last.closed:
        reason = f"the action value {last.shown} has no closing quote: the answer ended (or was cut) inside it"
        return ParseResult(ParseStatus.UNTERMINATED, **found, reason=reason)
    if len(fields) > MAX_FIELDS:
        reason = f"more than {MAX_FIELDS} action fields: a loop, not one decision"
        return ParseResult(ParseStatus.AMBIGUOUS, **found, reason=reason)
    if len(outcomes) > 1:
        listed = ", ".join(f.shown for f in fields[:_DESCRIBED]) + (", ..." if len(fields) > _DESCRIBED else "")
        return ParseResult(ParseStatus.AMBIGUOUS, **found, reason=f"{len(fields)} action fields disagree: {listed}")
    (action,) = outcomes
    if action is _NO_ACTION:
        return ParseResult(ParseStatus.NO_ACTION_FIELD, reason=f'the "action" field holds {last.shown}, not an action')
    if action is None:
        return ParseResult(ParseStatus.NOT_LEGAL, **found, reason=f"{last.shown} is not a legal action")
    return ParseResult(ParseStatus.OK, action=action, **found)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
