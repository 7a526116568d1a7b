"""How many Points24 deals can be solved: under our exact arithmetic, and under the paper's Python eval.

Our environment checks a formula with exact rationals over + - * / and parentheses
(envs/arithmetic.py). The paper's joins the tokens into a string and calls Python's `eval`, which
also reads adjacent numbers as one ("2", "4" -> 24), "* *" as a power and "/ /" as floor division,
takes a leading "-" as negation, and computes in floats ("8/(3-8/3)" is 23.99999999999999 there).
`python_eval_solution` searches formulas as that checker sees them and proves each find by
calling `eval` on it; `solvable_fractions` weighs every deal by its probability.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations, permutations
from typing import Iterator, Sequence

from vlm_agent.envs.arithmetic import is_solvable
from vlm_agent.envs.cards import RANKS, SUITS, Card

FORMULA_LIMIT = 20  # tokens; the paper's limit as ours
MAX_POWER_BITS = 4096  # a power above 2**4096 is not computed: with at most one card left, nothing brings it back to 24
_OPERATORS = {  # the operator as Python reads it -> its tokens in the environment's action set
    "+": ("+",), "-": ("-",), "*": ("*",), "/": ("/",), "//": ("/", "/"), "**": ("*", "*"),
}
Formula = tuple[str, ...]  # tokens, as the environment's actions spell them


def card_value_probs() -> dict[int, float]:
    """Probability of each card value in one draw of envs.cards.deal_card (10 is 10, J, Q or K)."""
    counts = Counter(Card(rank, SUITS[0]).value for rank in RANKS)
    return {value: n / len(RANKS) for value, n in sorted(counts.items())}


def deals(cards: int = 4) -> Iterator[tuple[tuple[int, ...], float]]:
    """Every multiset of `cards` card values (sorted) with its probability under independent draws."""
    probs = card_value_probs()
    for values in _multisets(tuple(probs), cards):
        ways = math.factorial(cards)
        for n in Counter(values).values():
            ways //= math.factorial(n)
        yield values, ways * math.prod(probs[v] for v in values)


def _multisets(items: tuple[int, ...], size: int) -> Iterator[tuple[int, ...]]:
    if size == 0:
        yield ()
        return
    for k, item in enumerate(items):
        for rest in _multisets(items[k:], size - 1):
            yield (item, *rest)


def _apply(op: str, a, b):
    """a op b as Python computes it; None where Python raises, or where a power would be astronomically large."""
    try:
        if op == "+":
            value = a + b
        elif op == "-":
            value = a - b
        elif op == "*":
            value = a * b
        elif op == "/":
            value = a / b
        elif op == "//":
            value = a // b
        else:
            if isinstance(a, int) and isinstance(b, int) and abs(a) > 1 and b * math.log2(abs(a)) > MAX_POWER_BITS:
                return None
            value = a ** b
    except (ArithmeticError, TypeError, ValueError):  # division by zero, float overflow, complex // ...
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, complex) and not (math.isfinite(value.real) and math.isfinite(value.imag)):
        return None
    return value


def _key(value) -> tuple:
    # 3 and 3.0 are equal but not interchangeable (3 ** 40 is exact, 3.0 ** 40 is not): keep both.
    return (type(value).__name__, value)


def _operand(formula: Formula, atomic: bool) -> Formula:
    return formula if atomic else ("(", *formula, ")")


def _reachable(values: tuple[int, ...]) -> dict[tuple, tuple[object, Formula, bool]]:
    """Every value a formula over exactly `values` (sorted card values) can take under Python's eval.

    Maps each value's key to (value, the shortest formula found for it, whether that formula is
    atomic: a bare number or wrapped in parentheses). Other operands are parenthesised, so a
    formula means its tree.
    """
    found: dict[tuple, tuple[object, Formula, bool]] = {}

    def add(value, formula: Formula, atomic: bool) -> None:
        if value is None or len(formula) > FORMULA_LIMIT:
            return
        key = _key(value)
        if key not in found or len(formula) < len(found[key][1]):
            found[key] = (value, formula, atomic)

    for order in set(permutations(values)):  # adjacent numbers are one number to eval: "2", "4" is 24
        add(int("".join(map(str, order))), tuple(map(str, order)), True)
    for left, right in _splits(values):
        for a, fa, atomic_a in _sub_reachable(left).values():
            for b, fb, atomic_b in _sub_reachable(right).values():
                for op, tokens in _OPERATORS.items():
                    add(_apply(op, a, b), (*_operand(fa, atomic_a), *tokens, *_operand(fb, atomic_b)), False)
    for value, formula, atomic in list(found.values()):
        add(_apply("-", 0, value), ("(", "-", *_operand(formula, atomic), ")"), True)
    return found


# Parts of a deal recur across deals (at most three cards of ten values: a few hundred); whole deals do not.
_sub_reachable = lru_cache(maxsize=None)(_reachable)


def _splits(values: tuple[int, ...]) -> Iterator[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every ordered split of a sorted multiset into two non-empty sorted parts, each once."""
    seen = set()
    indices = range(len(values))
    for size in range(1, len(values)):
        for chosen in combinations(indices, size):
            left = tuple(values[k] for k in chosen)
            right = tuple(values[k] for k in indices if k not in chosen)
            if (left, right) not in seen:
                seen.add((left, right))
                yield left, right


def python_eval_solution(values: Sequence[int], target: int = 24) -> Formula | None:
    """A formula over exactly `values` that the paper's checker accepts (eval(formula) == target), or None.

    The search is over expression trees, each operand spelled in parentheses, so a formula found is
    at most as long as the limit allows but a few formulas that fit only with fewer parentheses may be
    missed: the fraction it gives is a lower bound, and every formula it returns is checked by `eval`.
    """
    values = tuple(sorted(values))
    candidates = [(v, f, atomic) for v, f, atomic in _reachable(values).values() if v == target]
    for value, formula, atomic in sorted(candidates, key=lambda c: len(c[1])):
        spelled = formula
        if len(spelled) <= FORMULA_LIMIT and accepted_by_python_eval(spelled, values, target):
            return spelled
    return None


def accepted_by_python_eval(formula: Formula, values: Sequence[int], target: int) -> bool:
    """The paper's check: the numbers used are the cards, and eval of the joined tokens equals the target."""
    numbers = sorted(int(t) for t in formula if t.isdigit())
    if numbers != sorted(values) or len(formula) > FORMULA_LIMIT:
        return False
    try:
        return eval("".join(formula), {"__builtins__": {}}) == target  # noqa: S307 (the paper's checker; tokens are ours)
    except Exception:
        return False


@dataclass(frozen=True)
class SolvableFractions:
    """Probability that a Points24 deal can be solved under each checker."""

    strict: float  # ours: exact + - * / and parentheses
    python_eval: float  # the paper's: Python eval (joined numbers, **, //, negation, floats)
    deals: int  # distinct multisets of values weighed


def solvable_fractions(target: int = 24, cards: int = 4) -> SolvableFractions:
    """Both fractions over every deal of `cards` cards, each weighed by its probability."""
    strict = lenient = 0.0
    count = 0
    for values, p in deals(cards):
        count += 1
        strict += p * is_solvable(values, target, "+-*/")
        lenient += p * (python_eval_solution(values, target) is not None)
    return SolvableFractions(strict, lenient, count)
