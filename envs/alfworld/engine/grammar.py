"""TextWorld's text derivation from the ALFRED grammar, without the work it repeats on every call.

Every reset and step derives text (the intro, feedback, each admissible command) with
`ContextSensitiveGrammar.derive`. The stock code re-parses each start string and each condition
(`{... | query}`, a rule's `condition`) with tatsu on every use, and deep-copies every context it
hands on, EntityInfo objects included, although nothing in a derivation changes an entity, a
variable or a placeholder: only the dicts that hold them get new entries. Here strings are parsed
once per process and contexts get fresh dicts over the same objects. The derived text is the stock
one: tests/test_alfworld_engine.py checks it step for step against the stock PddlEnv.
"""
from __future__ import annotations

import copy
import re
from functools import lru_cache

from textworld.envs.pddl import textgen
from textworld.envs.pddl.textgen import (ConditionalSymbol, ContextSensitiveGrammar, CSGUnknownSymbolError,
                                         ListSymbol, NonterminalSymbol, Symbol, TerminalSymbol)
from textworld.logic import Rule


class CommandMemoGrammar(ContextSensitiveGrammar):
    """The stock grammar, parsing each string once, plus a memo of command texts.

    In the ALFRED grammar a command's text reads only its arguments' names and static facts
    (`receptacleAtLocation`), so the same arguments always give the same command within a game.
    Feedback text depends on the state and is derived every time.
    """

    def __init__(self, base: ContextSensitiveGrammar, command_templates: frozenset[str]):
        super().__init__()
        self._rules = base._rules
        self._command_templates = command_templates
        self._commands: dict = {}

    def derive(self, start: str, context={}) -> str:
        if start not in self._command_templates:
            return self._derive(start, context)
        # Only the arguments the template names: GotoLocation's text ignores where the agent starts.
        named = _words(start)
        key = (start, frozenset(item for item in context["mapping"].items() if item[0].name in named))
        if key not in self._commands:
            self._commands[key] = self._derive(start, context)
        return self._commands[key]

    def _derive(self, start: str, context: dict) -> str:
        derivation = copy.deepcopy(_parsed(start))[::-1]  # a stack, as in the stock derive
        for symbol in derivation:
            symbol.context = _copy_context(context)
        derived = []
        while derivation:
            symbol = derivation.pop()
            if isinstance(symbol, TerminalSymbol):
                derived.append(symbol)
            elif isinstance(symbol, NonterminalSymbol):
                derivation += self.replace(symbol)[::-1]
            elif isinstance(symbol, ConditionalSymbol):
                derivation += _conditional(symbol)[::-1]
            elif isinstance(symbol, ListSymbol):
                derivation += _list(symbol)[::-1]
            else:  # EvalSymbol: reads its context, copies nothing
                derivation += symbol.derive()[::-1]
        return "".join(map(str, derived))

    def replace(self, start: Symbol) -> list[Symbol]:
        """The stock replace: the first production whose condition holds, in a copy of the context."""
        rules = self._rules.get(str(start))
        if not rules:
            raise CSGUnknownSymbolError(start)
        applicable = [rule for rule in rules if not rule.condition or _holds(rule.condition, start.context)]
        symbols = copy.deepcopy(applicable[0].rhs)
        for symbol in symbols:
            symbol.context = _copy_context(start.context)
        return symbols


def _copy_context(context: dict) -> dict:
    """textgen.copy_context with new dicts over the same (never changed) values, not deep copies."""
    return {"state": context["state"], "facts": context["facts"], "variables": dict(context["variables"]),
            "mapping": dict(context["mapping"]), "entity_infos": context["entity_infos"]}


def _holds(condition: str, context: dict) -> bool:
    return next(iter(context["state"].all_assignments(_query_rule(condition), context["mapping"])), None) is not None


def _conditional(symbol: ConditionalSymbol) -> list[Symbol]:
    """ConditionalSymbol.derive: the expression once per match of the query (once if there is none)."""
    context = _copy_context(symbol.context)
    contexts = _query(symbol.given, context) if symbol.given else [context]
    derived = []
    for each in contexts:
        expression = copy.deepcopy(symbol.expression)
        expression.context = _copy_context(each)
        derived.append(expression)
    return derived


def _query(expression: str, context: dict) -> list[dict]:
    """textgen.query: one context per assignment of the query's placeholders in the state."""
    contexts = []
    for mapping in context["state"].all_assignments(_query_rule(expression), context["mapping"]):
        each = _copy_context(context)
        each["variables"].update({ph.name: each["entity_infos"][var.name] for ph, var in mapping.items()})
        each["mapping"].update(mapping)
        contexts.append(each)
    return contexts


def _list(symbol: ListSymbol) -> list[Symbol]:
    """ListSymbol.derive: the inner symbol's derivations joined as a list in words."""
    inner = symbol.symbol
    inner.context = symbol.context
    items = _conditional(inner) if isinstance(inner, ConditionalSymbol) else inner.derive()
    return textgen.display_list(items, symbol.context)


@lru_cache(maxsize=1024)
def _parsed(start: str) -> list:
    return textgen._parse_and_convert(start, rule_name="symbols")


@lru_cache(maxsize=1024)
def _query_rule(expression: str) -> Rule:
    return Rule.parse_conjunctive_query(expression)


@lru_cache(maxsize=256)
def _words(template: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", template))
