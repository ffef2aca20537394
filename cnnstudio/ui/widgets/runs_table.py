"""The table of saved runs on the Runs page: one row each, sortable, several selectable.

A plain view: it shows the RunSummary rows it is given, with the status the caller decided (a folder a
live training writes, in the app or in another process, reads "Training (epoch 2 of 5)"), and says which
run folders are selected. Each row keeps its
run folder's path (UserRole) and a sort key per column (UserRole + 1): numbers sort as numbers, dates
as dates.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from cnnstudio.core.run_compare import percent
from cnnstudio.core.runs import RunSummary

COLUMNS = ["Name", "Dataset", "Model", "Date", "Epochs", "Best val. acc.", "Test acc.", "Status"]
STATUS_TEXT = {"finished": "Finished", "early-stopped": "Stopped early", "stopped": "Stopped (can continue)",
               "failed": "Failed", "incomplete": "Incomplete", "damaged": "Damaged", "training": "Training…"}
PATH_ROLE = Qt.ItemDataRole.UserRole
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


def status_text(status: str, run: RunSummary | None = None) -> str:
    """The status in words; a training run says which epoch it is on when its folder tells."""
    if status == "training" and run is not None and run.epochs_planned:
        return f"Training (epoch {min(run.epochs_done + 1, run.epochs_planned)} of {run.epochs_planned})"
    if status == "stopped" and run is not None and run.trial_status == "pruned":
        return "Pruned by its sweep"  # stopped early by the search, on purpose: not a run to continue
    return STATUS_TEXT.get(status, status)


class _RunItem(QTreeWidgetItem):
    """A table row that sorts numbers as numbers and dates as dates."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        column = self.treeWidget().sortColumn() if self.treeWidget() else 0
        a = self.data(column, SORT_ROLE)
        b = other.data(column, SORT_ROLE)
        if a is not None and b is not None:
            try:
                return bool(a < b)
            except TypeError:
                pass
        return self.text(column).lower() < other.text(column).lower()


def _make_item(run: RunSummary, status: str) -> _RunItem:
    epochs = f"{run.epochs_done}/{run.epochs_planned}" if run.epochs_planned else str(run.epochs_done or "")
    values = [run.name, run.dataset or "", run.model or "", run.date_text, epochs,
              percent(run.best_val_accuracy), percent(run.test_accuracy), status_text(status, run)]
    sort_keys = [None, None, None, run.created, run.epochs_done, run.best_val_accuracy or -1.0,
                 run.test_accuracy or -1.0, None]
    item = _RunItem(values)
    item.setData(0, PATH_ROLE, run.path)
    if run.sweep:
        tried = ", ".join(f"{k}={v}" for k, v in (run.trial_settings or {}).items())
        item.setToolTip(0, f"A trial of the sweep {run.sweep}: {tried}")
    for c, key in enumerate(sort_keys):
        if key is not None:
            item.setData(c, SORT_ROLE, key)
    for c in (4, 5, 6):
        item.setTextAlignment(c, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    tip = run.path
    if run.problem:
        tip = f"Damaged: {run.problem}\n{run.path}"
        item.setForeground(7, QBrush(QColor("#c0392b")))
    elif status == "training" and run.holder is not None:
        tip = f"Being trained{run.holder.describe()}\n{run.path}"
    elif run.message:
        tip = f"{run.message}\n{run.path}"
    for c in range(len(values)):
        item.setToolTip(c, tip)
    return item


class RunsTable(QTreeWidget):
    """Public: show_runs(rows, select), selected_paths(), select_paths(paths). Newest first by default."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(COLUMNS)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSortingEnabled(True)
        self.sortByColumn(3, Qt.SortOrder.DescendingOrder)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, len(COLUMNS)):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)

    def show_runs(self, rows: Sequence[tuple[RunSummary, str]], select: Collection[str]) -> None:
        """Replace the rows by these (run, status) and select the run folders in `select`, without
        emitting itemSelectionChanged: the caller reacts once, after."""
        self.blockSignals(True)
        self.setSortingEnabled(False)
        self.clear()
        for run, status in rows:
            self.addTopLevelItem(_make_item(run, status))
        self.setSortingEnabled(True)
        self._select(select)
        self.blockSignals(False)

    def selected_paths(self) -> list[str]:
        return [str(item.data(0, PATH_ROLE)) for item in self.selectedItems()]

    def select_paths(self, run_paths: Collection[str]) -> None:
        """Select exactly these run folders, without emitting itemSelectionChanged."""
        self.blockSignals(True)
        self.clearSelection()
        self._select(run_paths)
        self.blockSignals(False)

    def _select(self, run_paths: Collection[str]) -> None:
        wanted = {str(p) for p in run_paths}
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if item is not None and item.data(0, PATH_ROLE) in wanted:
                item.setSelected(True)
