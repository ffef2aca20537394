"""A drawing canvas: mouse or pen strokes on white paper, kept at high resolution, with stroke-level undo.

The drawing lives in a SIZE x SIZE QImage (RGB32, dark ink on white paper, like drawing on paper); the
widget shows it scaled into the largest centred square that fits (letterboxed), so it grows with the
window. Whatever the polarity of the drawing, cnnstudio.core.inference.prepare_image brings it to the
dataset's convention: the canvas never needs to know what the model expects.

Strokes are smoothed with the usual midpoint scheme: each new point adds a quadratic Bezier from the
midpoint of the previous two points, through the previous point as control, to the midpoint of the last
two, drawn with round caps and joins, antialiased. Pen pressure (QTabletEvent) scales the width.

History is a list of actions (strokes and clears). Undo re-renders from the nearest snapshot (one every
SNAPSHOT_EVERY actions) instead of keeping an image per stroke, so a long session costs little memory.
The incremental drawing during a stroke and the re-rendering after an undo go through the same segment
function, so both give the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QElapsedTimer, QEvent, QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (QColor, QImage, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPalette, QPen,
                           QPointingDevice, QTabletEvent)
from PySide6.QtWidgets import QSizePolicy, QWidget

from cnnstudio.ui.qimage import qimage_to_gray, qimage_to_rgb

SIZE = 560  # side of the drawing in image pixels (20x a 28x28 input)
SNAPSHOT_EVERY = 16  # actions between cached images, for fast undo
PAPER = QColor(255, 255, 255)
INK = QColor(0, 0, 0)
MIN_STEP = 0.75  # image pixels a pointer must move before a new point is recorded


@dataclass
class Stroke:
    points: list[tuple[float, float, float]] = field(default_factory=list)  # (x, y, pressure) in image pixels
    size: float = 24.0
    color: int = 0xFF000000  # ARGB
    eraser: bool = False

    def width_at(self, i: int) -> float:
        pressure = self.points[i][2]
        return max(1.0, self.size * (0.3 + 0.7 * min(max(pressure, 0.0), 1.0)))


class _Clear:
    """A history entry: the page was wiped."""


def _mid(a: tuple[float, float, float], b: tuple[float, float, float]) -> QPointF:
    return QPointF((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)


class DrawingCanvas(QWidget):
    """Draw with mouse or pen. Signals:

    - strokeChanged: the drawing changed during a stroke (at most every emit_interval_ms) and once at
      the end of each stroke;
    - strokeFinished: a stroke ended (after its last strokeChanged);
    - imageChanged: after every completed edit (stroke end, undo, redo, clear);
    - cleared: the drawing was cleared;
    - historyChanged: undo/redo availability may have changed.
    """

    strokeChanged = Signal()
    strokeFinished = Signal()
    imageChanged = Signal()
    cleared = Signal()
    historyChanged = Signal()

    def __init__(self, parent: QWidget | None = None, size: int = SIZE):
        super().__init__(parent)
        self._size = int(size)
        self._image = self._blank()
        self._history: list[Stroke | _Clear] = []
        self._redo: list[Stroke | _Clear] = []
        self._snapshots: dict[int, QImage] = {}
        self._stroke: Stroke | None = None
        self._brush = 24.0
        self._eraser = False
        self._color = QColor(INK)
        self._color_mode = False
        self._empty: bool | None = True
        self._hint = "Draw a figure here"
        self._shown_image: QImage | None = None  # a loaded picture shown instead of the drawing
        self._hover: QPointF | None = None
        self.emit_interval_ms = 16  # strokeChanged at most ~60 times a second during a stroke
        self._since_emit = QElapsedTimer()
        self._emit_timer = QTimer(self)
        self._emit_timer.setSingleShot(True)
        self._emit_timer.timeout.connect(self._emit_stroke_changed)
        self.setAttribute(Qt.WidgetAttribute.WA_TabletTracking, True)
        self.setMouseTracking(True)  # the brush outline follows the pointer
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 200)
        self.setCursor(Qt.CursorShape.CrossCursor)

    # -- public API -------------------------------------------------------------------------------
    def image(self) -> QImage:
        """A copy of the drawing at full resolution (RGB32)."""
        return self._image.copy()

    def to_numpy(self, rgb: bool | None = None) -> np.ndarray:
        """The drawing as uint8 (H, W) gray, or (H, W, 3) RGB when rgb (default: the colour mode)."""
        if rgb is None:
            rgb = self._color_mode
        return qimage_to_rgb(self._image) if rgb else qimage_to_gray(self._image)

    def drawing(self) -> bool:
        """A stroke is under way (the pen is down)."""
        return self._stroke is not None

    def change_pending(self) -> bool:
        """A throttled strokeChanged is still to come."""
        return self._emit_timer.isActive()

    def is_empty(self) -> bool:
        """True when the paper is blank (nothing drawn, or everything erased, undone or cleared)."""
        if self._empty is None:
            buffer = np.frombuffer(self._image.constBits(), dtype=np.uint32,
                                   count=self._image.sizeInBytes() // 4)
            self._empty = bool(buffer.min() == 0xFFFFFFFF)
        return self._empty

    def image_size(self) -> int:
        return self._size

    def clear(self) -> None:
        """Wipe the page (undoable). Does nothing on a blank page."""
        self._finish_stroke(emit=False)
        if self.is_empty():
            return
        self._image.fill(PAPER)
        self._push(_Clear())
        self._changed()
        self.update()
        self.cleared.emit()
        self.imageChanged.emit()

    def undo(self) -> None:
        self._finish_stroke()
        if not self._history:
            return
        self._redo.append(self._history.pop())
        self._render()
        self.historyChanged.emit()
        self.imageChanged.emit()

    def redo(self) -> None:
        self._finish_stroke()
        if not self._redo:
            return
        action = self._redo.pop()
        self._history.append(action)
        self._apply(self._image, action)
        self._changed()
        self._maybe_snapshot()
        self.update()
        self.historyChanged.emit()
        self.imageChanged.emit()

    def can_undo(self) -> bool:
        return bool(self._history)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def set_brush_size(self, px: float) -> None:
        """Brush diameter in drawing pixels (the drawing is image_size() wide)."""
        self._brush = float(min(max(px, 1.0), self._size / 2))
        self._update_hover()

    def brush_size(self) -> float:
        return self._brush

    def set_eraser(self, on: bool) -> None:
        self._eraser = bool(on)
        self._update_hover()

    def eraser(self) -> bool:
        return self._eraser

    def set_color(self, color: QColor) -> None:
        """Ink colour of the next strokes (only colour models see it; gray models see its luminance)."""
        self._color = QColor(color)

    def color(self) -> QColor:
        return QColor(self._color)

    def set_color_mode(self, on: bool) -> None:
        """Whether to_numpy() returns RGB (for models with 3 input channels) instead of gray."""
        self._color_mode = bool(on)

    def color_mode(self) -> bool:
        return self._color_mode

    def set_hint(self, text: str) -> None:
        self._hint = text
        self.update()

    def hint_visible(self) -> bool:
        """Whether the "draw here" hint is shown (a blank page, no picture shown)."""
        return bool(self._hint) and self._shown_image is None and self._stroke is None and self.is_empty()

    def show_image(self, image: QImage | None) -> None:
        """Show a picture (scaled to fit) instead of the drawing; drawing is off until show_image(None).

        The drawing is kept: show_image(None) brings it back unchanged.
        """
        self._finish_stroke()
        self._shown_image = None if image is None or image.isNull() else image.copy()
        self.setCursor(Qt.CursorShape.ArrowCursor if self._shown_image is not None else Qt.CursorShape.CrossCursor)
        self.update()

    def showing_image(self) -> bool:
        return self._shown_image is not None

    def add_stroke(self, points: Sequence[tuple[float, float]], size: float | None = None,
                   eraser: bool = False) -> None:
        """Draw a stroke through points given in drawing pixels, as if drawn with the mouse.

        Like mouse input, the points are smoothed: corners between points far apart come out rounded,
        so give points a few pixels apart where a corner should stay sharp."""
        if not points:
            return
        old_size, old_eraser = self._brush, self._eraser
        if size is not None:
            self._brush = float(size)
        self._eraser = eraser
        self._begin_stroke(QPointF(*points[0]), 1.0)
        for x, y in points[1:]:
            self._extend_stroke(QPointF(x, y), 1.0)
        self._finish_stroke()
        self._brush, self._eraser = old_size, old_eraser

    def paper_rect(self) -> QRectF:
        """Where the drawing is shown, in widget coordinates: the largest centred square that fits."""
        margin = 6.0
        side = max(1.0, min(self.width(), self.height()) - 2 * margin)
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def map_to_image(self, pos: QPointF) -> QPointF:
        rect = self.paper_rect()
        scale = self._size / rect.width()
        return QPointF((pos.x() - rect.x()) * scale, (pos.y() - rect.y()) * scale)

    def map_from_image(self, point: QPointF) -> QPointF:
        rect = self.paper_rect()
        scale = rect.width() / self._size
        return QPointF(rect.x() + point.x() * scale, rect.y() + point.y() * scale)

    def sizeHint(self) -> QSize:
        return QSize(560, 560)

    # -- history ----------------------------------------------------------------------------------
    def _blank(self) -> QImage:
        image = QImage(self._size, self._size, QImage.Format.Format_RGB32)
        image.fill(PAPER)
        return image

    def _push(self, action: Stroke | _Clear) -> None:
        if self._redo:
            self._redo.clear()
        # Snapshots beyond the current history describe undone actions: drop them.
        for key in [k for k in self._snapshots if k > len(self._history)]:
            del self._snapshots[key]
        self._history.append(action)
        self._maybe_snapshot()
        self.historyChanged.emit()

    def _maybe_snapshot(self) -> None:
        n = len(self._history)
        if n % SNAPSHOT_EVERY == 0 and n not in self._snapshots:
            self._snapshots[n] = self._image.copy()

    def _render(self) -> None:
        """Re-render the image from the history (after an undo)."""
        n = len(self._history)
        start = max((k for k in self._snapshots if k <= n), default=0)
        image = self._snapshots[start].copy() if start else self._blank()
        for action in self._history[start:]:
            self._apply(image, action)
        self._image = image
        self._changed()
        self.update()

    def _apply(self, image: QImage, action: Stroke | _Clear) -> None:
        if isinstance(action, _Clear):
            image.fill(PAPER)
            return
        painter = self._painter(image)
        for path, width in self._segments(action, 0, len(action.points), final=True):
            self._paint(painter, action, path, width)
        painter.end()

    # -- strokes ----------------------------------------------------------------------------------
    @staticmethod
    def _painter(image: QImage) -> QPainter:
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        return painter

    @staticmethod
    def _paint(painter: QPainter, stroke: Stroke, path: QPainterPath | QPointF, width: float) -> None:
        color = PAPER if stroke.eraser else QColor.fromRgba(stroke.color)
        pen = QPen(color, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if isinstance(path, QPointF):
            painter.drawPoint(path)
        else:
            painter.drawPath(path)

    @staticmethod
    def _segments(stroke: Stroke, first: int, last: int, final: bool):
        """The pieces of a stroke for points first..last-1 (index 0 is the dot), plus the tail if final.

        Yields (QPainterPath or QPointF for the dot, width)."""
        pts = stroke.points
        for k in range(first, last):
            if k == 0:
                yield QPointF(pts[0][0], pts[0][1]), stroke.width_at(0)
            elif k == 1:
                path = QPainterPath(QPointF(pts[0][0], pts[0][1]))
                path.lineTo(_mid(pts[0], pts[1]))
                yield path, stroke.width_at(0)
            else:
                path = QPainterPath(_mid(pts[k - 2], pts[k - 1]))
                path.quadTo(QPointF(pts[k - 1][0], pts[k - 1][1]), _mid(pts[k - 1], pts[k]))
                yield path, stroke.width_at(k - 1)
        if final and len(pts) >= 2:
            path = QPainterPath(_mid(pts[-2], pts[-1]))
            path.lineTo(QPointF(pts[-1][0], pts[-1][1]))
            yield path, stroke.width_at(len(pts) - 1)

    def _draw_pieces(self, first: int, last: int, final: bool) -> None:
        stroke = self._stroke
        assert stroke is not None
        painter = self._painter(self._image)
        dirty = QRectF()
        for path, width in self._segments(stroke, first, last, final):
            self._paint(painter, stroke, path, width)
            box = (QRectF(path, path) if isinstance(path, QPointF) else path.controlPointRect())
            pad = width / 2 + 2
            dirty = dirty.united(box.adjusted(-pad, -pad, pad, pad))
        painter.end()
        if not dirty.isNull():
            self._changed()
            self.update(self._widget_rect(dirty))

    def _begin_stroke(self, pos: QPointF, pressure: float, eraser: bool | None = None) -> None:
        self._finish_stroke()
        if self.hint_visible():
            self.update()  # the hint goes with the first stroke: repaint all of it, not just the stroke's rect
        self._stroke = Stroke(size=self._brush, color=self._color.rgba(),
                              eraser=self._eraser if eraser is None else eraser)
        self._stroke.points.append((pos.x(), pos.y(), pressure))
        self._draw_pieces(0, 1, final=False)
        self._since_emit.start()
        self.strokeChanged.emit()

    def _extend_stroke(self, pos: QPointF, pressure: float) -> None:
        stroke = self._stroke
        if stroke is None:
            return
        last = stroke.points[-1]
        if (pos.x() - last[0]) ** 2 + (pos.y() - last[1]) ** 2 < MIN_STEP ** 2:
            return
        stroke.points.append((pos.x(), pos.y(), pressure))
        n = len(stroke.points)
        self._draw_pieces(n - 1, n, final=False)
        self._schedule_stroke_changed()

    def _finish_stroke(self, emit: bool = True) -> None:
        stroke = self._stroke
        if stroke is None:
            return
        self._draw_pieces(len(stroke.points), len(stroke.points), final=True)
        self._stroke = None
        self._emit_timer.stop()
        self._push(stroke)
        if emit:
            self.strokeChanged.emit()
            self.strokeFinished.emit()
            self.imageChanged.emit()

    def _schedule_stroke_changed(self) -> None:
        if self.emit_interval_ms <= 0 or self._since_emit.elapsed() >= self.emit_interval_ms:
            self._emit_stroke_changed()
        elif not self._emit_timer.isActive():
            self._emit_timer.start(max(1, self.emit_interval_ms - int(self._since_emit.elapsed())))

    def _emit_stroke_changed(self) -> None:
        self._emit_timer.stop()
        self._since_emit.start()
        if self._stroke is not None:
            self.strokeChanged.emit()

    def _changed(self) -> None:
        self._empty = None

    # -- events -----------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._shown_image is None:
            self._begin_stroke(self.map_to_image(event.position()), 1.0)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._set_hover(event.position())
        if self._stroke is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self._extend_stroke(self.map_to_image(event.position()), 1.0)
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._stroke is not None:
            self._extend_stroke(self.map_to_image(event.position()), 1.0)
            self._finish_stroke()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def tabletEvent(self, event: QTabletEvent) -> None:
        """Pen input: pressure sets the width, the pen's eraser end erases. Accepting the event keeps Qt
        from also sending the synthesised mouse events."""
        if self._shown_image is not None:
            event.ignore()
            return
        kind = event.type()
        pos = self.map_to_image(event.position())
        pressure = float(event.pressure())
        if kind == QEvent.Type.TabletRelease and self._stroke is not None:
            pressure = self._stroke.points[-1][2]  # a lifted pen reports 0: keep the last width
        elif pressure <= 0:
            pressure = 1.0  # devices without pressure
        if kind == QEvent.Type.TabletPress:
            erasing = event.pointerType() == QPointingDevice.PointerType.Eraser or self._eraser
            self._begin_stroke(pos, pressure, eraser=erasing)
        elif kind == QEvent.Type.TabletMove:
            self._set_hover(event.position())
            if self._stroke is not None:
                self._extend_stroke(pos, pressure)
        elif kind == QEvent.Type.TabletRelease:
            if self._stroke is not None:
                self._extend_stroke(pos, pressure)
                self._finish_stroke()
        event.accept()

    def leaveEvent(self, event: QEvent) -> None:
        self._set_hover(None)
        super().leaveEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.update()

    # -- painting ---------------------------------------------------------------------------------
    def _widget_rect(self, image_rect: QRectF) -> QRect:
        top_left = self.map_from_image(image_rect.topLeft())
        bottom_right = self.map_from_image(image_rect.bottomRight())
        return QRectF(top_left, bottom_right).toAlignedRect().adjusted(-2, -2, 2, 2)

    def _brush_outline_rect(self, pos: QPointF) -> QRect:
        radius = self._brush / 2 * self.paper_rect().width() / self._size + 2
        return QRectF(pos.x() - radius, pos.y() - radius, 2 * radius, 2 * radius).toAlignedRect().adjusted(-2, -2, 2, 2)

    def _set_hover(self, pos: QPointF | None) -> None:
        if self._hover is not None:
            self.update(self._brush_outline_rect(self._hover))
        self._hover = None if pos is None else QPointF(pos)
        if self._hover is not None:
            self.update(self._brush_outline_rect(self._hover))

    def _update_hover(self) -> None:
        if self._hover is not None:
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = self.paper_rect()
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Window))
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        if self._shown_image is not None:  # the picture, letterboxed in the square, framed
            size = self._shown_image.size().scaled(rect.size().toSize(), Qt.AspectRatioMode.KeepAspectRatio)
            rect = QRectF(rect.x() + (rect.width() - size.width()) / 2,
                          rect.y() + (rect.height() - size.height()) / 2, size.width(), size.height())
            painter.drawImage(rect, self._shown_image)
        else:
            painter.drawImage(rect, self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid), 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect.adjusted(-0.5, -0.5, 0.5, 0.5))
        rect = self.paper_rect()
        if self.hint_visible():
            font = painter.font()
            font.setPointSizeF(max(11.0, rect.width() / 28))
            painter.setFont(font)
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self._hint)
        if self._hover is not None and self._shown_image is None and rect.contains(self._hover):
            radius = self._brush / 2 * rect.width() / self._size
            painter.setPen(QPen(QColor(128, 128, 128, 200), 1, Qt.PenStyle.DashLine if self._eraser
                                else Qt.PenStyle.SolidLine))
            painter.drawEllipse(self._hover, radius, radius)
        painter.end()
