"""Exact arithmetic over card formulas: evaluate token lists safely, and search for formulas.

A formula is a sequence of tokens: numbers ("1".."10"), the operators + - * /, and parentheses.
Evaluation is a small recursive-descent parser over exact rationals (fractions.Fraction); nothing
is ever passed to eval, and anything malformed (or a division by zero) evaluates to None.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import Sequence

OPERATORS = ("+", "-", "*", "/")
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


class _Malformed(Exception):
    """The tokens are not a well-formed formula."""


class _Parser:
    """expr := term (('+'|'-') term)* ; term := factor (('*'|'/') factor)* ; factor := NUMBER | '(' expr ')'."""

    def __init__(self, tokens: Sequence[str]):
        self.tokens = list(tokens)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise _Malformed("unexpected end")
        self.pos += 1
        return token

    def expr(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            right = self.term()
            value = value + right if op == "+" else value - right
        return value

    def term(self) -> Fraction:
        value = self.factor()
        while self.peek() in ("*", "/"):
            op = self.take()
            right = self.factor()
            if op == "*":
                value = value * right
            elif right == 0:
                raise _Malformed("division by zero")
            else:
                value = value / right
        return value

    def factor(self) -> Fraction:
        token = self.take()
        if token == "(":
            value = self.expr()
            if self.take() != ")":
                raise _Malformed("unclosed parenthesis")
            return value
        # Only plain unsigned decimal numbers: "+3", "1_0", "٣" are not numbers here.
        if token.isascii() and token.isdigit():
            return Fraction(int(token))
        raise _Malformed(f"unexpected token {token!r}")


def evaluate(tokens: Sequence[str]) -> Fraction | None:
    """The exact value of a formula, or None if it is empty, malformed or divides by zero."""
    if not tokens:
        return None
    parser = _Parser(tokens)
    try:
        value = parser.expr()
    except _Malformed:
        return None
    if parser.pos != len(parser.tokens):
        return None  # trailing tokens, e.g. a stray ")" or two numbers in a row
    return value


def format_formula(tokens: Sequence[str]) -> str:
    """Tokens as people write them: "( 3 + 5 ) * 3" reads unambiguously, "3+5" could be "35"."""
    return " ".join(tokens)


def _apply(op: str, a: Fraction, b: Fraction) -> Fraction:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    return a * b if op == "*" else a / b


def _render(tree, parent_op: str | None = None, side: str = "", full: bool = False) -> list[str]:
    """Tokens of a tree (an int leaf, or (op, left, right)); parentheses where precedence needs them, or around every subtree if `full`."""
    if isinstance(tree, int):
        return [str(tree)]
    op, left, right = tree
    inner = _render(left, op, "left", full) + [op] + _render(right, op, "right", full)
    if parent_op is None:
        return inner
    needs = full or _PRECEDENCE[op] < _PRECEDENCE[parent_op] or (
        side == "right" and _PRECEDENCE[op] == _PRECEDENCE[parent_op] and parent_op in "-/"
    )
    return ["(", *inner, ")"] if needs else inner


def _trees(items: tuple, operators: str):
    """Every (value, tree) reachable by combining all `items` ((value, tree) pairs) with `operators`."""
    if len(items) == 1:
        yield items[0]
        return
    for i in range(len(items)):
        for j in range(len(items)):
            if i == j:
                continue
            (a, ta), (b, tb) = items[i], items[j]
            rest = tuple(items[k] for k in range(len(items)) if k not in (i, j))
            for op in operators:
                if op == "/" and b == 0:
                    continue
                yield from _trees(rest + ((_apply(op, a, b), (op, ta, tb)),), operators)


@lru_cache(maxsize=4096)
def _solutions(values: tuple[int, ...], target: int, operators: str, max_tokens: int, parentheses: bool) -> tuple[tuple[str, ...], ...]:
    found: dict[tuple[str, ...], None] = {}  # ordered set
    leaves = tuple((Fraction(v), v) for v in values)
    for value, tree in _trees(leaves, operators):
        if value != target:
            continue
        for full in (False, True):
            spelled = tuple(_render(tree, full=full))
            for tokens in (spelled, ("(", *spelled, ")") if len(spelled) > 1 else spelled):
                # Re-check with the evaluator the environment uses, so a rendering slip can never pass.
                allowed = parentheses or "(" not in tokens
                if allowed and len(tokens) <= max_tokens and evaluate(tokens) == target:
                    found.setdefault(tokens, None)
    return tuple(sorted(found, key=len))


def solutions(
    values: Sequence[int], target: int, operators: str = "+-*/", max_tokens: int = 20, parentheses: bool = True
) -> tuple[tuple[str, ...], ...]:
    """Every formula (as tokens, shortest first) that uses each of `values` once and equals `target`.

    Each formula comes with minimal parentheses and fully parenthesised, each also wrapped whole in
    parentheses, so a partly typed formula in any of these styles can be matched as a prefix.
    With parentheses=False only formulas without them. Cached per multiset of values.
    """
    return _solutions(tuple(sorted(values)), target, "".join(sorted(operators)), max_tokens, parentheses)


@lru_cache(maxsize=65536)
def _reachable(values: tuple[Fraction, ...], operators: str) -> frozenset[Fraction]:
    """Every value a formula using all of `values` (sorted) once can take."""
    if len(values) == 1:
        return frozenset(values)
    results = set()
    # Split the multiset in two non-empty parts; each part's formula is one operand.
    for mask in range(1, 2 ** len(values) - 1):
        left = tuple(v for k, v in enumerate(values) if mask >> k & 1)
        right = tuple(v for k, v in enumerate(values) if not mask >> k & 1)
        for a in _reachable(left, operators):
            for b in _reachable(right, operators):
                for op in operators:
                    if not (op == "/" and b == 0):
                        results.add(_apply(op, a, b))
    return frozenset(results)


def is_solvable(values: Sequence[int], target: int, operators: str = "+-*/") -> bool:
    """Whether some formula using each of `values` once equals `target`.

    Searches values, not formulas, so it is quick enough to run at every reset; `solutions` finds
    the formulas themselves.
    """
    key = tuple(sorted(Fraction(v) for v in values))
    return Fraction(target) in _reachable(key, "".join(sorted(operators)))
