"""Running statistics over published step records: success, return, invalid actions, speed."""
from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field

from vlm_agent.runtime.records import StepRecord


@dataclass
class GroupStats:
    """Finished-episode counters for one group (an environment, or a task type within it)."""

    episodes: int = 0
    successes: int = 0
    return_sum: float = 0.0
    length_sum: int = 0

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0

    @property
    def mean_return(self) -> float:
        return self.return_sum / self.episodes if self.episodes else 0.0

    @property
    def mean_length(self) -> float:
        return self.length_sum / self.episodes if self.episodes else 0.0

    def add(self, success: bool, total_return: float, length: int) -> None:
        self.episodes += 1
        self.successes += int(success)
        self.return_sum += total_return
        self.length_sum += length


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate (sound at 0% and 100%, unlike the normal one)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class RunningStats:
    """Subscriber that keeps the numbers a user watches while an agent plays."""

    started: float = field(default_factory=time.time)
    steps: int = 0
    invalid_steps: int = 0
    total: GroupStats = field(default_factory=GroupStats)
    by_env: dict[str, GroupStats] = field(default_factory=lambda: defaultdict(GroupStats))
    by_task: dict[tuple[str, str], GroupStats] = field(default_factory=lambda: defaultdict(GroupStats))
    _returns: dict[tuple[str, int], float] = field(default_factory=lambda: defaultdict(float))

    def on_step(self, record: StepRecord) -> None:
        self.steps += 1
        self.invalid_steps += int(record.invalid)
        key = (record.episode_id, record.env_index)
        self._returns[key] += record.reward
        if record.done:
            total_return = self._returns.pop(key)
            success = bool(record.success)
            length = record.step + 1
            self.total.add(success, total_return, length)
            self.by_env[record.env_id].add(success, total_return, length)
            if record.task_type:
                self.by_task[(record.env_id, record.task_type)].add(success, total_return, length)

    @property
    def invalid_rate(self) -> float:
        return self.invalid_steps / self.steps if self.steps else 0.0

    @property
    def steps_per_second(self) -> float:
        elapsed = time.time() - self.started
        return self.steps / elapsed if elapsed > 0 else 0.0

    def summary(self) -> dict:
        low, high = wilson_interval(self.total.successes, self.total.episodes)
        return {
            "episodes": self.total.episodes,
            "success_rate": self.total.success_rate,
            "success_ci95": [low, high],
            "mean_return": self.total.mean_return,
            "mean_length": self.total.mean_length,
            "steps": self.steps,
            "invalid_action_rate": self.invalid_rate,
            "env_steps_per_second": self.steps_per_second,
            "by_task_type": {
                task: {"episodes": g.episodes, "success_rate": g.success_rate, "mean_return": g.mean_return}
                for (_, task), g in sorted(self.by_task.items())
            },
        }
