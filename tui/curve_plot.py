"""A small line chart in the terminal (textual-plotext), redrawn only when its data changes."""
from __future__ import annotations

from dataclasses import dataclass

from textual_plotext import PlotextPlot


@dataclass(frozen=True)
class Line:
    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    color: str = "cyan"
    right: bool = False  # on a second y axis (another scale)


class CurvePlot(PlotextPlot):
    """One titled chart of a few lines, optional horizontal limit and vertical markers."""

    def show(self, title: str, lines: list[Line], limit: float | None = None, marks: tuple[float, ...] = ()) -> None:
        key = (title, tuple(lines), limit, marks)
        if key == getattr(self, "_shown", None):
            return  # plotext rebuilds the whole chart on every render; skip identical data
        self._shown = key
        plt = self.plt
        plt.clear_figure()
        plt.title(title)
        plt.xfrequency(3)
        plt.yfrequency(3)
        drawn = [line for line in lines if line.xs]
        for line in drawn:
            style = dict(color=line.color, yside="right" if line.right else "left")  # no legend: it covers the curves
            if len(line.xs) == 1:
                plt.scatter(list(line.xs), list(line.ys), marker="●", **style)
            else:
                plt.plot(list(line.xs), list(line.ys), marker="braille", **style)
        if limit is not None and drawn:
            plt.horizontal_line(limit, color="red")
        for x in marks:
            plt.vertical_line(x, color="yellow")
        self.refresh()
