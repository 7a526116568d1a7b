"""vlm_agent/ALFWorld-v0: ALFWorld's household tasks on alfworld's TextWorld engine, seen as a drawn frame.

Episode k of a run is reset with seed + k and plays game `seed % n` of the split (in a fixed
shuffled order), so n consecutive episodes play every game once. Reward per step, as in RL4VLM:
`won_reward * won + goal_condition_coef * goal-condition success`, plus `invalid_action_penalty`
for a command that is not admissible (which changes nothing but counts toward `max_steps`).
`goal_condition="delta"` pays the change in goal-condition success instead of its level.
Data: `data_dir`, else $ALFWORLD_DATA, else `generated_games` per split generated from the alfworld
wheel (games.data_root). `info["history"]` holds the last `history_length` steps for the prompt.
The episode's memory (memory.py: places searched and what was in them, what is held, what was done),
built from the text observations alone, is always in `info["state"]["memory"]` as plain data for
scripted agents. With `memory="ranked"` (the default) or another of memory.MEMORY_STYLES its block
is also `info["memory"]`, which the prompt shows and the episode log keeps; `memory="off"` leaves
the prompt as the paper's, without one. `True` and `False` (before the styles) mean grouped and off.
After a seeded reset the next `prefetch` games in seed order are translated in a worker process
that all environments of a process share (prefetch.py), so a rollout's next reset seldom waits for
fast-downward; `prefetch=0` turns it off. close() lets go of the worker (its last user stops it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vlm_agent.envs.alfworld.engine.engine import make_engine
from vlm_agent.envs.alfworld.engine.games import GameEntry, data_root, find_games, read_game, report_skip
from vlm_agent.envs.alfworld.goals import goal_condition_success
from vlm_agent.envs.alfworld.memory import MEMORY_STYLES, ALFWorldMemory
from vlm_agent.envs.alfworld.engine.prefetch import start_prefetcher
from vlm_agent.envs.alfworld.render import render_view
from vlm_agent.envs.alfworld.view import View, read_view
from vlm_agent.envs.base import TextActionEnv

ENV_ID = "vlm_agent/ALFWorld-v0"
MEMORY_CHOICES = (*MEMORY_STYLES, "off")
# Recent steps in the prompt. benchmarks/alfworld_history.py, 60 expert episodes of valid_train: steps
# whose input repeats with another expert answer 3.3% (k=0), 3.3% (1), 1.5% (2), 0.4% (4), 0.4% (6),
# for 1014 / 1111 / 1187 / 1326 / 1443 prompt characters: 4 is where more history stops helping.
DEFAULT_HISTORY = 4
# Games translated ahead: two cover the next reset even when one game is slow (up to 1.3 s) or
# two environments of one process reset in turn.
DEFAULT_PREFETCH = 2
_BANNER = "-= Welcome to TextWorld, ALFRED! =-"


class ALFWorldEnv(TextActionEnv):
    """The observation is the frame; `info` carries the text observation, admissible commands and facts."""

    def __init__(self, split: str = "valid_seen", data_dir: str | Path | None = None, max_steps: int = 50,
                 won_reward: float = 50.0, goal_condition_coef: float = 1.0, goal_condition: str = "level",
                 invalid_action_penalty: float = -1.0, history_length: int = DEFAULT_HISTORY,
                 generated_games: int | None = None, prefetch: int = DEFAULT_PREFETCH,
                 memory: str | bool = "ranked", render_mode: str | None = "rgb_array"):
        super().__init__(invalid_action_penalty, render_mode)
        if goal_condition not in ("level", "delta"):
            raise ValueError(f"goal_condition must be 'level' or 'delta', got {goal_condition!r}")
        if max_steps < 1 or history_length < 0 or prefetch < 0:
            raise ValueError("max_steps must be at least 1, history_length and prefetch at least 0")
        self.split, self.max_steps, self.history_length = split, max_steps, history_length
        self.won_reward, self.goal_condition_coef, self.goal_condition = won_reward, goal_condition_coef, goal_condition
        self.games: list[GameEntry] = find_games(data_root(data_dir, generated_games), split)
        self.engine = make_engine(with_expert=True)
        self.core = self.engine.unwrapped  # the PddlEnv: facts by id and the names the text uses
        self.prefetch = prefetch
        style = ("grouped" if memory else "off") if isinstance(memory, bool) else memory
        if style not in MEMORY_CHOICES:
            raise ValueError(f"memory must be one of {', '.join(MEMORY_CHOICES)}, got {memory!r}")
        self.show_memory = style != "off"
        self.memory = ALFWorldMemory(style if style != "off" else "grouped")
        self.prefetcher = start_prefetcher() if prefetch else None

    # gymnasium API

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        wanted = (options or {}).get("game_file")
        index = int(seed if seed is not None else self.np_random.integers(len(self.games)))
        while True:
            game = self._pick(index, wanted)
            try:
                self.engine.load(str(game.game_file))
                self.engine.seed_expert(index)
                self.state = self.engine.reset()
                break
            except Exception as error:  # unplayable file: name it once, drop it, play the next one
                report_skip(game.game_file, str(error).splitlines()[0] if str(error) else type(error).__name__)
                self.games.remove(game)
                if wanted or not self.games:
                    raise ValueError(f"no playable ALFWorld game left ({game.game_file} failed)") from None
        self.game, self.steps, self.history, self.last_goto = game, 0, [], ""
        self.task_text = read_game(game.game_file).sentence
        self.text = self.state["feedback"].replace(_BANNER, "").strip()
        self.memory.reset(self.text)
        self.goal_condition_level = self._goal_condition()
        if self.prefetcher is not None and wanted is None:
            # The games of seeds index+1 .. index+prefetch, whichever environment resets next: the loop
            # (runtime/loop.py) hands seed + k to episode k from one counter for all its environments,
            # so the reset after this one asks for index+1 in whichever environment finishes first,
            # with 1 or N environments. Counting from this reset's seed rather than from the highest
            # seed seen in the process is the same in one loop, and stays right when a later run (an
            # evaluation) starts its seeds again from 0.
            self.prefetcher.schedule(self.games[(index + k) % len(self.games)].game_file
                                     for k in range(1, self.prefetch + 1))
        return self.render(), self._info()

    def close(self) -> None:
        if self.prefetcher is not None:
            self.prefetcher.close()
        super().close()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.steps += 1
        command = self.match_action(action, list(self.state["admissible_commands"]))
        reward = 0.0
        if command is None:
            reward += self.invalid_action_penalty
            self._remember(str(action)[:80], "Nothing happens: not an admissible action.")
            self.memory.update(None, self.text)
        else:
            self.state, _, _ = self.engine.step(command)
            self.text = self.state["feedback"]
            if command.startswith("go to "):
                self.last_goto = command[len("go to "):]
            self._remember(command, self.text)
            self.memory.update(command, self.text)
        won = bool(self.state["won"])
        level = self._goal_condition()
        gain = level if self.goal_condition == "level" else level - self.goal_condition_level
        self.goal_condition_level = level
        reward += self.won_reward * won + self.goal_condition_coef * gain
        truncated = not won and self.steps >= self.max_steps
        info = self._info(invalid_action=command is None)
        if won or truncated:
            info["success"] = won
        return self.render(), float(reward), won, truncated, info

    def render(self) -> np.ndarray:
        return render_view(self.view())

    # state in words

    def view(self) -> View:
        names = {key: info.name for key, info in self.core._entity_infos.items()}
        return read_view(self.core._pddl_state.facts, names, self.task_text, self.last_goto)

    def _goal_condition(self) -> float:
        if self.state["won"]:
            return 1.0
        return goal_condition_success(self.core._pddl_state.facts, self.game.task_type, self.game.params)

    def _remember(self, command: str, outcome: str) -> None:
        self.history.append(f"> {command}: {' '.join(outcome.split())}")

    def _info(self, invalid_action: bool = False) -> dict:
        view = self.view()
        plan = self.state.get("extra.expert_plan") or []
        info = {
            "text": self.text,
            "legal_actions": list(self.state["admissible_commands"]),
            "task_type": self.game.task_type,
            "task_text": self.task_text,
            "history": self.history[-self.history_length:] if self.history_length else [],
            "state": {
                "expert_action": plan[0] if plan else "",
                "location": view.location,
                "is_open": view.is_open,
                "holding": list(view.holding),
                "params": dict(self.game.params),
                "steps": self.steps,
                "max_steps": self.max_steps,
                "memory": self.memory.as_data(),
            },
            "invalid_action": invalid_action,
            "won": bool(self.state["won"]),
            "goal_condition_success": self.goal_condition_level,
            "game_file": str(self.game.game_file),
        }
        if self.show_memory:
            info["memory"] = self.memory.render()
        return info

    def _pick(self, index: int, wanted: str | None) -> GameEntry:
        if wanted is None:
            return self.games[index % len(self.games)]
        for game in self.games:
            if str(game.game_file) == str(wanted):
                return game
        raise ValueError(f"{wanted}: not a playable game of this split")
