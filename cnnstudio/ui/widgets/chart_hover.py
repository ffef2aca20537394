"""Hover values for a chart: a vertical line at the mouse and, beside it, every shown curve's value there.

With many runs overlaid, colours alone do not say which curve is which or by how much one leads;
TensorBoard and W&B answer that with a readout at the cursor, sorted best first. The readout asks its
chart for the curves to read (`series()`), so it needs no knowledge of single or overlay mode.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor

from cnnstudio.core.text import clock_text

MAX_LINES = 12  # a readout taller than the plot helps no one: the rest are counted
SECOND_VALUES_UP_TO = 4  # with more runs, the training values in brackets make the readout too wide


@dataclass
class HoverSeries:
    """One line of the readout: `curve`'s value at the cursor, and optionally a second curve's in brackets
    (a run's training value beside its validation value)."""

    label: str
    color: str
    curve: pg.PlotDataItem
    second: pg.PlotDataItem | None = None
    second_label: str = ""


@dataclass
class HoverValue:
    label: str
    color: str
    x: float
    y: float
    second: float | None = None


def value_at(curve: pg.PlotDataItem, x: float) -> tuple[float, float] | None:
    """The curve's finite point nearest to x (in x), or None when x is outside its data or it has none."""
    xs, ys = curve.getOriginalDataset()
    if xs is None or len(xs) == 0:
        return None
    xs = np.asarray(xs, dtype=float)
    ys = np.asarray(ys, dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    if not ok.any():
        return None
    xs, ys = xs[ok], ys[ok]
    # Half a point's spacing beyond either end still reads the end point; further out reads nothing.
    margin = 0.5 * (xs[-1] - xs[0]) / max(1, len(xs) - 1) if len(xs) > 1 else 0.5
    if x < xs[0] - margin or x > xs[-1] + margin:
        return None
    i = int(np.searchsorted(xs, x))
    if i >= len(xs) or (i > 0 and x - xs[i - 1] < xs[i] - x):
        i -= 1
    return float(xs[i]), float(ys[i])


class HoverReadout:
    """Shows `series()`'s values at the mouse over `plot`; format_x / format_y turn numbers into text and
    `lower_is_better` sorts the lines best first (loss: lowest first)."""

    def __init__(self, plot: pg.PlotWidget, series: Callable[[], list[HoverSeries]],
                 format_x: Callable[[float], str], format_y: Callable[[float], str], lower_is_better: bool):
        self.plot = plot
        self.series = series
        self.format_x = format_x
        self.format_y = format_y
        self.lower_is_better = lower_is_better
        self.line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(QColor(128, 128, 128, 150), width=1))
        self.text = pg.TextItem(anchor=(0, 0), fill=pg.mkBrush(QColor(255, 255, 255, 225)),
                                border=pg.mkPen(QColor(128, 128, 128, 160)))
        self.text.setZValue(1000)
        self.line.setZValue(999)
        for item in (self.line, self.text):
            plot.addItem(item, ignoreBounds=True)
            item.setVisible(False)
        plot.scene().sigMouseMoved.connect(self._moved)

    def set_colors(self, background: QColor, text: QColor) -> None:
        fill = QColor(background)
        fill.setAlpha(230)
        self.text.fill = pg.mkBrush(fill)
        self.text.setColor(text)

    def values(self, x: float) -> list[HoverValue]:
        """The shown curves' values at data x, best first (what the readout lists)."""
        out = []
        for s in self.series():
            if not s.curve.isVisible():
                continue
            hit = value_at(s.curve, x)
            if hit is None:
                continue
            second = value_at(s.second, x) if s.second is not None and s.second.isVisible() else None
            out.append(HoverValue(s.label, s.color, hit[0], hit[1], None if second is None else second[1]))
        sign = 1.0 if self.lower_is_better else -1.0
        out.sort(key=lambda v: sign * v.y)
        return out

    def show_at(self, x: float, y: float) -> bool:
        """Place the line and the readout at data (x, y); False (and hidden) when nothing is there."""
        values = self.values(x)
        if not values:
            self.hide()
            return False
        vb = self.plot.getPlotItem().getViewBox()
        rect = vb.sceneBoundingRect()
        # In a narrow plot the labels are shortened (then the training values dropped) until it fits.
        for limit, with_training in ((60, True), (24, True), (24, False), (14, False), (8, False)):
            self.text.setHtml(self._html(values, limit, with_training))
            if self.text.boundingRect().width() <= rect.width() - 4:
                break
        x_at = values[0].x
        self.line.setPos(x_at)
        # The readout sits beside the cursor, on the side where it fits, else at the plot's left edge.
        (x0, x1), (y0, y1) = vb.viewRange()
        width = self.text.boundingRect().width()
        at = vb.mapViewToScene(QPointF(x, y1)).x()
        if at + width + 4 <= rect.right():
            self.text.setAnchor((0, 0))
            self.text.setPos(x, y1)
        elif at - width - 4 >= rect.left():
            self.text.setAnchor((1, 0))
            self.text.setPos(x, y1)
        else:
            self.text.setAnchor((0, 0))
            self.text.setPos(x0, y1)
        self.line.setVisible(True)
        self.text.setVisible(True)
        return True

    def _html(self, values: list[HoverValue], limit: int, with_training: bool) -> str:
        """The readout: the x position, then a line per run (labels cut to `limit` characters)."""
        e = html.escape
        rows = [f"<b>{e(self.format_x(values[0].x))}</b>"]
        for v in values[:MAX_LINES]:
            extra = ""
            if with_training and v.second is not None and len(values) <= SECOND_VALUES_UP_TO:
                extra = f" <span style='color:gray'>(training {e(self.format_y(v.second))})</span>"
            label = v.label if len(v.label) <= limit else v.label[:limit - 1] + "…"
            rows.append(f"<span style='color:{v.color}'>&#9644;</span> {e(label)}: "
                        f"<b>{e(self.format_y(v.y))}</b>{extra}")
        if len(values) > MAX_LINES:
            rows.append(f"<span style='color:gray'>and {len(values) - MAX_LINES} more</span>")
        return "<div style='font-size:9pt'>" + "<br>".join(rows) + "</div>"

    def hide(self) -> None:
        self.line.setVisible(False)
        self.text.setVisible(False)

    def _moved(self, pos: QPointF) -> None:
        vb = self.plot.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            self.hide()
            return
        point = vb.mapSceneToView(pos)
        self.show_at(point.x(), point.y())


def format_duration(seconds: float) -> str:
    """0:42, 12:05, 1:02:03: training time on a time axis and in the readout ("" where none)."""
    return clock_text(seconds, unknown="")


class DurationAxis(pg.AxisItem):
    """A bottom axis that shows its values as durations (m:ss) while `durations` is on."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.durations = False

    def tickStrings(self, values, scale, spacing):
        if not self.durations:
            return super().tickStrings(values, scale, spacing)
        return [format_duration(v * scale) for v in values]
