"""The camera's picture, scaled to fit, with the centred square the model sees marked.

Outside the square the picture is dimmed (it is neither recorded nor classified); the square's outline
turns red, with "REC", while a class is being recorded. A view only: it is given RGB numpy frames.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from cnnstudio.core.capture.frames import square_box
from cnnstudio.ui.qimage import numpy_to_qimage


class CameraPreview(QWidget):
    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._placeholder = placeholder
        self._recording = False
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(640, 480)

    def set_frame(self, rgb: np.ndarray | None) -> None:
        self._image = None if rgb is None else numpy_to_qimage(np.ascontiguousarray(rgb))
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def set_recording(self, on: bool) -> None:
        self._recording = on
        self.update()

    @property
    def has_frame(self) -> bool:
        return self._image is not None

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Window).darker(108))
        image = self._image
        if image is None:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect().adjusted(24, 24, -24, -24),
                             int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self._placeholder)
            return
        scale = min(self.width() / image.width(), self.height() / image.height())
        w, h = image.width() * scale, image.height() * scale
        target = QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(target, image)
        left, top, side = square_box(image.width(), image.height())
        square = QRectF(target.x() + left * scale, target.y() + top * scale, side * scale, side * scale)
        shade = QColor(0, 0, 0, 120)
        painter.fillRect(QRectF(target.left(), target.top(), square.left() - target.left(), h), shade)
        painter.fillRect(QRectF(square.right(), target.top(), target.right() - square.right(), h), shade)
        painter.fillRect(QRectF(square.left(), target.top(), side * scale, square.top() - target.top()), shade)
        painter.fillRect(QRectF(square.left(), square.bottom(), side * scale, target.bottom() - square.bottom()), shade)
        colour = QColor(220, 40, 40) if self._recording else self.palette().color(QPalette.ColorRole.Highlight)
        painter.setPen(QPen(colour, 3 if self._recording else 2))
        painter.drawRect(square.adjusted(1, 1, -1, -1))
        if self._recording:
            painter.setBrush(colour)
            painter.drawEllipse(square.topLeft() + QPointF(16, 16), 6, 6)
            font = painter.font()
            font.setBold(True)
            painter.setFont(font)
            painter.drawText(square.adjusted(28, 7, 0, 0), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop),
                             "REC")
