"""Comparing many runs: the list of compared runs beside the charts, and the options above them.

An in-plot legend stops working at about eight runs (it covers the curves and cannot be searched), so
comparison follows TensorBoard and W&B: a list with each run's colour swatch and a checkbox to show or
hide its curves, a filter box, and the results to sort by; a bar above the charts sets the smoothing,
a log-scale loss axis and what the x axis shows. Both are plain views: they emit what the user chose
and the Runs page applies it to the charts.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QPushButton, QSlider, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from cnnstudio.core.text import plural
from cnnstudio.ui.widgets.charts import DEFAULT_SMOOTHING

NAME_ROLE = Qt.ItemDataRole.UserRole
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass
class ComparedRun:
    """A run in the list: `name` is its folder (the charts' key), `label` what is shown, `text` what the
    filter searches besides the label (model, dataset, settings)."""

    name: str
    label: str
    color: str
    test_accuracy: float | None = None
    best_val_accuracy: float | None = None
    text: str = ""


def _swatch(color: str) -> QIcon:
    pix = QPixmap(14, 14)
    pix.fill(QColor(color))
    return QIcon(pix)


def _number(value: float | None) -> str:
    """A percentage without its sign: the column title says "%" and the narrow panel needs the room."""
    return "" if value is None else f"{100 * value:.1f}"


class _Row(QTreeWidgetItem):
    """Sorts the result columns as numbers (a run without a result sorts last)."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        column = self.treeWidget().sortColumn() if self.treeWidget() else 0
        a, b = self.data(column, SORT_ROLE), other.data(column, SORT_ROLE)
        if a is not None and b is not None:
            return a < b
        return self.text(column).lower() < other.text(column).lower()


class RunList(QWidget):
    """The compared runs, one row each: checkbox (curves shown), swatch, label, test and best validation
    accuracy. `hiddenChanged` carries the names whose curves to hide: unchecked or filtered out."""

    hiddenChanged = Signal(object)  # set[str]

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._unchecked: set[str] = set()
        self._runs: list[ComparedRun] = []
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(4)
        top = QHBoxLayout()
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter runs: name, model, dataset, setting…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setToolTip("Only runs whose name or settings contain every word typed here are shown")
        self.filter_edit.textChanged.connect(self._apply_filter)
        top.addWidget(self.filter_edit, 1)
        self.all_button = QPushButton("All")
        self.all_button.setToolTip("Show the curves of every listed run")
        self.all_button.clicked.connect(lambda: self.set_all_checked(True))
        self.none_button = QPushButton("None")
        self.none_button.setToolTip("Hide the curves of every listed run")
        self.none_button.clicked.connect(lambda: self.set_all_checked(False))
        for b in (self.all_button, self.none_button):
            b.setMaximumWidth(56)
            top.addWidget(b)
        col.addLayout(top)

        self.tree = QTreeWidget()
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Run", "Test %", "Val. %"])
        self.tree.headerItem().setToolTip(1, "Test accuracy (%)")
        self.tree.headerItem().setToolTip(2, "Best validation accuracy (%)")
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.tree.setSortingEnabled(True)
        self.tree.setToolTip("Tick a run to show its curves; click a column title to sort")
        # Labels are "time model" and the default right elision keeps the time, which tells apart
        # runs of the same model (eliding the middle dropped the seconds).
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemChanged.connect(self._on_item_changed)
        col.addWidget(self.tree, 1)
        self.count_label = QLabel()
        self.count_label.setStyleSheet("color: palette(placeholder-text);")
        col.addWidget(self.count_label)

    # -- what the page calls ---------------------------------------------------------------------
    def set_runs(self, runs: list[ComparedRun]) -> None:
        """List these runs; a run unticked before stays unticked while it is listed."""
        self._runs = list(runs)
        names = {r.name for r in runs}
        self._unchecked &= names
        self.tree.blockSignals(True)
        self.tree.setSortingEnabled(False)
        self.tree.clear()
        for run in runs:
            row = _Row([run.label, _number(run.test_accuracy), _number(run.best_val_accuracy)])
            row.setData(0, NAME_ROLE, run.name)
            row.setIcon(0, _swatch(run.color))
            row.setFlags(row.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            row.setCheckState(0, Qt.CheckState.Unchecked if run.name in self._unchecked else Qt.CheckState.Checked)
            for c, value in ((1, run.test_accuracy), (2, run.best_val_accuracy)):
                row.setData(c, SORT_ROLE, -1.0 if value is None else float(value))
                row.setTextAlignment(c, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            row.setToolTip(0, f"{run.label}\n{run.name}")
            self.tree.addTopLevelItem(row)
        self.tree.setSortingEnabled(True)
        self.tree.blockSignals(False)
        self._apply_filter()

    def hidden(self) -> set[str]:
        """Names whose curves are hidden: unticked, or not matching the filter."""
        return set(self._unchecked) | {r.name for r in self._runs if not self._matches(r)}

    def filtered_out(self) -> set[str]:
        """Names the filter hides from the list (unticked runs stay listed): left out of the comparison."""
        return {r.name for r in self._runs if not self._matches(r)}

    def shown_count(self) -> int:
        return len(self._runs) - len(self.hidden())

    def set_checked(self, name: str, checked: bool) -> None:
        for row in self.rows():
            if row.data(0, NAME_ROLE) == name:
                row.setCheckState(0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def set_all_checked(self, checked: bool) -> None:
        """Tick or untick every run the filter lets through."""
        self.tree.blockSignals(True)
        for row in self.rows():
            if not row.isHidden():
                row.setCheckState(0, Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                self._note_check(row)
        self.tree.blockSignals(False)
        self._emit()

    def rows(self) -> list[QTreeWidgetItem]:
        """The list's rows, one per compared run, in the order shown."""
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [item for item in items if item is not None]  # every index below the count has one

    # -- internals ---------------------------------------------------------------------------------

    def _matches(self, run: ComparedRun) -> bool:
        words = self.filter_edit.text().lower().split()
        haystack = f"{run.label} {run.name} {run.text}".lower()
        return all(w in haystack for w in words)

    def _apply_filter(self) -> None:
        by_name = {r.name: r for r in self._runs}
        for row in self.rows():
            run = by_name.get(row.data(0, NAME_ROLE))
            row.setHidden(run is None or not self._matches(run))
        self._emit()

    def _note_check(self, row: QTreeWidgetItem) -> None:
        name = row.data(0, NAME_ROLE)
        if row.checkState(0) == Qt.CheckState.Checked:
            self._unchecked.discard(name)
        else:
            self._unchecked.add(name)

    def _on_item_changed(self, row: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            self._note_check(row)
            self._emit()

    def _emit(self) -> None:
        n, shown = len(self._runs), self.shown_count()
        if shown != n:
            self.count_label.setText(f"Curves of {shown} of {plural(n, 'run')} shown")
        else:
            self.count_label.setText(f"Curves of all {n} runs shown" if n > 1 else "Curves of the run shown")
        self.hiddenChanged.emit(self.hidden())


class ChartOptions(QWidget):
    """Smoothing, log-scale loss and the x axis, for the charts below it."""

    smoothingChanged = Signal(float)
    logLossChanged = Signal(bool)
    xAxisChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None, smoothing: float = DEFAULT_SMOOTHING):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Smoothing"))
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, 99)
        self.smoothing_slider.setValue(round(100 * smoothing))
        self.smoothing_slider.setMaximumWidth(140)
        self.smoothing_slider.setToolTip("Moving average of the training loss: 0 shows the raw values, 0.99 the "
                                         "trend over about a hundred logged steps")
        self.smoothing_value = QLabel(f"{smoothing:.2f}")
        self.smoothing_value.setMinimumWidth(self.smoothing_value.fontMetrics().horizontalAdvance("0.00") + 4)
        row.addWidget(self.smoothing_slider)
        row.addWidget(self.smoothing_value)
        # Re-smoothing 20 long runs takes a moment: applied once the slider rests, not at every pixel.
        self._smoothing_timer = QTimer(self)
        self._smoothing_timer.setSingleShot(True)
        self._smoothing_timer.setInterval(120)
        self._smoothing_timer.timeout.connect(lambda: self.smoothingChanged.emit(self.smoothing()))
        self.smoothing_slider.valueChanged.connect(self._on_slider)
        row.addSpacing(12)
        self.log_check = QCheckBox("Log-scale loss")
        self.log_check.setToolTip("Loss axes on a log scale: differences late in training become visible")
        self.log_check.toggled.connect(self.logLossChanged)
        row.addWidget(self.log_check)
        row.addSpacing(12)
        row.addWidget(QLabel("X axis"))
        self.x_combo = QComboBox()
        self.x_combo.addItem("Steps and epochs", "step")
        self.x_combo.addItem("Training time", "time")
        self.x_combo.setToolTip("Training time compares runs by how long they took, not by how many steps")
        self.x_combo.currentIndexChanged.connect(lambda _i: self.xAxisChanged.emit(self.x_combo.currentData()))
        row.addWidget(self.x_combo)
        row.addStretch(1)

    def smoothing(self) -> float:
        return self.smoothing_slider.value() / 100

    def _on_slider(self, value: int) -> None:
        self.smoothing_value.setText(f"{value / 100:.2f}")
        self._smoothing_timer.start()
