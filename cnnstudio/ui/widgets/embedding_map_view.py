"""The embedding map: every test picture as a point where the model's features put it (t-SNE), coloured by
its label, the model's prediction, or whether the prediction is right.

Hovering a point shows its picture, label and prediction beside the map; clicking it asks to open the
picture on the Inspect page (`inspectRequested`, the test index). The drawing on the Draw page is a star
(the live point). The view drives a session it is handed (the page builds it): what it needs of it is
`MapSessionLike`, so this module imports no session.

Hover is a nearest-point search in screen pixels over the points' coordinates with numpy (about 0.1 ms for
10,000 points), and the picture is redrawn only when the point under the mouse changes.
"""

from __future__ import annotations

import html
from typing import Protocol

import numpy as np
import pyqtgraph as pg
from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent
from PySide6.QtCore import QEvent, QPointF, Qt, Signal, SignalInstance
from PySide6.QtGui import QBrush, QColor, QPalette, QPixmap
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from cnnstudio.core.text import printable
from cnnstudio.ui.qimage import chw_to_hwc, crisp_qimage
from cnnstudio.ui.values import LivePoint, MapProgress, MapShown
from cnnstudio.ui.widgets.progress_row import ProgressRow

# Categorical colours (Tableau 10, then its light partners: tab20's order), readable on light and dark.
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
                "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5")
RIGHT, WRONG = "#6c9bc4", "#e4572e"
COLOR_MODES = ("label", "prediction", "correct")
MODE_NAMES = {"label": "Label", "prediction": "Prediction", "correct": "Right or wrong"}
POINT_SIZE = 5  # pixels
HOVER_RADIUS = 8  # pixels: how near the mouse a point must be to count as under it
THUMB = 112  # the hovered picture's side in the panel


class MapSessionLike(Protocol):
    progress: SignalInstance  # MapProgress
    ready: SignalInstance  # MapShown
    failed: SignalInstance
    cancelled: SignalInstance
    needsModel: SignalInstance
    livePoint: SignalInstance  # LivePoint
    shown: MapShown | None  # the map of the current model

    def set_active(self, active: bool) -> None: ...
    def compute(self) -> None: ...
    def cancel(self) -> None: ...


def class_color(k: int) -> QColor:
    if k < len(CLASS_COLORS):
        return QColor(CLASS_COLORS[k])
    return QColor.fromHsvF((k * 0.618034) % 1.0, 0.7, 0.85)  # golden-angle hues past twenty classes


