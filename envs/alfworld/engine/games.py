"""ALFWorld game files: find a split's games, read one, and upgrade an old grammar in memory.

Official layout (`$ALFWORLD_DATA` after `alfworld-download`, or the generated cache):
`json_2.1.1/<split>/<task>-<Obj>-<Movable>-<Recep>-<scene>/<trial>/{game.tw-pddl,traj_data.json}`.
Game files made before alfworld 0.4 embed an older domain and grammar (`put X in/on Y`, "You arrive
at loc 10"); alfworld 0.4.x and its expert expect the wheel's (`move X to Y`). Such a game is read
with the wheel's domain and grammar and its own task sentence and problem; the file is never written.
"""
from __future__ import annotations

import json
import logging
import os
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import alfworld

log = logging.getLogger("vlm_agent.alfworld")

WHEEL_DATA = Path(alfworld.__file__).parent / "data"
DOMAIN_FILE = WHEEL_DATA / "alfred.pddl"
GRAMMAR_FILE = WHEEL_DATA / "alfred.twl2"
TASK_PLACEHOLDER = "UNKNOWN GOAL"  # where alfworld puts the task sentence into the grammar
ALFWORLD_DEFAULT = Path("~/.cache/alfworld").expanduser()  # alfworld.info's default $ALFWORLD_DATA
SPLITS = ("train", "valid_seen", "valid_unseen", "valid_train")  # the last: official data only
TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
CACHE_ENV = "VLM_AGENT_CACHE"
_TASK_SENTENCE = re.compile(r'"Your task is to: (.*?)"')


class UnplayableGame(Exception):
    """A game file the engine cannot play; the message says why in a few words."""


@dataclass(frozen=True)
class GameText:
    """What the engine loads: domain and grammar (task placeholder kept), the sentence, the problem."""

    domain: str
    grammar: str
    sentence: str
    problem: str
    upgraded: bool  # the file embeds an older domain/grammar, replaced by the wheel's
    marked_unsolvable: bool = False  # the data's own `"solvable": false`


@dataclass(frozen=True)
class GameEntry:
    """One playable game of a split and the task facts its traj_data.json gives."""

    game_file: Path
    task_type: str
    params: dict  # object_target, parent_target, toggle_target (ALFRED class names)


@lru_cache(maxsize=1)
def wheel_logic() -> tuple[str, str]:
    return DOMAIN_FILE.read_text(), GRAMMAR_FILE.read_text()


