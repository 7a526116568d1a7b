"""fast-downward's PDDL->SAS translation of a game, done once per game and kept in memory and on disk.

The translation (grounding every action over the scene's objects) is most of what loading a game
costs: 0.1 to 1.3 s. Its result depends only on the domain and problem text, so it is kept in
memory (the last GROUNDED_CACHE_SIZE games) and as a small gzip'd JSON file under the user's cache
folder, keyed by a hash of both texts and the translator's version; the next process that meets
the game reads it in milliseconds. A cache file that cannot be read is ignored and rewritten.
A translation may also be in flight in a prefetch worker (prefetch.py): `ground` then waits for it.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import json
import sys
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import fast_downward
from textworld.logic import Proposition, Variable

from vlm_agent.core.atomic import write_atomic
from vlm_agent.envs.alfworld.engine.games import UnplayableGame, cache_root

GROUNDED_CACHE_SIZE = 512  # games kept in memory (a few hundred KB each)
FORMAT = "1"  # bump when the stored fields change
_TRIVIAL_TASK = "Atom dummy(val1)"  # the translator's stand-in task for a problem with no relaxed solution


@dataclass
class Grounded:
    """What PddlState needs from a translation, in plain JSON data (lists, as read back from disk)."""

    sas: str
    name2type: dict[str, str]
    types: list[list]  # [name, [supertypes]]
    action_params: dict[str, list[list[str]]]  # action -> [parameter, type], in order
    init_facts: list[list]  # PddlState's initial facts: [predicate, [argument names]]
    start_facts: list | None = field(default=None, compare=False)  # built by the first state (memory only)

    def actions(self) -> dict[str, SimpleNamespace]:
        """Action schemas shaped like fast-downward's (`.parameters[i].name` / `.type_name`)."""
        return {name: SimpleNamespace(parameters=[SimpleNamespace(name=p, type_name=t) for p, t in params])
                for name, params in self.action_params.items()}

    def init_propositions(self) -> list[Proposition]:
        return [Proposition(name, [Variable(arg, self.name2type[arg]) for arg in args])
                for name, args in self.init_facts]


_MEMORY: OrderedDict[str, Grounded] = OrderedDict()
# Translations a prefetch worker is doing (or did, not yet asked for). Read and changed only by the
# thread that resets environments; the futures complete in the prefetch worker's reader thread, or are
# cancelled when every environment that wanted them let go.
IN_FLIGHT: dict[str, Future] = {}


def game_key(domain: str, problem: str) -> str:
    return hashlib.sha256(f"{domain}\0{problem}".encode()).hexdigest()


def ground(domain: str, problem: str) -> Grounded:
    """The translation of a game: from memory, else a prefetch worker, else the disk cache, else fast-downward."""
    key = game_key(domain, problem)
    grounded = (_MEMORY.pop(key, None) or _awaited(key) or _read(cache_path(key))
                or _write(cache_path(key), _translate(domain, problem)))
    _remember(key, grounded)
    if _TRIVIAL_TASK in grounded.sas:
        raise UnplayableGame("unsolvable: the PDDL translator finds no way to reach the goal")
    return grounded


def is_known(key: str) -> bool:
    """In memory or in flight: nothing left to prefetch."""
    return key in _MEMORY or key in IN_FLIGHT


def prepare(domain: str, problem: str, path: str) -> Grounded:
    """A prefetch worker's job: the translation from the disk cache at `path`, else translated and written there.

    The path comes from the parent, whose cache folder may have changed since the worker started.
    """
    return _read(Path(path)) or _write(Path(path), _translate(domain, problem))


def collect_finished() -> None:
    """Move finished prefetches into the memory cache (bounded there); failed or cancelled ones are forgotten and redone."""
    for key, future in list(IN_FLIGHT.items()):
        if future.done():
            del IN_FLIGHT[key]
            if not future.cancelled() and future.exception() is None:
                _remember(key, future.result())


def _awaited(key: str) -> Grounded | None:
    future = IN_FLIGHT.pop(key, None)
    if future is None:
        return None
    try:
        return future.result()
    except UnplayableGame:
        raise
    except Exception:  # the worker died or was stopped, or the job was cancelled: translate here instead
        return None


def _remember(key: str, grounded: Grounded) -> None:
    _MEMORY.pop(key, None)
    _MEMORY[key] = grounded
    if len(_MEMORY) > GROUNDED_CACHE_SIZE:
        _MEMORY.popitem(last=False)


def _translate(domain: str, problem: str) -> Grounded:
    argv = sys.argv[:]  # pddl2sas overwrites sys.argv for its option parser
    try:
        task, sas = fast_downward.pddl2sas(domain, problem)
    except Exception as error:
        raise UnplayableGame(f"the PDDL does not translate ({type(error).__name__}: {error})") from None
    finally:
        sys.argv[:] = argv
    return Grounded(
        sas=sas,
        name2type={o.name: o.type_name for o in task.objects},
        types=[[t.name, list(t.supertype_names)] for t in task.types],
        action_params={a.name: [[p.name, p.type_name] for p in a.parameters] for a in task.actions},
        init_facts=[fact for fact in map(_init_fact, task.init) if fact is not None],
    )


def _init_fact(atom) -> list | None:
    """PddlState's reading of an initial atom (None for what it drops: equality, costs, distances)."""
    if isinstance(atom, fast_downward.translate.pddl.conditions.Atom):
        return None if atom.predicate == "=" else [atom.predicate, list(atom.args)]
    if isinstance(atom, fast_downward.translate.pddl.f_expression.Assign):
        name = f"{atom.expression.value}"
        if atom.fluent.symbol == "total-cost" or name.isdigit():
            return None
        return [name, list(atom.fluent.args)]
    return None


def cache_path(key: str) -> Path:
    version = importlib.metadata.version("fast-downward-textworld")
    return cache_root() / "alfworld-grounded" / f"fd{version}-f{FORMAT}" / f"{key[:40]}.json.gz"


def _read(path: Path) -> Grounded | None:
    try:
        data = json.loads(gzip.decompress(path.read_bytes()))
        return Grounded(**data)
    except (OSError, EOFError, ValueError, TypeError):  # absent, truncated or from another format
        return None


def _write(path: Path, grounded: Grounded) -> Grounded:
    data = {k: v for k, v in grounded.__dict__.items() if k != "start_facts"}
    payload = gzip.compress(json.dumps(data).encode(), compresslevel=3)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda handle: handle.write(payload))
    except OSError:  # a read-only cache only costs speed
        pass
    return grounded
