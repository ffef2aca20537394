"""What a page shows before it has anything to show: one centred sentence, and a progress bar while busy.

One widget for every page (Evaluate, Inspect), so "nothing here yet" looks and reads the same everywhere.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget


class EmptyState(QWidget):
    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        self.label = QLabel(text)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        font = self.label.font()
        font.setPointSizeF(max(font.pointSizeF(), 9.0) * 1.25)
        self.label.setFont(font)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumWidth(360)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.hide()
        layout.addWidget(self.label)
        layout.addWidget(self.busy_bar, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)

    def show_text(self, text: str, busy: bool = False) -> None:
        """A sentence; with busy, an indeterminate bar under it until progress() gives numbers."""
        if busy and self.label.text() != text:
            self.busy_bar.setRange(0, 0)
        self.label.setText(text)
        self.busy_bar.setVisible(busy)

    def progress(self, done: int, total: int) -> None:
        self.busy_bar.setRange(0, max(1, total))
        self.busy_bar.setValue(done)
