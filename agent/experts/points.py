"""EZPoints and Points24 experts: find a formula of the cards that hits the target, type it token by token."""
from __future__ import annotations

import random
from functools import partial

from vlm_agent.agent.interface import Observation
from vlm_agent.envs.arithmetic import format_formula, solutions


def _read_cards(cards: list[dict]) -> str:
    """"K=10, 3, A=1": each card as drawn, with its value where the rank is a letter."""
    return ", ".join(card["rank"] if card["rank"].isdigit() else f"{card['rank']}={card['value']}" for card in cards)


def _card_order(plan: tuple[str, ...], values: list[int]) -> list[int]:
    """Which card each number of the plan takes (the leftmost unused card of that value)."""
    free = list(values)
    order = []
    for token in plan:
        if token.isdigit():
            k = free.index(int(token))
            free[k] = None
            order.append(k)
    return order


def _descending_first(plan: tuple[str, ...]) -> tuple:
    """Sort key: plans taking the numbers largest first, then shorter ones.

    It depends on the multiset of card values alone, never on the deal's order, so a model that
    writes the sorted values can learn one plan per multiset (566 solvable ones in Points24).
    """
    return [-int(token) for token in plan if token.isdigit()], len(plan), plan


def formula_expert(obs: Observation, rng: random.Random, sort_cards: bool = False) -> tuple[str, str]:
    """The next token of a formula of all cards that equals the target.

    The plan is the shortest such formula, taking the cards left to right where it can. It
    continues the formula already typed: the plan is the first formula that starts with it (typed
    with minimal or full parentheses, or wrapped whole; other spellings count as gone wrong).
    When none does (the formula went wrong, e.g. a blank from a number the cards lack) or the
    deal has no solution at all, it ends the episode with "=" at once: no move can earn more than
    that -1 any more, and ending it saves the steps. Deterministic (rng unused): the same cards
    always get the same plan, which supervised fine-tuning learns best.

    With sort_cards, the thoughts also list the values largest first and the plan is chosen from
    those alone (largest numbers first, then shortest), so every deal of the same cards, in any
    order, gets the same plan.
    """
    state = obs.state
    target, typed = state["target"], list(state["formula"])
    cards = f"Cards: {_read_cards(state['cards'])}."
    if sort_cards:
        cards += f" Sorted: {', '.join(map(str, sorted(state['values'], reverse=True)))}."
    plans = sorted(
        solutions(state["values"], target, state["operators"], state["formula_limit"], state["parentheses"]),
        key=_descending_first if sort_cards else lambda plan: (len(plan), _card_order(plan, state["values"])),
    )
    if not plans:
        return f"{cards} No formula of these cards makes {target}, so end now with =.", "="
    plan = next((p for p in plans if list(p[: len(typed)]) == typed), None)
    so_far = format_formula(typed) if typed else "empty"
    if plan is None:
        return f"{cards} The formula {so_far} cannot make {target} any more, so end it with =.", "="
    said_plan = f"Plan: {format_formula(plan)} = {target}."
    if len(plan) == len(typed):
        return f"{cards} {said_plan} The formula is complete, so press =.", "="
    token = plan[len(typed)]
    return f"{cards} {said_plan} The formula is {so_far}, so the next token is {token}.", token


# Both games play by the same rules; the state carries the target, operators and formula limit.
# Points24's deals are too many to learn plans per ordered deal (about 10^4), so its plans follow
# the sorted cards; EZPoints' two cards need no such help.
ezpoints_expert = formula_expert
points24_expert = partial(formula_expert, sort_cards=True)
