"""A grid of small images (dataset samples) drawn crisp: one composed numpy image, nearest-neighbour scaled.

28x28 digits are unreadable at 1:1 on a modern screen and blurry when smoothed, so the composed grid
is scaled with nearest-neighbour sampling, by a whole factor whenever that still fills the widget
reasonably. Hovering a thumbnail shows its caption (the class name). Torch-free: callers pass numpy.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QImage, QMouseEvent, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from cnnstudio.core.text import printable

GAP = 1  # pixels between thumbnails, in image pixels (scaled along with them)


def compose_grid(images: np.ndarray, cols: int, fill: tuple[int, int, int] = (0, 0, 0),
                 gap: int = GAP) -> np.ndarray:
    """uint8 (N, C, H, W) with C in {1, 3} -> one C-contiguous uint8 (rows, cols, 3) RGB image.

    Thumbnails go left to right, top to bottom, separated by `gap` pixels of `fill`; the last row is
    padded with `fill`. Gray images are repeated into RGB so one QImage format serves both.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3) or images.dtype != np.uint8:
        raise ValueError(f"expected uint8 (N, 1|3, H, W), got {images.dtype} {images.shape}")
    n, c, h, w = images.shape
    cols = max(1, min(cols, n)) if n else max(1, cols)
    rows = max(1, -(-n // cols))
    out = np.empty((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), dtype=np.uint8)
    out[:] = np.asarray(fill, dtype=np.uint8)
    hwc = images.transpose(0, 2, 3, 1)  # (N, H, W, C)
    if c == 1:
        hwc = np.repeat(hwc, 3, axis=3)
    for i in range(n):
        r, k = divmod(i, cols)
        y, x = r * (h + gap), k * (w + gap)
        out[y:y + h, x:x + w] = hwc[i]
    return np.ascontiguousarray(out)


class ImageGrid(QWidget):
    """Shows uint8 (N, C, H, W) thumbnails in `cols` columns, scaled up without smoothing."""

    def __init__(self, cols: int = 8, placeholder: str = "No images", parent: QWidget | None = None):
        super().__init__(parent)
        self._cols = cols
        self._placeholder = placeholder
        self._captions: list[str] = []
        self._array: np.ndarray | None = None  # the composed RGB grid; the QImage points into it
        self._qimage: QImage | None = None
        self._cell = (0, 0)  # thumbnail (h, w) in image pixels
        self._count = 0
        self.setMouseTracking(True)  # hover tooltips name each thumbnail's class
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(100, 100)

    # -- data -------------------------------------------------------------------------------------
    def set_images(self, images: np.ndarray | None, captions: list[str] | None = None,
                   placeholder: str | None = None) -> None:
        """Replace the thumbnails (None or an empty array shows the placeholder text)."""
        if placeholder is not None:
            self._placeholder = placeholder
        if images is None or len(images) == 0:
            self._array = self._qimage = None
            self._count = 0
            self._captions = []
            self.update()
            return
        fill = self.palette().color(QPalette.ColorRole.Window)
        self._array = compose_grid(images, self._cols, (fill.red(), fill.green(), fill.blue()))
        h, w = self._array.shape[:2]
        # QImage does not copy: self._array must outlive it, which holding both here guarantees.
        self._qimage = QImage(self._array.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        self._cell = (int(images.shape[2]), int(images.shape[3]))
        self._count = len(images)
        self._captions = [printable(c) for c in captions or []]  # class names, shown escaped
        self.update()

    def image_count(self) -> int:
        return self._count

    def grid_array(self) -> np.ndarray | None:
        """The composed RGB grid as shown (a copy; for tests and 'save image')."""
        return None if self._array is None else self._array.copy()

    # -- drawing ----------------------------------------------------------------------------------
    def _target_rect(self) -> QRect:
        assert self._array is not None
        gh, gw = self._array.shape[:2]
        avail_w, avail_h = max(1, self.width() - 4), max(1, self.height() - 4)
        scale = min(avail_w / gw, avail_h / gh)
        if scale >= 2:
            scale = float(int(scale))  # whole factors keep every image pixel the same size
        w, h = max(1, int(gw * scale)), max(1, int(gh * scale))
        return QRect((self.width() - w) // 2, (self.height() - h) // 2, w, h)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._qimage is None:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self._placeholder)
            return
        # No SmoothPixmapTransform: nearest-neighbour keeps pixels square and sharp.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(self._target_rect(), self._qimage)

    def sizeHint(self) -> QSize:
        # Small on purpose: the grid expands into whatever room the layout has left and scales to fit;
        # a large hint would make a scroll area scroll the whole page for a few pixels.
        return QSize(160, 120)

    # -- hover ------------------------------------------------------------------------------------
    def index_at(self, pos: QPoint) -> int | None:
        """The thumbnail under a widget position, or None."""
        if self._array is None:
            return None
        rect = self._target_rect()
        if not rect.contains(pos):
            return None
        gh, gw = self._array.shape[:2]
        x = (pos.x() - rect.x()) * gw / rect.width()
        y = (pos.y() - rect.y()) * gh / rect.height()
        ch, cw = self._cell
        col, row = int(x // (cw + GAP)), int(y // (ch + GAP))
        cols = max(1, min(self._cols, self._count))
        index = row * cols + col
        return index if 0 <= index < self._count and col < cols else None

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        index = self.index_at(event.position().toPoint())
        if index is not None and index < len(self._captions):
            QToolTip.showText(event.globalPosition().toPoint(), self._captions[index], self)
        else:
            QToolTip.hideText()
        super().mouseMoveEvent(event)
