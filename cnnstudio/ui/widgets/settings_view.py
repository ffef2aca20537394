"""Runs compared by their settings: a sweep's trials (or any selected runs) as a table sorted by best
validation accuracy, one scatter plot per setting (the setting against best validation accuracy, the
best run ringed), and which settings mattered most. A plain view over core/sweep/compare.py's
ComparedSettings; "Use best" says which run the user chose, the page acts on it.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from cnnstudio.core.sweep.compare import ComparedSettings

MAX_TICKS = 8
MAX_PLOTS = 4  # the settings that mattered most; more plots than this would be too small to read
POINT = "#1f77b4"
BEST = "#d62728"
STOPPED = "#8c8c8c"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


class _NumberItem(QTableWidgetItem):
    """Sorts by the number it holds (a run without one sorts last), not by its text."""

    def __init__(self, text: str, number: float | None):
        super().__init__(text)
        self.number = -math.inf if number is None else number

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, _NumberItem):
            return self.number < other.number
        return super().__lt__(other)


class SettingsView(QWidget):
    useBest = Signal(str)  # the best run's folder

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._compared: ComparedSettings | None = None
        self._plot_count = 0
        self._text = QColor("black")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.use_best = QPushButton("Use best")
        self.use_best.setToolTip("Put the best run's model in use and its settings in the Train page's form")
        self.use_best.clicked.connect(self._use_best)
        top = QHBoxLayout()
        top.addWidget(self.summary, 1)
        top.addWidget(self.use_best)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setMinimumHeight(160)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plots)
        split.addWidget(self.table)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        self.show_compared(None)

    @property
    def compared(self) -> ComparedSettings | None:
        return self._compared

    def plotted_settings(self) -> list[str]:
        """The settings drawn, in order (the most important first)."""
        return [str(self.plots.getItem(0, i).titleLabel.text) for i in range(self._plot_count)]

    def show_compared(self, compared: ComparedSettings | None) -> None:
        self._compared = compared
        self.plots.clear()
        self._plot_count = 0  # plotted_settings() reads the titles of this many plots
        self.table.clear()
        self.table.setRowCount(0)
        self.use_best.setEnabled(compared is not None and compared.best is not None)
        if compared is None:
            self.summary.setText("Select a sweep's trials, or several runs, to compare them by their settings.")
            self.table.setColumnCount(0)
            return
        self._fill_summary(compared)
        self._fill_table(compared)
        self._fill_plots(compared)

    def _fill_summary(self, c: ComparedSettings) -> None:
        parts = []
        if c.best is not None:
            best = ", ".join(f"{t} {c.value_text(k, v)}" for k, t, v in zip(c.settings, c.titles, c.best.values))
            parts.append(f"Best: {c.best.name} ({best or 'the same settings'}): validation "
                         f"{_pct(c.best.best_val_accuracy)} %, test {_pct(c.best.test_accuracy)} %.")
        if c.importances:
            titles = dict(zip(c.settings, c.titles))
            parts.append("What mattered: " + ", ".join(f"{titles[k]} {100 * share:.0f} %"
                                                      for k, share in c.importances) + ".")
        stopped = sum(not row.ended for row in c.rows)
        if stopped:
            parts.append(f"{stopped} stopped before their end (hollow points): not counted for the best.")
        if c.note:
            parts.append(c.note)
        self.summary.setText(" ".join(parts))

    def _fill_table(self, c: ComparedSettings) -> None:
        headers = ["Run", *c.titles, "Val. %", "Test %", "Status"]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(c.rows))
        self.table.setSortingEnabled(False)
        for r, row in enumerate(c.rows):
            self.table.setItem(r, 0, QTableWidgetItem(row.name))
            for i, (key, value) in enumerate(zip(c.settings, row.values)):
                number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
                item = _NumberItem(c.value_text(key, value), number) if number is not None else \
                    QTableWidgetItem(c.value_text(key, value))
                self.table.setItem(r, 1 + i, item)
            col = 1 + len(c.settings)
            self.table.setItem(r, col, _NumberItem(_pct(row.best_val_accuracy), row.best_val_accuracy))
            self.table.setItem(r, col + 1, _NumberItem(_pct(row.test_accuracy), row.test_accuracy))
            self.table.setItem(r, col + 2, QTableWidgetItem(row.status))
        self.table.setSortingEnabled(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)

    def _fill_plots(self, c: ComparedSettings) -> None:
        pal = self.palette()
        self.plots.setBackground(pal.base().color())  # the palette's colours, as the training charts
        self._text = pal.text().color()
        order = [k for k, _ in c.importances] or list(c.settings)
        scored = [row for row in c.rows if row.best_val_accuracy is not None]
        ended = np.array([row.ended for row in scored], dtype=bool)
        for col, key in enumerate(order[:MAX_PLOTS]):
            i = c.settings.index(key)
            title = c.titles[i]
            plot = self.plots.addPlot(row=0, col=col, title=title)
            if col == 0:
                plot.setLabel("left", "best val. %")
            plot.showGrid(x=True, y=True, alpha=0.2)
            if c.numeric(key):
                xs = np.array([float(row.values[i]) for row in scored])
                log = c.log_scale(key)
                if log:
                    plot.setLogMode(x=True, y=False)
                values = sorted({float(row.values[i]) for row in c.rows})
                if len(values) <= MAX_TICKS:  # the values tried, and nothing else, on the axis
                    plot.getAxis("bottom").setTicks([[(math.log10(v) if log else v, f"{v:g}") for v in values]])
            else:  # categories at 0, 1, 2... with their names as ticks
                names = sorted({c.value_text(key, row.values[i]) for row in c.rows})
                xs = np.array([names.index(c.value_text(key, row.values[i])) for row in scored], dtype=float)
                plot.getAxis("bottom").setTicks([list(enumerate(names))])
            ys = np.array([100 * float(row.best_val_accuracy or 0.0) for row in scored])
            # PlotDataItems, not ScatterPlotItems: they follow the log x axis. Runs stopped early (a sweep's
            # pruned trials) as hollow grey points: their accuracy is where they were stopped.
            plot.plot(xs[ended], ys[ended], pen=None, symbol="o", symbolSize=8, symbolBrush=pg.mkBrush(POINT),
                      symbolPen=None)
            if (~ended).any():
                plot.plot(xs[~ended], ys[~ended], pen=None, symbol="o", symbolSize=7, symbolBrush=None,
                          symbolPen=pg.mkPen(QColor(STOPPED), width=1.5))
            if scored and scored[0] is c.best:
                plot.plot(xs[:1], ys[:1], pen=None, symbol="o", symbolSize=15, symbolBrush=None,
                          symbolPen=pg.mkPen(QColor(BEST), width=2))
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setPen(self._text)
                plot.getAxis(axis).setTextPen(self._text)
            self._plot_count += 1

    def _use_best(self) -> None:
        if self._compared is not None and self._compared.best is not None:
            self.useBest.emit(self._compared.best.path)
