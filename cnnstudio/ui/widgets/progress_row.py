"""One activity in a row: "Loading Shapes… [=====   ] [Cancel]", hidden while idle."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget


class ProgressRow(QWidget):
    """"Loading Shapes… [=====   ] [Cancel]": one activity, hidden while idle."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)  # long titles wrap instead of widening the whole column
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.bar = QProgressBar()
        self.bar.setFixedWidth(130)
        self.bar.setTextVisible(True)
        self.cancel = QPushButton("Cancel")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(self.bar)
        row.addWidget(self.cancel)
        self.hide()

    def start(self, text: str, busy: bool) -> None:
        self.label.setText(text)
        self.bar.setRange(0, 0 if busy else 100)  # (0, 0) = an indeterminate "busy" bar
        self.bar.setValue(0)
        self.cancel.setEnabled(True)
        self.show()
