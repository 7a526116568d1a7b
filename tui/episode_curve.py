"""The play view's small chart: return and success over the last episodes, marked where the policy version changed.

Beside a trainer (`play --reload`) the marks are the moments a new version was loaded, so a rise
after a mark is learning seen as it happens.
"""
from __future__ import annotations

from dataclasses import dataclass

from vlm_agent.tui.curve_plot import CurvePlot, Line

WINDOW = 60  # episodes shown
SUCCESS_OVER = 10  # the success curve is the rate over this many episodes


@dataclass(frozen=True)
class EpisodeEnd:
    number: int  # 1-based, in the order episodes finished
    total_return: float
    success: bool
    version: str


class EpisodeCurve(CurvePlot):
    """Hidden until two episodes have finished (one point is no curve)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ended: list[EpisodeEnd] = []

    def add(self, total_return: float, success: bool, version: str) -> None:
        self.ended.append(EpisodeEnd(len(self.ended) + 1, total_return, success, version))
        del self.ended[:-WINDOW]
        self.display = len(self.ended) >= 2
        if self.display:
            self.redraw()

    def version_changes(self) -> tuple[float, ...]:
        """Episode numbers where the version differs from the episode before (a vertical mark each)."""
        return tuple(b.number - 0.5 for a, b in zip(self.ended, self.ended[1:]) if a.version != b.version)

    def redraw(self) -> None:
        xs = tuple(e.number for e in self.ended)
        rates = []
        for i in range(len(self.ended)):
            recent = self.ended[max(0, i + 1 - SUCCESS_OVER):i + 1]
            rates.append(sum(e.success for e in recent) / len(recent))
        title = f"return, success/{SUCCESS_OVER} · {self.ended[-1].version or '—'}"
        self.show(title, [Line("return", xs, tuple(e.total_return for e in self.ended), "magenta"),
                          Line(f"success/{SUCCESS_OVER}", xs, tuple(rates), "green", right=True)], marks=self.version_changes())
