"""Crisp views of what one layer computes: a mosaic of channel maps, or a vector as bars / a heat strip.

Both take plain numpy arrays made on a worker thread (uint8 images with their tile geometry, float
vectors) and only paint: one QImage per view, scaled by a whole factor with nearest-neighbour
sampling, so each activation stays a sharp square. Hovering names the tile or value under the mouse
(cnnstudio.core.inspection.tile_at does the mapping).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PySide6.QtCore import QPoint, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from cnnstudio.core.inspection.display import tile_at
from cnnstudio.ui.qimage import numpy_to_qimage

MAX_SCALE = 10


class MosaicView(QWidget):
    """A tile mosaic (uint8 (H, W) or (H, W, 3)) scaled by a whole factor to the widget's width.

    Height follows the width (heightForWidth), capped by max_height. hovered(index) reports the tile
    under the mouse (-1 over padding); describe(index) -> str, when given, becomes the tooltip.
    """

    hovered = Signal(int)

    def __init__(self, max_height: int = 420, parent: QWidget | None = None):
        super().__init__(parent)
        self._image: np.ndarray | None = None
        self._qimage: QImage | None = None
        self._tile = (1, 1)
        self._cols = 1
        self._count = 0
        self._pad = 1
        self._max_height = max_height
        self._describe: Callable[[int], str] | None = None
        self._last_hover = -1
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setMouseTracking(True)
        self.setMinimumWidth(60)

    def set_mosaic(self, image: np.ndarray | None, tile_shape: tuple[int, int] = (1, 1), cols: int = 1,
                   count: int = 0, pad: int = 1, describe: Callable[[int], str] | None = None) -> None:
        old = None if self._image is None else self._image.shape
        if image is None:
            self._image = self._qimage = None
        else:
            self._image = np.ascontiguousarray(image, dtype=np.uint8)
            self._qimage = numpy_to_qimage(self._image)
        self._tile, self._cols, self._count, self._pad = (int(tile_shape[0]), int(tile_shape[1])), int(cols), \
            int(count), int(pad)
        self._describe = describe
        if old != (None if self._image is None else self._image.shape):
            self.updateGeometry()
        self.update()

    def image(self) -> np.ndarray | None:
        """The mosaic shown (uint8), for tests and exports."""
        return self._image

    def tile_count(self) -> int:
        return self._count

    # -- geometry ---------------------------------------------------------------------------------
    def _scale_for(self, width: int) -> float:
        if self._image is None:
            return 1.0
        h, w = self._image.shape[:2]
        fit = min(width / max(w, 1), self._max_height / max(h, 1))
        return float(min(MAX_SCALE, int(fit))) if fit >= 1 else fit

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        if self._image is None:
            return 40
        return max(8, int(round(self._image.shape[0] * self._scale_for(width))))

    def sizeHint(self) -> QSize:
        return QSize(600, self.heightForWidth(600))

    def image_rect(self) -> QRectF:
        if self._image is None:
            return QRectF()
        h, w = self._image.shape[:2]
        s = self._scale_for(self.width())
        s = min(s, self.height() / max(h, 1)) if self.height() < h * s else s
        return QRectF(0, 0, w * s, h * s)

    def tile_at_pos(self, pos: QPoint) -> int | None:
        rect = self.image_rect()
        if self._image is None or not rect.contains(pos.x(), pos.y()):
            return None
        s = rect.width() / self._image.shape[1]
        return tile_at((pos.y() - rect.top()) / s, (pos.x() - rect.left()) / s, self._tile, self._cols,
                       self._count, self._pad)

    # -- painting, mouse --------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._qimage is None or self._image is None:  # set together: both or neither
            painter.end()
            return
        rect = self.image_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, rect.width() < self._image.shape[1])
        painter.drawImage(rect, self._qimage)
        painter.end()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        index = self.tile_at_pos(event.position().toPoint())
        value = -1 if index is None else index
        if value != self._last_hover:
            self._last_hover = value
            self.hovered.emit(value)
            if value >= 0 and self._describe is not None:
                QToolTip.showText(event.globalPosition().toPoint(), self._describe(value), self)
            else:
                QToolTip.hideText()
        super().mouseMoveEvent(event)

    def leaveEvent(self, event) -> None:
        if self._last_hover != -1:
            self._last_hover = -1
            self.hovered.emit(-1)
        super().leaveEvent(event)


class VectorView(QWidget):
    """A vector of values: bars (with labels, e.g. class scores) when short, a wrapped heat strip when long."""

    BAR_LIMIT = 64
    STRIP_ROW = 128

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._values: np.ndarray | None = None
        self._labels: list[str] = []
        self._strip: np.ndarray | None = None
        self._qimage: QImage | None = None
        self._row = self.STRIP_ROW
        self._last_hover = -1
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_values(self, values: np.ndarray | None, labels: Sequence[str] | None = None) -> None:
        self._values = None if values is None else np.asarray(values, dtype=np.float32).ravel()
        self._labels = list(labels or [])
        self._strip = self._qimage = None
        if self._values is not None and not self.is_bars():
            n = len(self._values)
            self._row = min(n, self.STRIP_ROW)
            rows = -(-n // self._row)
            lo, hi = float(self._values.min()), float(self._values.max())
            span = hi - lo if hi > lo else 1.0
            grey = np.zeros(rows * self._row, np.uint8)
            grey[:n] = np.clip((self._values - lo) / span * 255 + 0.5, 0, 255).astype(np.uint8)
            self._strip = np.ascontiguousarray(grey.reshape(rows, self._row))
            self._qimage = numpy_to_qimage(self._strip)
        self.setFixedHeight(self._preferred_height())
        self.update()

    def values(self) -> np.ndarray | None:
        return self._values

    def is_bars(self) -> bool:
        return self._values is not None and len(self._values) <= self.BAR_LIMIT

    def _shown_values(self) -> np.ndarray:
        """The values on screen: geometry, painting and tooltips run only while there are some."""
        if self._values is None:
            raise RuntimeError("no values are shown")
        return self._values

    def _shown_strip(self) -> tuple[np.ndarray, QImage]:
        """The heat strip on screen and its picture (long vectors only)."""
        if self._strip is None or self._qimage is None:
            raise RuntimeError("no heat strip is shown")
        return self._strip, self._qimage

    def image(self) -> np.ndarray | None:
        """The heat strip (uint8 rows x cols) for long vectors; None when shown as bars."""
        return self._strip

    def _preferred_height(self) -> int:
        if self._values is None:
            return 24
        if self.is_bars():
            return 110 + (QFontMetrics(self.font()).height() + 4 if self._labels else 0)
        rows = self._shown_strip()[0].shape[0]
        return int(max(12, min(90, rows * max(3, 620 // self._row))))

    def sizeHint(self) -> QSize:
        return QSize(600, self._preferred_height())

    def _strip_rect(self) -> QRectF:
        rows, cols = self._shown_strip()[0].shape
        cell = max(1.0, float(int(self.width() / cols)))
        cell_h = max(1.0, min(cell, self.height() / rows))
        return QRectF(0, 0, cols * cell, rows * cell_h)

    def _bar_geometry(self) -> tuple[float, float, float, float]:
        """(left, bar width, zero line y, pixels per unit)."""
        values = self._shown_values()
        n = len(values)
        label_h = QFontMetrics(self.font()).height() + 4 if self._labels else 0
        top, bottom = 6.0, self.height() - label_h - 4.0
        lo, hi = min(0.0, float(values.min())), max(0.0, float(values.max()))
        span = hi - lo if hi > lo else 1.0
        unit = (bottom - top) / span
        zero = top + hi * unit
        width = min(60.0, self.width() / n)
        return 0.0, width, zero, unit

    def index_at(self, pos: QPoint) -> int | None:
        if self._values is None:
            return None
        if self.is_bars():
            left, width, _, _ = self._bar_geometry()
            i = int((pos.x() - left) // width)
            return i if 0 <= i < len(self._values) else None
        rect = self._strip_rect()
        if not rect.contains(pos.x(), pos.y()):
            return None
        rows, cols = self._shown_strip()[0].shape
        row = int((pos.y() - rect.top()) / (rect.height() / rows))
        i = row * cols + int((pos.x() - rect.left()) / (rect.width() / cols))
        return i if i < len(self._values) else None

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._values is None:
            painter.end()
            return
        pal = self.palette()
        if not self.is_bars():
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(self._strip_rect(), self._shown_strip()[1])
            painter.end()
            return
        left, width, zero, unit = self._bar_geometry()
        highlight = pal.color(QPalette.ColorRole.Highlight)
        negative = QColor(pal.color(QPalette.ColorRole.Mid))
        text = pal.color(QPalette.ColorRole.WindowText)
        best = int(np.argmax(self._values))
        fm = QFontMetrics(self.font())
        for i, v in enumerate(self._values):
            x = left + i * width
            h = float(v) * unit
            rect = QRectF(x + width * 0.15, zero - max(h, 0), width * 0.7, abs(h))
            color = QColor(highlight) if v >= 0 else negative
            if self._labels and i != best:
                color.setAlphaF(0.55)
            painter.fillRect(rect, color)
            if self._labels and i < len(self._labels):
                painter.setPen(text)
                name = fm.elidedText(self._labels[i], Qt.TextElideMode.ElideRight, int(width) - 2)
                painter.drawText(QRectF(x, self.height() - fm.height() - 4, width, fm.height() + 2),
                                 Qt.AlignmentFlag.AlignHCenter, name)
        axis = QColor(text)
        axis.setAlphaF(0.45)
        painter.setPen(QPen(axis, 1))
        painter.drawLine(int(left), int(zero), int(left + width * len(self._values)), int(zero))
        painter.end()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        index = self.index_at(event.position().toPoint())
        value = -1 if index is None else index
        if value != self._last_hover:
            self._last_hover = value
            if value >= 0:
                name = f"{self._labels[value]}: " if value < len(self._labels) else f"value {value}: "
                QToolTip.showText(event.globalPosition().toPoint(), f"{name}{self._shown_values()[value]:.4g}", self)
            else:
                QToolTip.hideText()
        super().mouseMoveEvent(event)
