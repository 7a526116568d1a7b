"""The agent's answer as rich Text: thoughts and action told apart, tokens shaded by log-prob."""
from __future__ import annotations

import math
import re
from typing import Sequence

from rich.color import Color
from rich.style import Style
from rich.text import Text

from vlm_agent.agent.parsing import parse_action

THOUGHTS_STYLE = "cyan"
ACTION_STYLE = "bold black on yellow"
OTHER_STYLE = "bright_black"

_THOUGHTS_KEY = re.compile(r"""(["'])thoughts\1\s*:\s*(["'])""", re.IGNORECASE)


def thoughts_span(answer: str) -> tuple[int, int] | None:
    """[start, end) of the thoughts value (to the end of the text while it is still being written)."""
    match = _THOUGHTS_KEY.search(answer)
    if match is None:
        return None
    quote, index = match.group(2), match.end()
    while index < len(answer) and answer[index] != quote:
        index += 2 if answer[index] == "\\" else 1
    return match.end(), min(index, len(answer))


def answer_text(answer: str, legal_actions: Sequence[str], streaming: bool = False) -> Text:
    """The answer with its thoughts and its action field coloured (works on a partial answer too)."""
    text = Text(answer, style=OTHER_STYLE)
    span = thoughts_span(answer)
    if span:
        text.stylize(THOUGHTS_STYLE, *span)
    action_span = parse_action(answer, legal_actions).span
    if action_span and action_span[1] > action_span[0]:
        text.stylize(ACTION_STYLE, *action_span)
    if streaming:
        text.append("▌", style="blink")
    return text


def token_text(
    tokens: Sequence[str], logprobs: Sequence[float], cot_mask: Sequence[bool], action_mask: Sequence[bool]
) -> Text:
    """One span per token: its colour says CoT, action or other; a red background says improbable."""
    text = Text()
    for token, logprob, cot, action in zip(tokens, logprobs, cot_mask, action_mask):
        colour = "yellow" if action else "cyan" if cot else "bright_black"
        surprise = 1.0 - math.exp(min(0.0, logprob))  # 0 for a sure token, towards 1 for an unlikely one
        shade = Color.from_rgb(40 + 150 * surprise, 20, 20) if surprise > 0.1 else None
        text.append(token, style=Style(color=colour, bgcolor=shade, bold=action))
    return text


def logprob_summary(
    logprobs: Sequence[float], cot_mask: Sequence[bool], action_mask: Sequence[bool], thought_coef: float
) -> str:
    """Token counts and summed log-probs of CoT and action, and the step log-prob PPO uses."""
    cot = [lp for lp, m in zip(logprobs, cot_mask) if m]
    action = [lp for lp, m in zip(logprobs, action_mask) if m]
    step = thought_coef * sum(cot) + sum(action)
    return (
        f"Σ log-prob: CoT {sum(cot):.2f} ({len(cot)} tok) · action {sum(action):.2f} ({len(action)} tok)"
        f" · step {step:.2f} (λ={thought_coef:g})"
    )