class EmbeddingMapView(QWidget):
    inspectRequested = Signal(int)  # a test picture's index

    def __init__(self, session: MapSessionLike, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.shown: MapShown | None = None  # the map on screen
        self.mode = "label"
        self.hovered: int | None = None  # the map row under the mouse
        self._xy = np.zeros((0, 2))
        self._brushes: dict[str, list[QBrush]] = {}
        self._build()
        session.progress.connect(self._on_progress)
        session.ready.connect(self.show_map)
        session.failed.connect(lambda message: self._stopped(f"Could not compute the map: {message}"))
        session.cancelled.connect(lambda: self._stopped("Cancelled. Compute map starts again."))
        session.needsModel.connect(self._stopped)
        session.livePoint.connect(self.show_live_point)

    def _build(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Colour by"))
        self.color_combo = QComboBox()
        for mode in COLOR_MODES:
            self.color_combo.addItem(MODE_NAMES[mode], mode)
        self.color_combo.currentIndexChanged.connect(lambda i: self.set_color_mode(COLOR_MODES[i]))
        top.addWidget(self.color_combo)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top.addWidget(self.info, 1)
        self.compute_button = QPushButton("Compute map")
        self.compute_button.setToolTip("Lay out the test pictures by the model's features (PCA, then t-SNE); "
                                       "a map computed before comes from the cache")
        self.compute_button.clicked.connect(self.session.compute)
        top.addWidget(self.compute_button)
        self.progress_row = ProgressRow()
        self.progress_row.cancel.clicked.connect(self.session.cancel)

        self.plot = pg.PlotWidget()
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setAspectLocked(True)
        self.plot.setMenuEnabled(False)
        self.plot.setMinimumSize(320, 240)
        self.scatter = pg.ScatterPlotItem(size=POINT_SIZE, pen=None, pxMode=True)
        self.ring = pg.ScatterPlotItem(size=POINT_SIZE + 9, pen=pg.mkPen("k", width=2), brush=None, pxMode=True)
        self.live = pg.ScatterPlotItem(size=22, symbol="star", pen=pg.mkPen("k", width=1.5),
                                       brush=pg.mkBrush("#ffd400"))
        for item in (self.scatter, self.ring, self.live):
            self.plot.addItem(item)
        self.ring.setZValue(5)
        self.live.setZValue(6)
        self._apply_palette()
        self.plot.scene().sigMouseMoved.connect(self.on_mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_clicked)

        side = QVBoxLayout()
        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hover_text = QLabel("Hover a point to see its picture; click it to open it on the Inspect page.")
        self.hover_text.setWordWrap(True)
        self.hover_text.setTextFormat(Qt.TextFormat.PlainText)
        self.legend = QLabel()
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.legend.setWordWrap(True)
        for widget in (self.thumb, self.hover_text, self.legend):
            side.addWidget(widget)
        side.addStretch(1)
        panel = QWidget()
        panel.setLayout(side)
        panel.setFixedWidth(190)
        row = QHBoxLayout()
        row.addWidget(self.plot, 1)
        row.addWidget(panel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.progress_row)
        layout.addLayout(row, 1)

    def _apply_palette(self) -> None:
        """The map on the palette's base colour, the hover ring in its text colour (as the app's charts)."""
        palette = self.palette()
        self.plot.setBackground(palette.color(QPalette.ColorRole.Base))
        self.ring.setPen(pg.mkPen(palette.color(QPalette.ColorRole.Text), width=2))

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "ring"):
            self._apply_palette()
        super().changeEvent(event)

    # -- the session's news ------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.session.set_active(True)

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.session.set_active(False)

    def _on_progress(self, progress: MapProgress) -> None:
        self.compute_button.setEnabled(False)
        self.progress_row.label.setText(f"Computing the map: {progress.what}")
        self.progress_row.bar.setRange(0, 100)
        self.progress_row.bar.setValue(int(round(progress.fraction * 100)))
        self.progress_row.show()

    def _stopped(self, text: str) -> None:
        self.progress_row.hide()
        self.compute_button.setEnabled(True)
        if text:
            self.info.setText(text)
        if self.shown is not None and not self.session_has_map():
            self.clear()

    def session_has_map(self) -> bool:
        return self.session.shown is not None

    def clear(self) -> None:
        self.shown, self.hovered, self._xy, self._brushes = None, None, np.zeros((0, 2)), {}
        for item in (self.scatter, self.ring, self.live):
            item.clear()
        self.thumb.clear()
        self.legend.clear()

    # -- the map -----------------------------------------------------------------------------------
    def show_map(self, shown: MapShown) -> None:
        """Draw a MapShown: its points, coloured by the chosen mode, and the legend."""
        emap = shown.emap
        self.progress_row.hide()
        self.compute_button.setEnabled(True)
        self.shown, self.hovered = shown, None
        self._xy = emap.xy.astype(np.float64)
        self._brushes = {}
        cached = " (from the cache)" if emap.from_cache else f" in {emap.timings.total:.0f} s"
        right = float(emap.correct.mean()) if len(emap) else 0.0
        self.info.setText(f"{shown.title}: {emap.sample}, mapped by PCA and t-SNE{cached}. "
                          f"{right:.1%} predicted right.")
        self.scatter.setData(x=self._xy[:, 0], y=self._xy[:, 1], data=np.arange(len(emap)),
                             brush=self._mode_brushes(self.mode))
        self.ring.clear()
        self._fill_legend()
        self.plot.autoRange()

    def set_color_mode(self, mode: str) -> None:
        """"label", "prediction" or "correct"."""
        if mode not in COLOR_MODES:
            raise ValueError(f"unknown colour mode {mode!r}")
        self.mode = mode
        if self.color_combo.currentIndex() != COLOR_MODES.index(mode):
            self.color_combo.setCurrentIndex(COLOR_MODES.index(mode))
        if self.shown is not None:
            self.scatter.setBrush(self._mode_brushes(mode))
            self._fill_legend()

    def _on_screen(self) -> MapShown:
        """The map shown (the legend, the brushes and the hover text are asked for only while there is one)."""
        assert self.shown is not None, "asked for the map's details with no map on screen"
        return self.shown

    def _mode_brushes(self, mode: str) -> list[QBrush]:
        """One brush per point (the same QBrush objects per colour: pyqtgraph draws each colour once)."""
        if mode not in self._brushes:
            emap = self._on_screen().emap
            if mode == "correct":
                palette = [self._brush(RIGHT), self._brush(WRONG)]
                keys = (~emap.correct).astype(np.int64)
            else:
                palette = [self._brush(class_color(k).name()) for k in range(len(emap.classes))]
                keys = emap.labels if mode == "label" else emap.predictions
            self._brushes[mode] = [palette[k] for k in keys.tolist()]
        return self._brushes[mode]

    @staticmethod
    def _brush(color: str) -> QBrush:
        c = QColor(color)
        c.setAlpha(200)
        return QBrush(c)

    def _fill_legend(self) -> None:
        emap = self._on_screen().emap
        if self.mode == "correct":
            wrong = int((~emap.correct).sum())
            rows = [(RIGHT, f"right ({len(emap) - wrong:,})"), (WRONG, f"wrong ({wrong:,})")]
        else:
            keys = emap.labels if self.mode == "label" else emap.predictions
            counts = np.bincount(keys, minlength=len(emap.classes))
            rows = [(class_color(k).name(), f"{printable(name)} ({counts[k]:,})")
                    for k, name in enumerate(emap.classes)]
        title = {"label": "Given label", "prediction": "Predicted class", "correct": "Prediction"}[self.mode]
        self.legend.setText(f"<b>{title}</b><br>" + "<br>".join(
            f'<span style="color:{color}">&#9632;</span> {html.escape(text)}' for color, text in rows))

    def point_brushes(self) -> list[QBrush]:
        """Each point's brush as drawn now (tests)."""
        return list(self.scatter.data["brush"])

    # -- hover and click ---------------------------------------------------------------------------
    def point_at(self, scene_pos: QPointF) -> int | None:
        """The map row nearest to a scene position within HOVER_RADIUS pixels, or None."""
        if not len(self._xy):
            return None
        vb = self.plot.getViewBox()
        view = vb.mapSceneToView(scene_pos)
        px, py = vb.viewPixelSize()
        if not (px > 0 and py > 0):
            return None
        dx = (self._xy[:, 0] - view.x()) / px
        dy = (self._xy[:, 1] - view.y()) / py
        d2 = dx * dx + dy * dy
        i = int(np.argmin(d2))
        return i if d2[i] <= HOVER_RADIUS * HOVER_RADIUS else None

    def on_mouse_moved(self, scene_pos: QPointF) -> None:
        self.set_hovered(self.point_at(scene_pos))

    def set_hovered(self, row: int | None) -> None:
        """Show map row `row`'s picture, label and prediction (None: nothing under the mouse)."""
        if row == self.hovered:
            return
        self.hovered = row
        if row is None or self.shown is None:
            self.ring.clear()
            return
        emap = self._on_screen().emap
        self.ring.setData(x=[self._xy[row, 0]], y=[self._xy[row, 1]])
        index = int(emap.indices[row])
        pixels = np.asarray(self.shown.images[index])
        self.thumb.setPixmap(QPixmap.fromImage(crisp_qimage(chw_to_hwc(pixels), THUMB)).scaled(
            THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio))
        self.hover_text.setText(self.hover_description(row))

    def hover_description(self, row: int) -> str:
        emap = self._on_screen().emap
        given, predicted = emap.classes[int(emap.labels[row])], emap.classes[int(emap.predictions[row])]
        verdict = "right" if given == predicted else "wrong"
        return (f"Test picture {int(emap.indices[row]):,}\nlabel: {printable(given)}\n"
                f"predicted: {printable(predicted)} ({verdict})\nClick to open it on the Inspect page.")

    def _on_clicked(self, event: MouseClickEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        row = self.point_at(event.scenePos())
        if row is not None:
            self.open_row(row)

    def open_row(self, row: int) -> None:
        if self.shown is not None and self.shown.emap.split == "test":
            self.inspectRequested.emit(int(self.shown.emap.indices[row]))

    # -- the drawing ---------------------------------------------------------------------------------
    def show_live_point(self, point: LivePoint) -> None:
        """The Draw page's drawing as a star (a LivePoint; xy None hides it)."""
        if point.xy is None or self.shown is None:
            self.live.clear()
            self.live.setToolTip("")
            return
        self.live.setData(x=[point.xy[0]], y=[point.xy[1]])
        self.live.setToolTip(f"Your drawing: the model says {printable(point.predicted)}")
