"""The action parser: finds the action field in free text and matches legal actions exactly."""
import pytest

from vlm_agent.agent.parsing import ParseStatus, normalize_action, parse_action

CABINETS = ["go to cabinet 1", "go to cabinet 10", "open cabinet 1"]
NUMBERS = [str(n) for n in range(1, 11)] + ["+", "-", "*", "/", "(", ")", "="]


def test_plain_json_answer_parses_with_span_of_value():
    answer = '{"thoughts": "current 2, target 4", "action": "+"}'
    result = parse_action(answer, ["+", "-"])
    assert result.status is ParseStatus.OK and result.action == "+"
    start, end = result.span
    assert answer[start:end] == "+"


def test_empty_answer_has_no_action_field():
    result = parse_action("", ["+", "-"])
    assert result.status is ParseStatus.NO_ACTION_FIELD and result.span is None
    assert "action" in result.reason


def test_prose_without_field_has_no_action_field():
    assert parse_action("I think I should add one. +", ["+", "-"]).status is ParseStatus.NO_ACTION_FIELD


@pytest.mark.parametrize(
    "written, expected",
    [("go to cabinet 1", "go to cabinet 1"), ("go to cabinet 10", "go to cabinet 10"), ("Go  To Cabinet 1", "go to cabinet 1")],
)
def test_cabinet_1_never_matches_cabinet_10(written, expected):
    result = parse_action(f'{{"action": "{written}"}}', CABINETS)
    assert result.ok and result.action == expected


def test_prefix_of_a_legal_action_is_not_legal():
    result = parse_action('{"action": "go to cabinet"}', CABINETS)
    assert result.status is ParseStatus.NOT_LEGAL and result.action is None
    assert "go to cabinet" in result.reason


def test_ten_never_reads_as_one_and_one_never_as_ten():
    assert parse_action('{"action": "10"}', NUMBERS).action == "10"
    assert parse_action('{"action": "1"}', NUMBERS).action == "1"
    assert parse_action('{"action": "100"}', NUMBERS).status is ParseStatus.NOT_LEGAL


def test_bare_numeric_value_parses():
    answer = '{"thoughts": "use ten", "action": 10}'
    result = parse_action(answer, NUMBERS)
    assert result.ok and result.action == "10"
    assert answer[slice(*result.span)] == "10"


def test_case_and_whitespace_are_normalised_but_returned_as_env_spells_it():
    result = parse_action('{"action": "  HIT \\n"}', ["stand", "hit"])
    assert result.ok and result.action == "hit"
    assert normalize_action("  Go\tTo  Cabinet 1 ") == "go to cabinet 1"


def test_unicode_thoughts_and_lookalike_action():
    answer = '{"thoughts": "Ziel erreicht? Nein — 2 → 4 ✓ 日本語", "action": "+"}'
    assert parse_action(answer, ["+", "-"]).action == "+"
    # A full-width plus sign is not the ASCII "+" the game accepts.
    assert parse_action('{"action": "＋"}', ["+", "-"]).status is ParseStatus.NOT_LEGAL


def test_nested_json_thoughts_do_not_confuse_the_parser():
    answer = '{"thoughts": {"cards": [2, 6], "plan": {"formula": "2*6"}}, "action": "*"}'
    result = parse_action(answer, NUMBERS)
    assert result.ok and result.action == "*"


def test_nested_object_as_action_value_is_not_an_action():
    result = parse_action('{"action": {"name": "+"}}', ["+", "-"])
    assert result.status is ParseStatus.NO_ACTION_FIELD


def test_two_disagreeing_action_fields_are_ambiguous():
    result = parse_action('{"action": "+"} {"action": "-"}', ["+", "-"])
    assert result.status is ParseStatus.AMBIGUOUS and result.action is None
    assert "2 action fields" in result.reason


def test_two_agreeing_action_fields_are_ok():
    answer = '{"action": "hit"} so: {"action": "HIT"}'
    result = parse_action(answer, ["stand", "hit"])
    assert result.ok and result.action == "hit"
    assert answer[slice(*result.span)] == "HIT"  # the last field is the final answer


def test_single_quoted_key_and_value():
    answer = "{'thoughts': 'ok', 'action': 'stand'}"
    result = parse_action(answer, ["stand", "hit"])
    assert result.ok and answer[slice(*result.span)] == "stand"


def test_escaped_quotes_inside_value():
    answer = r'{"action": "say \"hi\""}'
    result = parse_action(answer, ['say "hi"'])
    assert result.ok


def test_unterminated_value_is_read_to_the_end():
    result = parse_action('{"thoughts": "x", "action": "stand', ["stand", "hit"])
    assert result.ok and result.action == "stand"


def test_huge_answer_parses_quickly_and_correctly():
    answer = '{"thoughts": "' + "blah " * 200_000 + '", "action": "-"}'
    result = parse_action(answer, ["+", "-"])
    assert result.ok and result.action == "-"
    assert answer[slice(*result.span)] == "-"


def test_huge_garbage_has_no_action_field():
    assert parse_action("x" * 1_000_000, ["+"]).status is ParseStatus.NO_ACTION_FIELD


def test_action_key_is_case_insensitive_but_must_be_a_key():
    assert parse_action('{"Action": "+"}', ["+", "-"]).ok
    assert parse_action('{"actions": "+"}', ["+", "-"]).status is ParseStatus.NO_ACTION_FIELD
    assert parse_action('{"thoughts": "the action is +"}', ["+", "-"]).status is ParseStatus.NO_ACTION_FIELD
