"""Widgets that show a single prediction: top-k probability bars and the model's input, pixel by pixel.

Both paint themselves with palette colours, so they follow light and dark themes, and take plain
numpy/Python values (no torch), so any page can use them (Draw, Inspect, Evaluate).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from cnnstudio.core.text import printable
from cnnstudio.ui.qimage import chw_to_hwc, numpy_to_qimage


def format_probability(p: float) -> str:
    if p >= 0.9995:
        return "100 %"
    if p < 0.001:
        return "<0.1 %"
    return f"{100 * p:.1f} %"


class ProbabilityBars(QWidget):
    """Horizontal bars, one row per (label, probability), the first (the top class) highlighted."""

    ROW = 28

    def __init__(self, rows: int = 5, parent: QWidget | None = None):
        super().__init__(parent)
        self._slots = rows
        self._rows: list[tuple[str, float]] = []
        self._placeholder = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(self._slots * self.ROW)

    def set_rows(self, rows: Sequence[tuple[str, float]]) -> None:
        self._rows = [(printable(label), float(p)) for label, p in rows][: self._slots]  # no bidi reordering
        self.setToolTip("\n".join(f"{label}: {format_probability(p)}" for label, p in self._rows))
        self.update()

    def clear(self, placeholder: str = "") -> None:
        self._rows = []
        self._placeholder = placeholder
        self.setToolTip("")
        self.update()

    def rows(self) -> list[tuple[str, float]]:
        """What is shown, top first (for tests)."""
        return list(self._rows)

    def sizeHint(self) -> QSize:
        return QSize(280, self._slots * self.ROW)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        pal = self.palette()
        text_color = pal.color(QPalette.ColorRole.WindowText)
        highlight = pal.color(QPalette.ColorRole.Highlight)
        muted = QColor(highlight)
        muted.setAlphaF(0.38)
        track = QColor(pal.color(QPalette.ColorRole.Mid))
        track.setAlphaF(0.22)
        if not self._rows:
            if self._placeholder:
                painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                                 self._placeholder)
            else:  # empty tracks keep the panel's shape without suggesting any class
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(track)
                for i in range(self._slots):
                    painter.drawRoundedRect(QRectF(0, i * self.ROW + 6, self.width(), self.ROW - 12), 4, 4)
            painter.end()
            return
        base_font = QFont(self.font())
        bold = QFont(base_font)
        bold.setBold(True)
        metrics = QFontMetrics(bold)
        label_w = min(max(metrics.horizontalAdvance(label) for label, _ in self._rows) + 12, self.width() * 0.4)
        pct_w = metrics.horizontalAdvance("100.0 %") + 10
        bar_x, bar_w = label_w, max(10.0, self.width() - label_w - pct_w)
        for i, (label, p) in enumerate(self._rows):
            top = i * self.ROW
            font = bold if i == 0 else base_font
            painter.setFont(font)
            painter.setPen(text_color)
            elided = QFontMetrics(font).elidedText(label, Qt.TextElideMode.ElideRight, int(label_w - 8))
            painter.drawText(QRectF(0, top, label_w - 8, self.ROW),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, elided)
            track_rect = QRectF(bar_x, top + 6, bar_w, self.ROW - 12)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(track)
            painter.drawRoundedRect(track_rect, 4, 4)
            fill = QRectF(track_rect)
            fill.setWidth(max(0.0, min(1.0, p)) * bar_w)
            if fill.width() > 0.5:
                painter.setBrush(highlight if i == 0 else muted)
                painter.drawRoundedRect(fill, 4, 4)
            painter.setPen(QPen(text_color))
            painter.drawText(QRectF(bar_x + bar_w, top, pct_w, self.ROW),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, format_probability(p))
        painter.end()


class PixelView(QWidget):
    """A small image (uint8 (C, H, W), C = 1 or 3) scaled up by a whole factor, nearest-neighbour, crisp."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._pixels: np.ndarray | None = None
        self._qimage: QImage | None = None
        self._placeholder = placeholder
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumSize(112, 112)

    def set_pixels(self, pixels: np.ndarray | None) -> None:
        if pixels is None:
            self._pixels = self._qimage = None
        else:
            self._pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
            self._qimage = numpy_to_qimage(chw_to_hwc(self._pixels))
        self.update()

    def pixels(self) -> np.ndarray | None:
        return None if self._pixels is None else self._pixels.copy()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(200, 172)

    def image_rect(self) -> QRectF:
        h, w = (self._pixels.shape[1:] if self._pixels is not None else (28, 28))
        avail = min(self.width(), self.height()) - 2
        scale = max(1, int(avail / max(h, w)))  # whole factors: every input pixel the same size
        side_w, side_h = w * scale, h * scale
        return QRectF((self.width() - side_w) // 2, (self.height() - side_h) // 2, side_w, side_h)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = self.image_rect()
        pal = self.palette()
        if self._qimage is None:
            painter.setPen(QPen(pal.color(QPalette.ColorRole.Mid), 1, Qt.PenStyle.DashLine))
            painter.drawRect(rect.adjusted(0.5, 0.5, -0.5, -0.5))
            if self._placeholder:
                painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            painter.end()
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # crisp pixels
        painter.drawImage(rect, self._qimage)
        painter.setPen(QPen(pal.color(QPalette.ColorRole.Mid), 1))
        painter.drawRect(rect.adjusted(-0.5, -0.5, 0.5, 0.5))
        painter.end()
