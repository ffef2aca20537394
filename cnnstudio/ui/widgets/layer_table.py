"""The Model page's layer table: every layer's output shape, parameter count and size arithmetic, the
impossible layer tinted and explained, the layers after it greyed ("not computed")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QBrush, QColor, QPalette
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyle, QTableWidget, QTableWidgetItem

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.models import ShapeReport, format_shape
from cnnstudio.core.models.layer_types import layer_label, normalize_layer
from cnnstudio.core.models.spec import failed_arithmetic

if TYPE_CHECKING:
    from cnnstudio.core.models.spec import LayerDict

COLUMNS = ["#", "Layer", "Output shape", "Parameters", "How the output size is computed"]
COL_INDEX, COL_LABEL, COL_OUT, COL_PARAMS, COL_ARITH = range(len(COLUMNS))
ERROR_TINT = QColor(220, 50, 47, 70)  # translucent: readable over light and dark rows alike


class LayerTable(QTableWidget):
    def __init__(self) -> None:
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        head = self.horizontalHeader()
        for col in (COL_INDEX, COL_LABEL, COL_OUT, COL_PARAMS):
            head.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(COL_ARITH, QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)

    def show_layers(self, layers: list[LayerDict], report: ShapeReport, num_classes: int) -> None:
        infos = {info.index: info for info in report.layers}
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText)
        warn_icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        with QSignalBlocker(self):
            self.setRowCount(len(layers))
            for row, layer in enumerate(layers):
                info = infos.get(row)
                if info is not None:
                    cells = [str(row + 1), info.label, format_shape(info.out_shape), f"{info.params:,}",
                             info.arithmetic or ""]
                else:
                    try:
                        label = layer_label(normalize_layer(row, layer), num_classes)
                    except CNNStudioError:
                        label = str(layer.get("type", "?")) if isinstance(layer, dict) else "?"
                    cells = [str(row + 1), label, "?", "", ""]
                is_error = report.error_index == row and not report.ok
                if is_error and info is None:
                    cells[COL_OUT] = "does not fit"  # readable even when the row's tint is hidden by selection
                    cells[COL_ARITH] = failed_arithmetic(layers, report) or ""
                for col, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    if col in (COL_INDEX, COL_PARAMS):
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    if is_error:
                        item.setBackground(QBrush(ERROR_TINT))
                        item.setToolTip(report.error or "")
                    elif info is None:
                        item.setForeground(QBrush(muted))
                        item.setToolTip("Not computed: a layer above has a problem.")
                    if is_error and col == COL_INDEX:
                        item.setIcon(warn_icon)
                    self.setItem(row, col, item)
