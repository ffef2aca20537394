"""A folder's load report on the Data page: a summary line, the notes, and the skipped files behind a toggle."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QToolButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

if TYPE_CHECKING:  # these import torch: only their types are needed here
    from cnnstudio.core.datasets.base import Dataset


class LoadReportView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report_label = QLabel()
        self.report_label.setWordWrap(True)
        self.report_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report_label.hide()
        self.skipped_toggle = QToolButton()
        self.skipped_toggle.setCheckable(True)
        self.skipped_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.skipped_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.skipped_toggle.setAutoRaise(True)
        self.skipped_toggle.toggled.connect(self._toggle_skipped)
        self.skipped_toggle.hide()
        self.skipped_list = QTreeWidget()
        self.skipped_list.setHeaderLabels(["Skipped file", "Why"])
        self.skipped_list.setRootIsDecorated(False)
        self.skipped_list.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.report_label)
        layout.addWidget(self.skipped_toggle)
        layout.addWidget(self.skipped_list)


    def show_report(self, ds: Dataset) -> None:
        """The dataset's load report (None for registered datasets: then nothing is shown)."""
        report = ds.report
        self.skipped_list.clear()
        self.skipped_toggle.setChecked(False)
        if report is None:
            for w in (self.report_label, self.skipped_toggle, self.skipped_list):
                w.hide()
            return
        lines = [f"<b>Load report:</b> {report.files_loaded:,} of {report.files_seen:,} image files loaded"
                 + (f", <b>{report.files_skipped:,} skipped</b>" if report.skipped else ", none skipped")]
        lines += [f"• {html.escape(n)}" for n in report.notes]
        self.report_label.setText("<br>".join(lines))
        self.report_label.show()
        if report.skipped:
            root = Path(ds.source) if ds.source else None
            for item in report.skipped:
                shown = item.path
                if root is not None:
                    try:
                        shown = str(Path(item.path).relative_to(root))
                    except ValueError:
                        pass
                row = QTreeWidgetItem([shown, item.reason])
                row.setToolTip(0, item.path)
                self.skipped_list.addTopLevelItem(row)
            self.skipped_list.resizeColumnToContents(0)
            # As tall as its rows (a few skipped files need no big empty box), at most ~6 rows.
            rows = self.skipped_list.sizeHintForRow(0) * min(report.files_skipped, 6)
            self.skipped_list.setFixedHeight(rows + self.skipped_list.header().sizeHint().height() + 6)
            self.skipped_toggle.setText(f"Show the {report.files_skipped} skipped file(s) and why")
            self.skipped_toggle.show()
        else:
            self.skipped_toggle.hide()
        self.skipped_list.hide()

    def _toggle_skipped(self, shown: bool) -> None:
        self.skipped_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.skipped_list.setVisible(shown)
