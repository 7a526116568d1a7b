"""alfworld's TextWorld engine with the per-game work done once instead of on every load, reset and step.

The engine is TextWorld's `PddlEnv` (fast-downward underneath) wrapped by alfworld's own
`AlfredDemangler`, `AlfredInfos` and `AlfredExpert`, exactly the stack `AlfredTWEnv` builds. Three
costs of the stock engine are work repeated on identical input, so they are kept here:

- the grammar (`alfred.twl2`) is parsed with tatsu for every game although all games share it:
  it is parsed once per process and only the task sentence is swapped in per game;
- fast-downward's PDDL->SAS translation runs four times per game (load and reset, each with a
  second, optimised translation used only by the planner expert): once per game here, kept in
  memory and on disk (grounding.py);
- every step re-derives the text of every admissible command from the grammar (a tatsu parse and
  deep copies per command), although a command's text depends only on the action's arguments and
  static facts: it is derived once per game and argument tuple, and every derivation parses each
  string once per process and copies no more than it must (grammar.py).

Everything the player sees (feedback, admissible commands, won, facts) is still computed by the
stock code, text derivation by a leaner copy of it; tests/test_alfworld_engine.py checks it step
for step against the stock PddlEnv.
"""
from __future__ import annotations

import copy
from collections import Counter, defaultdict
from functools import lru_cache

import textworld
from textworld.core import GameState
from textworld.envs import PddlEnv
from textworld.envs.pddl import logic as pddl_logic
from textworld.envs.pddl.textgen import ContextSensitiveGrammar, ProductionRule, TerminalSymbol

from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos

from vlm_agent.envs.alfworld.engine.expert import ExpertPlan
from vlm_agent.envs.alfworld.engine.games import TASK_PLACEHOLDER, GameText, read_game
from vlm_agent.envs.alfworld.engine.grammar import CommandMemoGrammar
from vlm_agent.envs.alfworld.engine.grounding import Grounded, ground


@lru_cache(maxsize=8)
def shared_logic(domain: str, grammar: str) -> pddl_logic.GameLogic:
    """The parsed domain and grammar (with the task placeholder), once per process."""
    return pddl_logic.GameLogic(domain=domain, grammar=grammar)


def game_logic(game: GameText) -> pddl_logic.GameLogic:
    """A shallow copy of the shared logic whose task rule says this game's sentence."""
    base = shared_logic(game.domain, game.grammar)
    logic = copy.copy(base)
    rules = defaultdict(list, base.grammar._rules)
    for name, productions in base.grammar._rules.items():
        if any(TASK_PLACEHOLDER in str(symbol) for rule in productions for symbol in rule.rhs):
            rules[name] = [_with_sentence(rule, game.sentence) for rule in productions]
    grammar = ContextSensitiveGrammar()
    grammar._rules = rules
    templates = frozenset(action.template for action in base.actions.values())
    logic.grammar = CommandMemoGrammar(grammar, templates)
    return logic


def _with_sentence(rule: ProductionRule, sentence: str) -> ProductionRule:
    rhs = [TerminalSymbol(str(s).replace(TASK_PLACEHOLDER, sentence)) if isinstance(s, TerminalSymbol) else s
           for s in rule.rhs]
    return ProductionRule(rule.lhs, rhs, rule.weight, rule.condition)


class GroundedState(pddl_logic.PddlState):
    """PddlState built from a cached translation (its own constructor translates twice).

    The optimised second translation feeds only `replan` (the planner expert and walkthroughs),
    which this engine does not offer.
    """

    def __init__(self, downward_lib, grounded: Grounded, logic: pddl_logic.GameLogic, problem: str):
        self._facts = defaultdict(set)
        self._vars_by_name = {}
        self._vars_by_type = defaultdict(set)
        self._var_counts = Counter()
        self._logic = logic
        self.downward_lib = downward_lib
        self.pddl_problem = problem
        self._actions = grounded.actions()
        for name, supertypes in grounded.types:
            try:
                logic.types.add(textworld.logic.Type(name, supertypes))
            except ValueError:  # already known from an earlier game
                pass
        downward_lib.load_sas(grounded.sas.encode("utf-8"))
        self.name2type = grounded.name2type
        if grounded.start_facts is None:
            atoms = (pddl_logic.Atom * downward_lib.get_state_size())()
            downward_lib.get_state(atoms)
            facts = [atom.get_fact(self.name2type) for atom in atoms]
            grounded.start_facts = grounded.init_propositions() + [fact for fact in facts if not fact.is_negation]
        self.add_facts(grounded.start_facts)

    def replan(self, infos):
        raise NotImplementedError("this engine does not load the planner's translation")


class FastPddlEnv(PddlEnv):
    """PddlEnv that loads a game file through `games.read_game` (old grammars upgraded) and the caches."""

    def load(self, game_file: str) -> None:
        game = read_game(game_file)
        self._game_file = game_file
        self._game_data = {"pddl_domain": game.domain, "grammar": game.grammar, "pddl_problem": game.problem}
        self.walkthrough = None
        self._logic = game_logic(game)
        self._grounded = ground(game.domain, game.problem)
        self._pddl_state = GroundedState(self.downward_lib, self._grounded, self._logic, game.problem)
        self._entity_infos = self._get_entity_infos()
        self._fresh_state = self._pddl_state

    def reset(self):
        """PddlEnv.reset, with the state from the cache (the one `load` built serves the first reset)."""
        fresh, self._fresh_state = self._fresh_state, None
        self._pddl_state = fresh or GroundedState(self.downward_lib, self._grounded, self._logic,
                                                  self._game_data["pddl_problem"])
        self.prev_state = None
        self.state = GameState()
        self._last_action = None
        self._moves = 0
        context = {"state": self._pddl_state, "facts": list(self._pddl_state.facts), "variables": {},
                   "mapping": {}, "entity_infos": self._entity_infos}
        self.state.feedback = self._logic.grammar.derive("#intro#", context)
        self.state.raw = self.state.feedback
        self._gather_infos()
        return self.state


def make_engine(with_expert: bool = True) -> textworld.core.Environment:
    """The AlfredTWEnv wrapper stack over the fast engine; `with_expert` adds the fixed expert's plan."""
    infos = textworld.EnvInfos(admissible_commands=True, won=True, facts=True, extras=["gamefile"])
    env = AlfredInfos(AlfredDemangler(FastPddlEnv(infos), shuffle=False))
    return ExpertPlan(env) if with_expert else env
