"""ALFWorld games generated from what the alfworld wheel ships, for machines without the data.

`generated_data_root(seed)` returns a folder laid out like `$ALFWORLD_DATA` after
`alfworld-download`: `json_2.1.1/{train,valid_seen,valid_unseen}/<task>-<Obj>-None-<Recep>-<scene>/
trial_<id>/{game.tw-pddl,traj_data.json}` and `logic/{alfred.pddl,alfred.twl2}`. Every game is kept
only if alfworld's handcoded expert (with the project's fix) wins it on the real engine within
`CHECK_STEPS`; a game it fails is replaced by a fresh draw for the same slot. Each slot draws from
its own `random.Random("<seed>/<split>/<slot>/<attempt>")`, so the output is byte-identical for a
seed, independent of the number of worker processes, and the splits never share a draw.
The folder is built under a temp name and renamed when complete, so a crash never leaves half a cache.
"""
from __future__ import annotations

import importlib.metadata
import json
import logging
import multiprocessing
import os
import random
import shutil
import tempfile
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import alfworld.gen.constants as constants

from vlm_agent.core.atomic import fsync_dir
from vlm_agent.envs.alfworld.engine.games import CACHE_ENV, DOMAIN_FILE, GRAMMAR_FILE, TASK_TYPES, cache_root  # noqa: F401
from vlm_agent.envs.alfworld.generation.pddl import game_file, task_sentence, traj_data
from vlm_agent.envs.alfworld.generation.scene import load_scene, scene_numbers
from vlm_agent.envs.alfworld.generation.task import sample_game, scene_fits

log = logging.getLogger(__name__)

GENERATOR_VERSION = "1"  # bump whenever the output for a seed changes; old caches are then ignored
DEFAULT_GAMES_PER_SPLIT = 20  # 60 games: about 75 s on 2 free cores of this machine, 2.2 min on one
CHECK_STEPS = 40  # the expert must win this fast, leaving a margin under ALFWorld's 50-step episodes
MAX_ATTEMPTS = 50  # draws per slot before giving up (a slot needs about 1.2 on average)
TEMP_MARK = ".partial-"
MANIFEST = "generated.json"
# ALFRED's convention: valid_seen reuses the training floor plans, valid_unseen holds out the test ones.
SPLIT_SCENES = {
    "train": constants.TRAIN_SCENE_NUMBERS,
    "valid_seen": constants.TRAIN_SCENE_NUMBERS,
    "valid_unseen": constants.TEST_SCENE_NUMBERS,
}


@dataclass(frozen=True)
class Slot:
    seed: int
    split: str
    index: int
    task_type: str

    @property
    def trial(self) -> str:
        return f"trial_G{self.seed}_{self.split}_{self.index:05d}"  # unique over splits, like ALFRED's ids


@dataclass(frozen=True)
class GeneratedGame:
    folder: str  # relative to the data root
    game: bytes
    traj: bytes
    expert_steps: int


