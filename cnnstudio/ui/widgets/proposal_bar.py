"""A question in a bar: "<why>  [Use X] [Keep Y]", hidden while there is nothing to ask.

Used for what the app proposes but must not do silently (e.g. another model for a new dataset): the
user answers with a button, or ignores it and goes on working.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class ProposalBar(QFrame):
    accepted = Signal()
    kept = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("proposal")
        self.setStyleSheet("QFrame#proposal { background: rgba(38, 139, 210, 0.14); border-left: 4px solid "
                           "rgb(38, 139, 210); border-radius: 3px; } "
                           "QFrame#proposal QLabel { color: palette(window-text); }")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.accept_button = QPushButton()
        self.keep_button = QPushButton()
        self.accept_button.clicked.connect(self._accept)
        self.keep_button.clicked.connect(self._keep)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 4, 4)
        row.addWidget(self.label, 1)
        row.addWidget(self.accept_button)
        row.addWidget(self.keep_button)
        self.hide()

    def ask(self, text: str, accept_text: str, keep_text: str) -> None:
        self.label.setText(text)
        self.accept_button.setText(accept_text)
        self.keep_button.setText(keep_text)
        self.show()

    def text(self) -> str:
        return "" if self.isHidden() else self.label.text()

    def clear(self) -> None:
        self.label.setText("")
        self.hide()

    def _accept(self) -> None:
        self.clear()
        self.accepted.emit()

    def _keep(self) -> None:
        self.clear()
        self.kept.emit()
