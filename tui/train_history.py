"""What the training view shows, as plain data: one point per published update, read live or from metrics.jsonl.

The live view and `vlm-agent replay ROOT` fill the same TrainHistory (live from the trainer's
callback, replay from the root's metrics.jsonl), so a finished run looks as it did while it ran.
"""
from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

# The per-update diagnostics shown as curves, in the order of the view: (metrics key, short label).
DIAGNOSTICS = (
    ("policy_loss", "policy loss"),
    ("value_loss", "value loss"),
    ("approx_kl", "approx KL"),
    ("clip_fraction", "clip frac"),
    ("explained_variance", "expl. var"),
    ("entropy", "entropy"),
    ("grad_norm", "grad norm"),
    ("lr", "lr"),
)


def number(value) -> float | None:
    """A finite float, or None (metrics.jsonl writes NaN as null; older rows may hold NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class UpdatePoint:
    """One PPO update as published: the version it made, the version it trained, its metrics line."""

    update: int
    version: str
    parent: str
    metrics: dict
    time: float = 0.0  # wall clock when it was published (metrics.jsonl's "time")

    @classmethod
    def from_metrics(cls, version: str, metrics: dict, update: int, at: float) -> "UpdatePoint":
        return cls(update, version, str(metrics.get("trained_from") or ""), dict(metrics), at)


@dataclass(frozen=True)
class VersionRow:
    """A published version, its parent, and how the episodes it played went (as its update's batch saw them)."""

    name: str
    parent: str
    episodes: int | None = None
    success_rate: float | None = None
    mean_return: float | None = None


@dataclass(frozen=True)
class Thresholds:
    """When the view warns (RL practice: KL and clipping that large mean steps too big for the trust region)."""

    approx_kl: float = 0.1
    clip_fraction: float = 0.5
    value_loss_jump: float = 10.0  # x the median of the earlier updates' value losses
    idle_seconds: float = 300.0  # no new episodes for this long while waiting for them


@dataclass
class TrainHistory:
    """The published updates of one checkpoint root, in order, and where the run stands now."""

    start_version: str = ""
    points: list[UpdatePoint] = field(default_factory=list)
    phase: str = ""  # "waiting", "playing", "updating", "" (replay: the run is over)
    phase_since: float = 0.0
    episodes_waiting: int = 0
    trainer_warnings: list[str] = field(default_factory=list)

    def add(self, point: UpdatePoint) -> None:
        self.points.append(point)

    @property
    def latest_version(self) -> str:
        return self.points[-1].version if self.points else self.start_version

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(update numbers, values) of `key`, leaving out updates where it is missing or not finite."""
        xs, ys = [], []
        for point in self.points:
            value = number(point.metrics.get(key))
            if value is not None:
                xs.append(point.update)
                ys.append(value)
        return xs, ys

    def versions(self) -> list[VersionRow]:
        """Every version, oldest first; each played the episodes that the update from it trained on."""
        played = {p.parent: p.metrics for p in self.points}
        names = [self.start_version] if self.start_version else []
        for point in self.points:
            names += [n for n in (point.parent, point.version) if n and n not in names]
        parents = {p.version: p.parent for p in self.points}
        rows = []
        for name in names:
            m = played.get(name, {})
            episodes = m.get("episodes")
            rows.append(VersionRow(name, parents.get(name, ""), episodes if isinstance(episodes, int) else None,
                                   number(m.get("success_rate")), number(m.get("mean_return"))))
        return rows

    def data_side(self) -> dict[str, float | None]:
        """Episodes waiting, stale steps dropped (last update), samples and seconds per update, updates per hour."""
        last = self.points[-1].metrics if self.points else {}
        seconds = [s for s in (number(p.metrics.get("update_seconds")) for p in self.points) if s is not None]
        per_hour = None
        if len(self.points) >= 2 and self.points[-1].time > self.points[0].time:
            per_hour = (len(self.points) - 1) * 3600.0 / (self.points[-1].time - self.points[0].time)
        return {
            "episodes waiting": self.episodes_waiting if self.phase else None,
            "stale steps dropped": number(last.get("dropped_stale")),
            "samples per update": number(last.get("samples")),
            "seconds per update": statistics.fmean(seconds) if seconds else None,
            "updates per hour": per_hour,
        }

    def warnings(self, now: float, limits: Thresholds = Thresholds()) -> list[str]:
        """What needs a look: the last update's KL and clipping, an exploding value loss, a stalled feed."""
        lines = []
        if self.points:
            last = self.points[-1]
            kl, clip = number(last.metrics.get("approx_kl")), number(last.metrics.get("clip_fraction"))
            if kl is not None and kl > limits.approx_kl:
                lines.append(f"{last.version}: approx KL {kl:.3f} > {limits.approx_kl:g}")
            if clip is not None and clip > limits.clip_fraction:
                lines.append(f"{last.version}: clip fraction {clip:.2f} > {limits.clip_fraction:g}")
            lines += self._value_loss_warning(limits)
        if self.phase == "waiting" and now - self.phase_since > limits.idle_seconds:
            lines.append(f"no new episodes for {(now - self.phase_since) / 60:.0f} min")
        return lines + self.trainer_warnings[-3:]

    def _value_loss_warning(self, limits: Thresholds) -> list[str]:
        last = self.points[-1]
        raw = last.metrics.get("value_loss")
        if isinstance(raw, (int, float)) and not math.isfinite(raw):
            return [f"{last.version}: value loss is {raw}"]
        _, earlier = self.series("value_loss")
        value = number(raw)
        if value is None or len(earlier) < 4:
            return []
        typical = statistics.median(earlier[:-1])
        if typical > 0 and value > limits.value_loss_jump * typical:
            return [f"{last.version}: value loss {value:.3g} is {value / typical:.0f}x the median before"]
        return []


def read_metrics_history(root: Path) -> TrainHistory:
    """The history of a PPO checkpoint root from its metrics.jsonl (one line per published update).

    Lines that are not PPO updates (SFT steps, evaluations) and unreadable lines are left out;
    the start version is read from the first update's `trained_from`.
    """
    path = Path(root) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{root}: no metrics.jsonl (not a checkpoint root written by a trainer)")
    history = TrainHistory()
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill: the lines before it still count
        if not isinstance(row, dict) or "update" not in row or "version" not in row:
            continue
        history.add(UpdatePoint.from_metrics(str(row["version"]), row, int(row["update"]), number(row.get("time")) or 0.0))
    if history.points:
        history.start_version = history.points[0].parent
    return history
