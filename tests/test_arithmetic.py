"""The safe formula evaluator and the formula search behind the Points games."""
from fractions import Fraction

import pytest

from vlm_agent.envs.arithmetic import evaluate, format_formula, is_solvable, solutions


def tokens(text):
    return text.split()


@pytest.mark.parametrize(
    "formula, value",
    [
        ("12", 12),
        ("3 * 4", 12),
        ("2 + 3 * 4", 14),  # * binds tighter than +
        ("( 2 + 3 ) * 4", 20),
        ("10 - 4 - 3", 3),  # left to right
        ("8 / 4 / 2", 1),
        ("8 / ( 3 - 8 / 3 )", 24),  # exact: 8 / (1/3), where floats give 23.999...
        ("1 / 3", Fraction(1, 3)),
        ("( ( 5 ) )", 5),
    ],
)
def test_evaluates_exactly_with_precedence_and_parentheses(formula, value):
    assert evaluate(tokens(formula)) == value


@pytest.mark.parametrize(
    "formula",
    [
        "", "+", "3 +", "+ 3", "3 4", "( 3 + 4", "3 + 4 )", ") 3 (", "( )", "3 * * 4",
        "5 / 0", "5 / ( 2 - 2 )", "3 + _", "- 3 + 27", "3 ^ 2",
    ],
)
def test_malformed_formulas_and_division_by_zero_have_no_value(formula):
    assert evaluate(tokens(formula)) is None


@pytest.mark.parametrize("token", ["__import__('os')", "1e3", "0x10", "+3", "1_0", "٣", "3.5", "True"])
def test_only_plain_decimal_numbers_are_numbers_and_nothing_is_executed(token):
    assert evaluate([token]) is None


def test_format_formula_spaces_tokens_so_numbers_cannot_merge():
    assert format_formula(["1", "+", "10"]) == "1 + 10"


def test_every_solution_uses_each_card_once_and_hits_the_target():
    values = [3, 3, 8, 8]
    found = solutions(values, 24)
    assert found, "8 / (3 - 8 / 3) is a solution"
    for formula in found:
        assert evaluate(formula) == 24
        assert sorted(int(t) for t in formula if t.isdigit()) == values
    assert [len(f) for f in found] == sorted(len(f) for f in found)  # shortest first


def test_solutions_respect_the_operator_set_and_the_length_limit():
    assert set(solutions([3, 4], 12, "+*", 5, parentheses=False)) == {("3", "*", "4"), ("4", "*", "3")}
    assert ("(", "3", "*", "4", ")") in solutions([3, 4], 12, "+*", 5)
    assert solutions([5, 7], 12, "*", 5) == ()
    assert all(len(f) <= 7 for f in solutions([1, 2, 3, 4], 24, max_tokens=7))


def test_solutions_include_fully_parenthesised_spellings_for_prefix_matching():
    found = solutions([1, 2, 3, 4], 24)
    assert ("1", "*", "2", "*", "3", "*", "4") in found
    assert any(f[0] == "(" for f in found)


@pytest.mark.parametrize(
    "values, solvable",
    [([3, 3, 8, 8], True), ([1, 1, 1, 1], False), ([10, 10, 4, 4], True), ([1, 1, 2, 2], False), ([10, 3, 3, 10], False)],
)
def test_solvability_of_known_deals(values, solvable):
    assert is_solvable(values, 24) is solvable
    assert bool(solutions(values, 24)) is solvable  # the fast check and the search agree


def test_ezpoints_solvability_uses_only_plus_and_times():
    assert is_solvable([6, 2], 12, "+*") and is_solvable([5, 7], 12, "+*")
    assert not is_solvable([10, 1], 12, "+*") and not is_solvable([9, 4], 12, "+*")
