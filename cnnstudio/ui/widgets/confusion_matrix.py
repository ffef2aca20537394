"""A confusion-matrix heatmap that reads at a glance: correct answers blue, mistakes red, names on both axes.

Custom-painted (no plotting library): class names go on both axes, counts (or row percentages) are
written in the cells whenever they fit, and clicking a cell emits its (true, predicted) pair. Rows
are the true class, columns the predicted class. Colours come from the palette (the diagonal uses the
highlight colour) blended over the palette's base colour, so light and dark themes both work; the
mistake colour is a fixed red, like the app's error banners. Intensity uses a square-root scale so a
handful of mistakes beside hundreds of correct answers is still visible.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (QColor, QFont, QFontMetrics, QImage, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen,
                           QRegion)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from cnnstudio.core.text import printable
from cnnstudio.ui.widgets.color_scale import paint_color_scale, scale_height
from cnnstudio.ui.widgets.muted import rgb_f

MISTAKE = QColor(220, 50, 47)
AXIS_GAP = 6
MAX_LABEL = 130  # pixels: longer class names are elided (the tooltip has them in full)
LEGEND_GAP = 10  # between the axis title and the colour scale


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    t = max(0.0, min(1.0, t))
    return QColor.fromRgbF(*(x * (1 - t) + y * t for x, y in zip(rgb_f(a), rgb_f(b))))


def _luminance(c: QColor) -> float:
    return 0.299 * c.redF() + 0.587 * c.greenF() + 0.114 * c.blueF()


def _row_fractions(counts: np.ndarray) -> np.ndarray:
    """Each row as fractions of its total (a row without images stays 0)."""
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)

class ConfusionMatrixView(QWidget):
    """counts[true, predicted] as a grid of coloured cells. cellClicked(true, predicted) on click."""

    cellClicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._counts: np.ndarray | None = None
        self._classes: list[str] = []
        self._normalised = False
        self._selected: tuple[int, int] | None = None
        self._hover: tuple[int, int] | None = None
        self._placeholder = "The confusion matrix appears after an evaluation."
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(260, 240)

    # -- data -------------------------------------------------------------------------------------
    def set_matrix(self, counts: np.ndarray | None, classes: list[str] | None = None) -> None:
        self._counts = None if counts is None else np.asarray(counts, dtype=np.int64)
        self._classes = [printable(c) for c in classes or []]  # a name's newline or U+202E shown escaped
        self._selected = self._hover = None
        self.update()

    def set_normalised(self, normalised: bool) -> None:
        """Show each row as percentages of its true class (True) or raw counts (False)."""
        self._normalised = bool(normalised)
        self.update()

    def normalised(self) -> bool:
        return self._normalised

    def set_selected(self, cell: tuple[int, int] | None) -> None:
        self._selected = cell
        self.update()

    def selected(self) -> tuple[int, int] | None:
        return self._selected

    def counts(self) -> np.ndarray | None:
        return None if self._counts is None else self._counts.copy()

    def fractions(self) -> np.ndarray | None:
        """Each row divided by its total (a class without test samples stays 0)."""
        if self._counts is None:
            return None
        return _row_fractions(self._counts)

    def _shown(self) -> np.ndarray:
        """The counts on screen: painting and tooltips run only while a matrix is shown."""
        if self._counts is None:
            raise RuntimeError("no confusion matrix is shown")
        return self._counts

    def cell_text(self, t: int, p: int) -> str:
        if self._counts is None:
            return ""
        if self._normalised:
            f = _row_fractions(self._counts)[t, p]
            if f == 0:
                return "0"
            return f"{100 * f:.0f}%" if f >= 0.095 or f == 1 else f"{100 * f:.1f}%"
        return f"{int(self._counts[t, p]):,}"

    # -- geometry ---------------------------------------------------------------------------------
    def _label_font(self) -> QFont:
        return QFont(self.font())

    def _layout(self) -> tuple[QRectF, float, bool]:
        """(grid rect, cell size, predicted labels rotated)."""
        k = max(1, len(self._classes))
        fm = QFontMetrics(self._label_font())
        label_w = min(MAX_LABEL, max((fm.horizontalAdvance(c) for c in self._classes), default=0)) + 2 * AXIS_GAP
        title_h = fm.height() + 4
        left = title_h + label_w
        avail_w = self.width() - left - 8
        # Bottom labels: horizontal if the longest fits in a cell, else rotated by 90 degrees.
        guess_cell = max(8.0, min(avail_w / k, (self.height() - title_h - fm.height() - 12) / k))
        rotated = label_w - 2 * AXIS_GAP > guess_cell - 4
        bottom = title_h + (label_w if rotated else fm.height() + 2 * AXIS_GAP) + self._legend_height(fm)
        cell = max(6.0, min(avail_w / k, (self.height() - bottom - 8) / k))
        cell = math.floor(cell)
        grid_w = cell * k
        x0 = left + max(0.0, (avail_w - grid_w) / 2)
        y0 = 8.0
        return QRectF(x0, y0, grid_w, grid_w), cell, rotated

    def cell_rect(self, t: int, p: int) -> QRectF:
        grid, cell, _ = self._layout()
        return QRectF(grid.left() + p * cell, grid.top() + t * cell, cell, cell)

    def cell_center(self, t: int, p: int) -> QPoint:
        """Widget coordinates of the centre of cell (true t, predicted p): for clicking in tests."""
        return self.cell_rect(t, p).center().toPoint()

    def cell_at(self, pos: QPointF | QPoint) -> tuple[int, int] | None:
        if self._counts is None:
            return None
        grid, cell, _ = self._layout()
        x, y = pos.x() - grid.left(), pos.y() - grid.top()
        if x < 0 or y < 0 or cell <= 0:
            return None
        p, t = int(x // cell), int(y // cell)
        k = len(self._classes)
        return (t, p) if t < k and p < k else None

    def sizeHint(self) -> QSize:
        return QSize(460, 440)

    def content_height(self) -> int:
        """How far down the painting goes (grid, labels, axis title), for exports without empty space."""
        grid, _, rotated = self._layout()
        fm = QFontMetrics(self._label_font())
        label_w = max((fm.horizontalAdvance(fm.elidedText(c, Qt.TextElideMode.ElideRight, MAX_LABEL))
                       for c in self._classes), default=0)
        below = (label_w + AXIS_GAP + 4) if rotated else (fm.height() + AXIS_GAP + 2)
        return int(math.ceil(grid.bottom() + below + fm.height() + 12 + self._legend_height(fm)))

    def _legend_height(self, fm: QFontMetrics) -> int:
        """Room for the colour scale under the axis title (none before a matrix is set)."""
        return scale_height(fm, 2) + LEGEND_GAP if self._counts is not None and self._classes else 0

    def legend_rect(self) -> QRectF:
        """Where the colour scale is painted: under the "Predicted class" title, as wide as the grid."""
        grid, _, rotated = self._layout()
        fm = QFontMetrics(self._label_font())
        label_w = max((fm.horizontalAdvance(fm.elidedText(c, Qt.TextElideMode.ElideRight, MAX_LABEL))
                       for c in self._classes), default=0)
        below = (label_w + AXIS_GAP + 4) if rotated else (fm.height() + AXIS_GAP + 2)
        top = grid.bottom() + below + fm.height() + 4 + LEGEND_GAP
        width = max(grid.width(), min(220.0, self.width() - 16.0))
        left = max(8.0, min(grid.center().x() - width / 2, self.width() - 8.0 - width))
        return QRectF(left, top, width, scale_height(fm, 2))

    def to_image(self, scale: float = 2.0) -> QImage:
        """The matrix as a picture (no hover or selection marks) on the palette's base colour."""
        size = QSize(self.width(), min(self.height(), self.content_height()))
        image = QImage(size * scale, QImage.Format.Format_ARGB32)
        image.setDevicePixelRatio(scale)
        image.fill(self.palette().color(QPalette.ColorRole.Base))
        selected, hover = self._selected, self._hover
        self._selected = self._hover = None
        try:
            self.render(image, QPoint(0, 0), QRegion(0, 0, size.width(), size.height()),
                        QWidget.RenderFlag.DrawChildren)
        finally:
            self._selected, self._hover = selected, hover
        return image

    # -- painting ---------------------------------------------------------------------------------
    def cell_color(self, t: int, p: int) -> QColor:
        pal = self.palette()
        base = pal.color(QPalette.ColorRole.Base)
        counts = self._shown()
        value = _row_fractions(counts)[t, p] if self._normalised else counts[t, p] / max(1, counts.max())
        if value <= 0:
            return base
        target = pal.color(QPalette.ColorRole.Highlight) if t == p else MISTAKE
        return _mix(base, target, 0.12 + 0.88 * math.sqrt(float(value)))

    def color_scale(self, samples: int = 33) -> tuple[list[tuple[str, list[QColor]]], list[tuple[float, str]]]:
        """The legend of cell_color: a bar for right answers and one for mistakes, and the ticks under
        them. Position t along a bar is the value t² of the maximum (the square-root scale), so the
        middle tick reads a quarter of it. Empty before a matrix is set."""
        if self._counts is None or not self._classes:
            return [], []
        pal = self.palette()
        base = pal.color(QPalette.ColorRole.Base)
        rows = []
        for name, target in (("Right", pal.color(QPalette.ColorRole.Highlight)), ("Wrong", MISTAKE)):
            ts = [i / (samples - 1) for i in range(samples)]
            rows.append((name, [base] + [_mix(base, target, 0.12 + 0.88 * t) for t in ts[1:]]))
        if self._normalised:
            ticks = [(0.0, "0"), (0.5, "25%"), (1.0, "100%")]
        else:
            top = max(1, int(self._counts.max()))
            ticks = [(0.0, "0"), (0.5, f"{top / 4:,.0f}"), (1.0, f"{top:,}")]
        return rows, ticks

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        if self._counts is None or not self._classes:
            painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            painter.end()
            return
        k = len(self._classes)
        grid, cell, rotated = self._layout()
        fm = QFontMetrics(self._label_font())

        # Cells and their numbers.
        cell_font = QFont(self.font())
        size = max(6.0, min(self.font().pointSizeF() if self.font().pointSizeF() > 0 else 9.0, cell * 0.3))
        cell_font.setPointSizeF(size)
        cfm = QFontMetrics(cell_font)
        painter.setFont(cell_font)
        grid_pen = QColor(pal.color(QPalette.ColorRole.Mid))
        grid_pen.setAlphaF(0.35)
        for t in range(k):
            for p in range(k):
                rect = self.cell_rect(t, p)
                color = self.cell_color(t, p)
                painter.fillRect(rect, color)
                painter.setPen(grid_pen)
                painter.drawRect(rect.adjusted(0, 0, -1, -1))
                label = self.cell_text(t, p)
                if cfm.horizontalAdvance(label) + 4 <= cell and cfm.height() <= cell:
                    ink = QColor(0, 0, 0) if _luminance(color) > 0.55 else QColor(255, 255, 255)
                    if self._counts[t, p] == 0:
                        ink = QColor(text)
                        ink.setAlphaF(0.35)
                    painter.setPen(ink)
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)

        # Hover and selection outlines.
        if self._hover is not None and self._hover != self._selected:
            painter.setPen(QPen(pal.color(QPalette.ColorRole.Mid), 1.5))
            painter.drawRect(self.cell_rect(*self._hover).adjusted(1, 1, -2, -2))
        if self._selected is not None:
            painter.setPen(QPen(text, 2.5))
            painter.drawRect(self.cell_rect(*self._selected).adjusted(1, 1, -2, -2))

        # Axis labels: true classes on the left, predicted classes below.
        painter.setFont(self._label_font())
        painter.setPen(text)
        for i, name in enumerate(self._classes):
            elided = fm.elidedText(name, Qt.TextElideMode.ElideRight, MAX_LABEL)
            r = QRectF(0, grid.top() + i * cell, grid.left() - AXIS_GAP, cell)
            painter.drawText(r, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, elided)
            cx = grid.left() + (i + 0.5) * cell
            if rotated:
                painter.save()
                painter.translate(cx, grid.bottom() + AXIS_GAP)
                painter.rotate(-90)
                painter.drawText(QRectF(-MAX_LABEL - AXIS_GAP, -cell / 2, MAX_LABEL + AXIS_GAP - 2, cell),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, elided)
                painter.restore()
            else:
                painter.drawText(QRectF(cx - cell / 2, grid.bottom() + AXIS_GAP, cell, fm.height()),
                                 Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, elided)
        # Axis titles.
        bold = QFont(self._label_font())
        bold.setBold(True)
        painter.setFont(bold)
        label_w = max((fm.horizontalAdvance(fm.elidedText(c, Qt.TextElideMode.ElideRight, MAX_LABEL))
                       for c in self._classes), default=0)
        below = (label_w + AXIS_GAP + 4) if rotated else (fm.height() + AXIS_GAP + 2)
        painter.drawText(QRectF(grid.left(), grid.bottom() + below, grid.width(), fm.height() + 4),
                         Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, "Predicted class")
        painter.save()
        painter.translate(grid.left() - label_w - 2 * AXIS_GAP - 2, grid.center().y())
        painter.rotate(-90)
        painter.drawText(QRectF(-grid.height() / 2, -fm.height() - 2, grid.height(), fm.height() + 2),
                         Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom, "True class")
        painter.restore()
        # The colour scale, so a cell's shade can be read as a number (and is in every exported picture).
        painter.setFont(self._label_font())
        paint_color_scale(painter, self.legend_rect(), *self.color_scale(), pal)
        painter.end()

    # -- mouse ------------------------------------------------------------------------------------
    def tooltip_for(self, t: int, p: int) -> str:
        counts = self._shown()
        n = int(counts[t, p])
        total = int(counts[t].sum())
        share = (f"{100 * n / total:.1f} % of the {total:,} test images of {self._classes[t]}" if total
                 else "no test images")
        head = (f"{self._classes[t]} recognised correctly" if t == p
                else f"{self._classes[t]} mistaken for {self._classes[p]}")
        what = "Click to see them" if n else "Nothing to show"
        return f"<b>{_html(head)}</b><br>{n:,} image{'s' if n != 1 else ''} ({share})<br><i>{what}</i>"

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        cell = self.cell_at(event.position())
        if cell != self._hover:
            self._hover = cell
            self.update()
            if cell is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPosition().toPoint(), self.tooltip_for(*cell), self)
        super().mouseMoveEvent(event)

    def leaveEvent(self, event) -> None:
        self._hover = None
        self.update()
        super().leaveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            cell = self.cell_at(event.position())
            if cell is not None:
                self.cellClicked.emit(*cell)
                event.accept()
                return
        super().mousePressEvent(event)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
