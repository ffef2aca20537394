"""Pieces of the Evaluate page: a metric card (a caption and a big number), the per-class table (cells
that sort by their number) and the thumbnail gallery."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QHeaderView, QLabel, QListView, QListWidget,
                               QTableWidget, QTableWidgetItem, QVBoxLayout)

from cnnstudio.ui.widgets.muted import muted_color, paint_muted


class NumberItem(QTableWidgetItem):
    """A table cell shown as text ("93.1 %") but sorted by its number."""

    def __init__(self, text: str, value: float):
        super().__init__(text)
        self.setData(Qt.ItemDataRole.UserRole, float(value))
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        a, b = self.data(Qt.ItemDataRole.UserRole), other.data(Qt.ItemDataRole.UserRole)
        if a is None or b is None:
            return super().__lt__(other)
        return float(a) < float(b)


class MetricCard(QFrame):
    """A caption and a big number."""

    def __init__(self, caption: str, tip: str = ""):
        super().__init__()
        self.setObjectName("metricCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 6, 14, 8)
        layout.setSpacing(0)
        self.caption = QLabel(caption)
        self.value = QLabel("–")
        font = self.value.font()
        font.setPointSizeF(max(font.pointSizeF(), 9.0) * 2.1)
        font.setWeight(QFont.Weight.DemiBold)
        self.value.setFont(font)
        self.detail = QLabel("")
        layout.addWidget(self.caption)
        layout.addWidget(self.value)
        layout.addWidget(self.detail)
        self.setToolTip(tip)
        self._apply_muted()

    def _apply_muted(self) -> None:
        paint_muted((self.caption, self.detail), muted_color(self))

    def set(self, value: str, detail: str = "") -> None:
        self.value.setText(value)
        self.detail.setText(detail)
        self.detail.setVisible(bool(detail))


CLASS_COLUMNS = ["Class", "Precision", "Recall", "F1", "Test images"]
_CLASS_TIPS = ["", "Of the images the model called this class, the share that really are",
               "Of the images of this class, the share the model recognised", "Harmonic mean of precision and recall",
               "How many test images have this class"]


def per_class_table() -> QTableWidget:
    """The per-class table, empty: sortable, read-only, whole rows selected, in the classes' own order."""
    table = QTableWidget(0, len(CLASS_COLUMNS))
    table.setHorizontalHeaderLabels(CLASS_COLUMNS)
    for col, tip in enumerate(_CLASS_TIPS):
        header = table.horizontalHeaderItem(col)
        if tip and header is not None:  # setHorizontalHeaderLabels made one per column
            header.setToolTip(tip)
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for col in range(1, len(CLASS_COLUMNS)):
        table.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
    table.setSortingEnabled(True)
    return table


def thumbnail_gallery() -> QListWidget:
    """An icon grid of test images that wraps to the width and never scrolls sideways."""
    gallery = QListWidget()
    gallery.setViewMode(QListView.ViewMode.IconMode)
    gallery.setMovement(QListView.Movement.Static)
    gallery.setResizeMode(QListView.ResizeMode.Adjust)
    gallery.setUniformItemSizes(True)
    gallery.setWrapping(True)
    gallery.setSpacing(2)
    gallery.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    gallery.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return gallery