def generated_data_root(seed: int = 0, num_games_per_split: int | None = None, *,
                        progress: Callable[[int, int], None] | None = None) -> Path:
    """The folder of generated games for `seed`, generated on the first call and cached after.

    `progress(done, total)` is called as games are checked (the first call takes a while).
    """
    per_split = DEFAULT_GAMES_PER_SPLIT if num_games_per_split is None else num_games_per_split
    if per_split < 1:
        raise ValueError(f"num_games_per_split must be at least 1, got {per_split}")
    if seed < 0:
        raise ValueError(f"the generator's seed must be at least 0, got {seed}")
    root = cache_root() / "alfworld-generated" / f"v{GENERATOR_VERSION}" / f"seed{seed}-n{per_split}"
    if (root / MANIFEST).exists():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_temps(root)
    temp = root.with_name(f"{root.name}{TEMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        log.info("Generating %d ALFWorld games per split (seed %d) into %s", per_split, seed, root)
        _build(temp, seed, per_split, progress)
        try:
            os.rename(temp, root)
        except OSError:  # another process finished the same folder first; theirs is as good
            if not (root / MANIFEST).exists():
                raise
        fsync_dir(root.parent)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return root


def _remove_abandoned_temps(root: Path) -> None:
    """Delete temp folders of this cache entry whose builder process has died."""
    for temp in root.parent.glob(f"{root.name}{TEMP_MARK}*"):
        pid = temp.name[len(root.name) + len(TEMP_MARK):].split("-")[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(temp, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _build(temp: Path, seed: int, per_split: int, progress: Callable[[int, int], None] | None) -> None:
    slots = plan_slots(seed, per_split)
    games = []
    for done, game in enumerate(_generate_all(slots), start=1):
        games.append(game)
        if progress:
            progress(done, len(slots))
    for game in games:
        _write_synced(temp / game.folder / "game.tw-pddl", game.game)
        _write_synced(temp / game.folder / "traj_data.json", game.traj)
    _write_synced(temp / "logic" / "alfred.pddl", DOMAIN_FILE.read_bytes())
    _write_synced(temp / "logic" / "alfred.twl2", GRAMMAR_FILE.read_bytes())
    manifest = {
        "generator_version": GENERATOR_VERSION, "alfworld_version": importlib.metadata.version("alfworld"),
        "seed": seed, "games_per_split": per_split, "check_steps": CHECK_STEPS,
        "games": [{"path": g.folder, "expert_steps": g.expert_steps} for g in games],
    }
    # Written last: its presence marks a complete folder.
    _write_synced(temp / MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def _write_synced(path: Path, data: bytes) -> None:
    """Write and fsync, so that the rename that publishes the folder never outlives its content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def plan_slots(seed: int, per_split: int) -> list[Slot]:
    """Task types round robin over all slots, split after split: balanced within each split, and
    even two games per split cover all six types."""
    return [Slot(seed, split, index, TASK_TYPES[(position * per_split + index) % len(TASK_TYPES)])
            for position, split in enumerate(SPLIT_SCENES) for index in range(per_split)]


def _worker_count(total: int) -> int:
    return max(1, min(os.cpu_count() or 1, 8, total // 6))


def _generate_all(slots: list[Slot]) -> Iterator[GeneratedGame]:
    """Slots in order; spread over processes when there are enough to pay for their start-up."""
    workers = _worker_count(len(slots))
    if workers == 1:
        yield from map(generate_slot, slots)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(generate_slot, slots)


_CANDIDATES: dict[tuple[str, str], list[int]] = {}
_CHECKER = None


def _scenes_for(split: str, task_type: str) -> list[int]:
    key = (split, task_type)
    if key not in _CANDIDATES:
        shipped = set(scene_numbers())
        # Synthetic receptacles depend only on the floor plan's class list, so any rng tells fitness.
        _CANDIDATES[key] = [n for n in SPLIT_SCENES[split]
                            if n in shipped and scene_fits(load_scene(n, random.Random(0)), task_type)]
    return _CANDIDATES[key]


def _checker():
    global _CHECKER
    if _CHECKER is None:
        from vlm_agent.envs.alfworld.generation.check import ExpertCheck

        _CHECKER = ExpertCheck(CHECK_STEPS)
    return _CHECKER


def generate_slot(slot: Slot) -> GeneratedGame:
    """The first draw for this slot that the expert wins."""
    scenes = _scenes_for(slot.split, slot.task_type)
    with tempfile.TemporaryDirectory(prefix="alfworld-gen-") as scratch:
        for attempt in range(MAX_ATTEMPTS):
            rng = random.Random(f"{slot.seed}/{slot.split}/{slot.index}/{attempt}")
            scene = load_scene(rng.choice(scenes), rng)
            spec = sample_game(scene, slot.task_type, rng)
            if spec is None:
                continue
            sentence = task_sentence(spec, rng)
            game = game_file(spec, f"plan_{slot.trial}", sentence)
            traj = traj_data(spec, slot.trial, sentence)
            # The expert reads traj_data.json beside the game file.
            folder = Path(scratch) / str(attempt)
            folder.mkdir()
            (folder / "traj_data.json").write_text(json.dumps(traj, indent=2, sort_keys=True))
            (folder / "game.tw-pddl").write_text(json.dumps(game))
            steps = _checker().steps_to_win(folder / "game.tw-pddl", seed=rng.randrange(2**32))
            if steps is None:
                continue
            game["solvable"] = True
            return GeneratedGame(
                folder=f"json_2.1.1/{slot.split}/{spec.task.folder_name_prefix}-{scene.number}/{slot.trial}",
                game=json.dumps(game).encode(),
                traj=(json.dumps(traj, indent=2, sort_keys=True) + "\n").encode(),
                expert_steps=steps,
            )
    raise RuntimeError(f"no game the expert can win for {slot} after {MAX_ATTEMPTS} draws")
