"""The deployment report of an export, in the Export dialog: one line on the model's cost, and a table
with a row per format (size, latency for one image and for a batch of 32, test accuracy, agreement with
PyTorch), as core/export/report.py measured them and as the model card beside the export lists them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

if TYPE_CHECKING:  # core/export imports numpy only, but keep the dialog's import light
    from cnnstudio.core.export.report import DeploymentReport

HEADERS = ("Format", "File", "Size", "1 image (ms)", "Batch of 32 (ms)", "Test accuracy", "Agrees with PyTorch")


class DeploymentReportView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.PlainText)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.note.setStyleSheet("color: palette(placeholder-text);")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        layout.addWidget(self.note)

    def show_report(self, report: DeploymentReport) -> None:
        from cnnstudio.core.export.report import size_text

        self.summary.setText(f"{report.model}: {report.parameters:,} parameters, {report.macs:,} multiply-accumulates "
                             f"per image. Measured on {report.images:,} {report.image_source}.")
        self.table.setRowCount(len(report.formats))
        for i, row in enumerate(report.formats):
            cells = (row.title, row.file or ("(checkpoint)" if row.format == "pytorch" else "(not written)"),
                     size_text(row.bytes), f"{row.single.p50_ms:.2f} / {row.single.p90_ms:.2f}",
                     f"{row.batch.p50_ms:.2f} / {row.batch.p90_ms:.2f}",
                     "-" if row.accuracy is None else f"{row.accuracy:.2%}", f"{row.agreement:.2%}")
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setToolTip(row.runtime + (f"; {row.note}" if row.note else ""))
                self.table.setItem(i, j, item)
        header = self.table.horizontalHeader().height()
        rows = sum(self.table.rowHeight(i) for i in range(self.table.rowCount()))
        self.table.setFixedHeight(header + rows + 2 * self.table.frameWidth() + 2)
        self.note.setText(f"Latency: median / 90th percentile on {report.machine}. " + " ".join(
            f"{r.title}: {r.note}." for r in report.formats if r.note))
