"""Find the action field in a free-text answer and match it exactly against the legal actions."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Sequence

from vlm_agent.envs.base import normalize_action  # the environments' own matching rule


class ParseStatus(str, Enum):
    OK = "ok"
    NO_ACTION_FIELD = "no_action_field"
    NOT_LEGAL = "not_legal"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class ParseResult:
    """Outcome of parsing one answer.

    `action` is the legal action as the environment spells it (None unless status is OK).
    `span` is the [start, end) character span of the action value in the answer, for the policy
    to turn into a token mask; it is set whenever a value was found, legal or not.
    """

    status: ParseStatus
    action: str | None = None
    value: str | None = None
    span: tuple[int, int] | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status is ParseStatus.OK


# A JSON-style key: "action" or 'action', any case, then a colon.
ACTION_KEY = re.compile(r"""(["'])action\1\s*:\s*""", re.IGNORECASE)
_BARE_VALUE_END = re.compile(r"[,}\]\n]")
_DECODER = json.JSONDecoder()


def _read_value(answer: str, start: int) -> tuple[str, int, int] | None:
    """Read the value that starts at `start`; return (value, span_start, span_end)."""
    if start >= len(answer):
        return None
    opener = answer[start]
    if opener == '"':
        try:
            value, end = _DECODER.raw_decode(answer, start)
        except json.JSONDecodeError:
            close = answer.find('"', start + 1)  # unterminated escapes: take up to the next quote
            end = (close + 1) if close != -1 else len(answer)
            value = answer[start + 1 : end - 1 if close != -1 else end]
        if not isinstance(value, str):
            return None
        return value, start + 1, max(start + 1, end - 1)
    if opener == "'":
        close = answer.find("'", start + 1)
        end = close if close != -1 else len(answer)
        return answer[start + 1 : end], start + 1, end
    if opener in "{[":
        return None  # a nested object is not an action
    match = _BARE_VALUE_END.search(answer, start)
    end = match.start() if match else len(answer)
    raw = answer[start:end]
    stripped_end = start + len(raw.rstrip())
    return raw.strip(), start, stripped_end


def parse_action(answer: str, legal_actions: Sequence[str]) -> ParseResult:
    """Parse `answer` for its action field and match it against `legal_actions`.

    Every action field found must name the same legal action; otherwise the answer is ambiguous.
    """
    legal = {normalize_action(a): a for a in legal_actions}
    found: list[tuple[str, int, int]] = []
    for key in ACTION_KEY.finditer(answer):
        read = _read_value(answer, key.end())
        if read is not None:
            found.append(read)
    if not found:
        return ParseResult(ParseStatus.NO_ACTION_FIELD, reason='no "action" field in the answer')

    matched = [(legal.get(normalize_action(value)), value, s, e) for value, s, e in found]
    names = {action for action, *_ in matched}
    if len(found) > 1 and len(names) > 1:
        values = ", ".join(repr(_clip(v)) for _, v, _, _ in matched)
        return ParseResult(
            ParseStatus.AMBIGUOUS,
            value=matched[-1][1],
            span=(matched[-1][2], matched[-1][3]),
            reason=f"{len(found)} action fields disagree: {values}",
        )
    action, value, start, end = matched[-1]
    if action is None:
        return ParseResult(
            ParseStatus.NOT_LEGAL,
            value=value,
            span=(start, end),
            reason=f"{_clip(value)!r} is not a legal action",
        )
    return ParseResult(ParseStatus.OK, action=action, value=value, span=(start, end))


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
