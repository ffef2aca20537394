"""A colour scale (a legend) for a picture whose colours stand for numbers: the confusion matrix, a heatmap.

One or more gradient bars, each named on its left, sharing one row of tick labels below them. The
caller gives the colours as they are actually painted (sampled evenly from the low end to the high
end) and where the ticks sit along the bar, so a non-linear scale (the matrix's square root) is shown
honestly: the tick for a quarter of the maximum sits in the middle of the bar.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QLinearGradient, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

BAR_HEIGHT = 10
GAP = 6


def lut_colors(colormap: str, samples: int = 33) -> list[QColor]:
    """The core's colour map (the one the heatmap is painted with), sampled evenly for a gradient."""
    from cnnstudio.core.inspection.display import COLORMAPS

    lut = COLORMAPS[colormap]
    picks = [round(i * (len(lut) - 1) / (samples - 1)) for i in range(samples)]
    return [QColor(int(lut[i, 0]), int(lut[i, 1]), int(lut[i, 2])) for i in picks]


class ColorScale(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._rows: list[tuple[str, list[QColor]]] = []
        self._ticks: list[tuple[float, str]] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_scale(self, rows: Sequence[tuple[str, Sequence[QColor]]], ticks: Sequence[tuple[float, str]]) -> None:
        """rows: (name, colours from low to high); ticks: (position 0..1 along the bars, text)."""
        self._rows = [(name, list(colors)) for name, colors in rows]
        self._ticks = [(min(1.0, max(0.0, float(t))), text) for t, text in ticks]
        self.updateGeometry()
        self.update()

    def rows(self) -> list[tuple[str, list[QColor]]]:
        return [(name, list(colors)) for name, colors in self._rows]

    def ticks(self) -> list[tuple[float, str]]:
        return list(self._ticks)

    def sizeHint(self) -> QSize:
        return QSize(240, scale_height(self.fontMetrics(), len(self._rows)))

    def minimumSizeHint(self) -> QSize:
        return QSize(120, scale_height(self.fontMetrics(), len(self._rows)))

    def paintEvent(self, event) -> None:
        if not self._rows:
            return
        painter = QPainter(self)
        paint_color_scale(painter, QRectF(self.rect()), self._rows, self._ticks, self.palette())
        painter.end()


def scale_height(fm: QFontMetrics, n_rows: int) -> int:
    """Height a scale with n_rows bars needs, tick labels included (0 for none)."""
    return n_rows * (max(BAR_HEIGHT, fm.height()) + 2) + fm.height() + 4 if n_rows else 0


def bar_rect(fm: QFontMetrics, rect: QRectF, rows: Sequence[tuple[str, Sequence[QColor]]],
             ticks: Sequence[tuple[float, str]], row: int) -> QRectF:
    """Where row `row`'s gradient goes inside `rect`: right of the row names, and inset so half of an
    outer tick label never sticks out of `rect`."""
    name_w = max((fm.horizontalAdvance(name) for name, _ in rows), default=0)
    left = rect.left() + (name_w + GAP if name_w else 0)
    first = fm.horizontalAdvance(ticks[0][1]) / 2 if ticks else 0
    last = fm.horizontalAdvance(ticks[-1][1]) / 2 if ticks else 0
    x0, x1 = left + first, rect.right() - max(2.0, last)
    line = max(BAR_HEIGHT, fm.height()) + 2
    return QRectF(x0, rect.top() + row * line + (line - BAR_HEIGHT) / 2, max(10.0, x1 - x0), BAR_HEIGHT)


def paint_color_scale(painter: QPainter, rect: QRectF, rows: Sequence[tuple[str, Sequence[QColor]]],
                      ticks: Sequence[tuple[float, str]], palette: QPalette) -> None:
    """Paint the scale into `rect` (shared by the widget and pictures that carry their own legend)."""
    if not rows:
        return
    fm = QFontMetrics(painter.font())
    text = palette.color(QPalette.ColorRole.WindowText)
    line = max(BAR_HEIGHT, fm.height()) + 2
    for i, (name, colors) in enumerate(rows):
        bar = bar_rect(fm, rect, rows, ticks, i)
        painter.setPen(text)
        painter.drawText(QRectF(rect.left(), rect.top() + i * line, bar.left() - rect.left() - GAP, line),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
        gradient = QLinearGradient(QPointF(bar.left(), 0), QPointF(bar.right(), 0))
        steps = max(1, len(colors) - 1)
        for k, color in enumerate(colors):
            gradient.setColorAt(k / steps, color)
        painter.fillRect(bar, gradient)
        painter.setPen(palette.color(QPalette.ColorRole.Mid))
        painter.drawRect(bar)
    bar = bar_rect(fm, rect, rows, ticks, 0)
    y = rect.top() + len(rows) * line
    painter.setPen(text)
    for t, label in ticks:
        x = bar.left() + t * bar.width()
        painter.drawLine(QPointF(x, y - 3), QPointF(x, y))
        w = fm.horizontalAdvance(label)
        left = min(max(rect.left(), x - w / 2), rect.right() - w)
        painter.drawText(QRectF(left, y, w + 1, fm.height() + 2),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, label)
