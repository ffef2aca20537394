"""A bar chart of images per class, with the class names on the x axis (pyqtgraph, palette colours).

One BarGraphItem is created once and updated with setOpts: the chart is redrawn when the dataset
changes, never rebuilt. Colours come from the widget palette so the chart follows a dark theme.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFontMetrics, QPalette
from PySide6.QtWidgets import QWidget

from cnnstudio.core.text import printable

MAX_LABEL_CHARS = 10  # longer class names are shortened on the axis; the tooltip has them in full
LABEL_GAP_PX = 6  # between neighbouring class names
EDGE_ROOM = 0.6  # the x range reaches this far (in classes) past the first and the last bar


class ClassCountChart(pg.PlotWidget):
    def __init__(self, parent: QWidget | None = None):
        self._ready = False  # the base constructor already sends palette events
        super().__init__(parent)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.getPlotItem().setLabel("left", "images")
        self.showGrid(x=False, y=True, alpha=0.25)
        self._bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.addItem(self._bars)
        self._counts = np.zeros(0, dtype=np.int64)
        self._names: list[str] = []
        self._labels: list[tuple[int, str]] = []
        self.setMinimumHeight(130)
        # The plot area, not the widget, decides how much room each name has; it is laid out after
        # the widget's own resize, so listen to it rather than to resizeEvent.
        self.getPlotItem().getViewBox().sigResized.connect(self._relabel)
        self._ready = True
        self._apply_palette()

    def _apply_palette(self) -> None:
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        self.setBackground(pal.color(QPalette.ColorRole.Base))
        for name in ("left", "bottom"):
            axis = self.getPlotItem().getAxis(name)
            axis.setPen(pg.mkPen(pal.color(QPalette.ColorRole.Mid)))
            axis.setTextPen(pg.mkPen(text))
        highlight = pal.color(QPalette.ColorRole.Highlight)
        self._bars.setOpts(brush=pg.mkBrush(highlight), pen=pg.mkPen(highlight.darker(130)))

    def changeEvent(self, event: QEvent) -> None:
        if self._ready and event.type() == QEvent.Type.PaletteChange:  # the user switched light/dark mode
            self._apply_palette()
        super().changeEvent(event)

    def set_counts(self, names: Sequence[str], counts: Sequence[int] | np.ndarray) -> None:
        self._names = [printable(n) for n in names]  # a name's newline or U+202E shown escaped
        self._counts = np.asarray(counts, dtype=np.int64)
        x = np.arange(len(self._counts))
        self._bars.setOpts(x=x, height=self._counts, width=0.7)
        self._relabel()
        top = int(self._counts.max()) if len(self._counts) else 1
        self.setXRange(-EDGE_ROOM, max(len(self._counts) - 1 + EDGE_ROOM, EDGE_ROOM), padding=0)
        self.setYRange(0, top * 1.08 + 1, padding=0)
        self.setToolTip("\n".join(f"{n}: {int(c):,}" for n, c in zip(self._names, self._counts)))

    def _relabel(self) -> None:
        """Every class named under its bar, shortened to the room a bar has (pyqtgraph drops labels that
        would overlap, so without this names vanished at some widths and touched at others). With more
        classes than fit even shortened, every k-th class is named."""
        if not self._names:
            self._labels = []
            self.getPlotItem().getAxis("bottom").setTicks([[]])
            return
        metrics = QFontMetrics(self.getPlotItem().getAxis("bottom").style.get("tickFont") or self.font())
        per_class = max(1.0, self.getPlotItem().getViewBox().width()) / len(self._names)
        # The fewest characters worth showing is "Ab…"; name every step-th class so each gets that much.
        step = 1
        while per_class * step - LABEL_GAP_PX < metrics.horizontalAdvance("Ab…") and step < len(self._names):
            step += 1
        room = max(0, int(per_class * step - LABEL_GAP_PX))
        # pyqtgraph also hides a name that would reach past the axis' ends: a name centred on bar i has
        # the distance to the nearer end on either side, the bars being EDGE_ROOM of a class from them.
        n = len(self._names)
        labels = []
        for i, name in enumerate(self._names):
            if i % step:
                continue
            to_end = int(2 * (min(i, n - 1 - i) + EDGE_ROOM) * per_class) - 2
            short = name if len(name) <= MAX_LABEL_CHARS else name[:MAX_LABEL_CHARS - 1] + "…"
            labels.append((i, metrics.elidedText(short, Qt.TextElideMode.ElideRight, max(0, min(room, to_end)))))
        self._labels = labels
        self.getPlotItem().getAxis("bottom").setTicks([labels])

    def tick_labels(self) -> list[tuple[int, str]]:
        """(class index, text) of the names the axis shows."""
        return list(self._labels)

    def counts(self) -> np.ndarray:
        """The plotted heights, per class (for tests)."""
        return self._counts.copy()