@lru_cache(maxsize=1024)
def _read_game_cached(path: str, mtime_ns: int, size: int) -> GameText:
    try:
        data = json.loads(Path(path).read_text())
        problem, grammar = data["pddl_problem"], data["grammar"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise UnplayableGame(f"not a readable game file ({type(error).__name__})") from None
    found = _TASK_SENTENCE.search(grammar)
    if not found:
        raise UnplayableGame("its grammar has no task sentence")
    sentence = found.group(1).removesuffix(".")
    domain, wheel_grammar = wheel_logic()
    current = data.get("pddl_domain") == domain and grammar == wheel_grammar.replace(TASK_PLACEHOLDER, sentence)
    return GameText(domain, wheel_grammar, sentence, problem, upgraded=not current,
                    marked_unsolvable=data.get("solvable", True) is False)


def read_game(game_file: str | Path) -> GameText:
    """The game as the engine should load it; UnplayableGame if the file cannot be read as one."""
    path = Path(game_file)
    try:
        stat = path.stat()
    except OSError:
        raise UnplayableGame("no such file") from None
    return _read_game_cached(str(path), stat.st_mtime_ns, stat.st_size)


def current_game_json(game_file: str | Path) -> dict:
    """The game file's content with the wheel's domain and grammar written in (what alfworld 0.4.x plays)."""
    game = read_game(game_file)
    data = json.loads(Path(game_file).read_text())
    data.update(pddl_domain=game.domain, grammar=game.grammar.replace(TASK_PLACEHOLDER, game.sentence))
    return data


def split_folder(root: Path, split: str) -> Path:
    """`<root>/json_2.1.1/<split>` (or `<root>/<split>` when given the json_2.1.1 folder itself)."""
    if split not in SPLITS:
        raise ValueError(f"unknown ALFWorld split {split!r}; use {', '.join(SPLITS)}")
    for folder in (root / "json_2.1.1" / split, root / split):
        if folder.is_dir():
            return folder
    raise FileNotFoundError(f"{root}: no ALFWorld split {split!r} (looked for {root / 'json_2.1.1' / split})")


def find_games(root: Path, split: str) -> list[GameEntry]:
    """The split's playable games in a fixed shuffled order; each skipped file is named in one line.

    Left out without a line, as AlfredTWEnv does: other task types and `movable`/`Sliced`
    variants. Files the data marks `"solvable": false` are counted in one line.
    """
    folder = split_folder(root, split)
    trials = sorted({p.parent for name in ("traj_data.json", "game.tw-pddl") for p in folder.rglob(name)})
    games, marked = [], []
    for trial in trials:
        if "movable" in trial.as_posix() or "Sliced" in trial.as_posix():
            continue
        entry, why = _entry(trial)
        if why == "marked unsolvable":
            marked.append(trial)
        elif why:
            report_skip(trial / "game.tw-pddl", why)
        elif entry is not None:
            games.append(entry)
    if marked:
        example = marked[0] / "game.tw-pddl"
        report(f"left out {len(marked)} game file(s) marked unsolvable by the data, e.g. {example}")
    if not games:
        raise ValueError(f"{folder}: no playable ALFWorld games (expected <task>/<trial>/game.tw-pddl)")
    random.Random(len(games)).shuffle(games)  # consecutive seeds mix the task types
    return games


def _entry(trial: Path) -> tuple[GameEntry | None, str]:
    """The trial's game, or None and why it is skipped ("" when it is silently not ours)."""
    try:
        traj = json.loads((trial / "traj_data.json").read_text())
        task_type, params = traj["task_type"], traj["pddl_params"]
    except FileNotFoundError:
        return None, "no traj_data.json beside it (the expert needs it)"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        return None, f"unreadable traj_data.json ({type(error).__name__})"
    if task_type not in TASK_TYPES:
        return None, ""
    game_file = trial / "game.tw-pddl"
    try:
        if read_game(game_file).marked_unsolvable:
            return None, "marked unsolvable"
    except UnplayableGame as error:
        return None, str(error)
    targets = {key: params.get(key, "") for key in ("object_target", "parent_target", "toggle_target")}
    return GameEntry(game_file, task_type, targets), ""


_REPORTED: set[str] = set()


def report(line: str) -> None:
    """One line on stderr (once per process: several environments read the same split)."""
    if line not in _REPORTED:
        _REPORTED.add(line)
        log.warning(line)


def report_skip(game_file: Path, why: str) -> None:
    report(f"skipped ALFWorld game {game_file}: {why}")


def cache_root() -> Path:
    """$VLM_AGENT_CACHE if set, else the user's cache folder (platformdirs comes with textual)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    import platformdirs

    return Path(platformdirs.user_cache_dir("vlm-agent"))


def data_root(data_dir: str | Path | None, generated_games: int | None = None) -> Path:
    """The data folder to play: `data_dir`, else `$ALFWORLD_DATA`, else games generated from the wheel.

    `generated_games` per split (default: the generator's) are generated once and cached.
    """
    folder = given_data_folder(data_dir)
    if folder is not None:
        return folder
    from vlm_agent.envs.alfworld.generation.generate import generated_data_root

    report(f"no ALFWorld data found: playing games generated from the alfworld wheel (cached in {cache_root()}); "
           "for the official games run `alfworld-download` and set ALFWORLD_DATA")
    return generated_data_root(0, generated_games)


def given_data_folder(data_dir: str | Path | None) -> Path | None:
    """The folder the user gave (`data_dir`, else `$ALFWORLD_DATA`), or None: play generated games.

    Importing alfworld sets `$ALFWORLD_DATA` to its default (~/.cache/alfworld) when unset, so
    that default without games counts as no data; any other folder the user names must hold games.
    """
    if data_dir is not None:
        return _existing(Path(data_dir), "the ALFWorld data folder")
    from_env = os.environ.get("ALFWORLD_DATA", "")
    if from_env and (Path(from_env) / "json_2.1.1").is_dir():
        return Path(from_env)
    if from_env and Path(from_env).expanduser().resolve() != ALFWORLD_DEFAULT.resolve():
        return _existing(Path(from_env), "$ALFWORLD_DATA")
    return None


def data_origin(data_dir: str | Path | None) -> str:
    """Where the games `data_root(data_dir)` plays come from: "official", "generated, seed 7"."""
    folder = given_data_folder(data_dir)
    if folder is None:
        return "generated, seed 0"
    manifest = folder / "generated.json"  # generation.generate.MANIFEST, written beside every generated set
    if manifest.is_file():
        return f"generated, seed {json.loads(manifest.read_text()).get('seed', '?')}"
    return "official"


def _existing(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: {what} does not exist")
    return path
