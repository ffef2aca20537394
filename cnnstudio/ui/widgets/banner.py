"""Inline messages (a tinted, word-wrapped banner) and non-blocking error dialogs.

The banner's tint is a translucent red/blue over the palette's own background, with the palette's
text colour, so it reads in light and dark themes alike. Error dialogs are opened with open(), not
exec(): they never block the event loop (a running download keeps its progress bar moving) and
headless tests can inspect and close them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMessageBox, QSizePolicy, QToolButton, QWidget

_STYLES = {
    "error": "background: rgba(220, 50, 47, 0.16); border-left: 4px solid rgb(220, 50, 47);",
    "warning": "background: rgba(230, 160, 20, 0.18); border-left: 4px solid rgb(230, 160, 20);",
    "info": "background: rgba(38, 139, 210, 0.14); border-left: 4px solid rgb(38, 139, 210);",
    "ok": "background: rgba(60, 170, 80, 0.14); border-left: 4px solid rgb(60, 170, 80);",
}
_STYLES["success"] = _STYLES["ok"]


class Banner(QFrame):
    """A message line that is hidden when empty, with a × to dismiss it. kind: error, warning, info, ok
    (or success, the same).

    A message belongs to what caused it: show_message(..., about=key) tags it, and clear_about(key)
    (or clear_unless(key)) lets a page drop it when that state is gone, e.g. another dataset was chosen."""

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # paths can be copied
        self.close_button = QToolButton()
        self.close_button.setText("×")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss this message")
        self.close_button.clicked.connect(self._dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 2, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.kind = ""
        self.about: str | None = None
        self.hide()

    def text(self) -> str:
        return self.label.text()

    def show_message(self, text: str, kind: str = "info", about: str | None = None) -> None:
        self.kind = kind
        self.about = about
        self.setProperty("kind", kind)  # also for style sheets: QFrame[kind="error"]
        self.setStyleSheet(f"QFrame#banner {{ {_STYLES.get(kind, _STYLES['info'])} border-radius: 3px; }}"
                           "QFrame#banner QLabel { color: palette(window-text); }")
        self.label.setText(text)
        self.setVisible(bool(text))

    def clear_message(self) -> None:
        self.kind = ""
        self.about = None
        self.setProperty("kind", "")
        self.label.setText("")
        self.hide()

    def clear_unless(self, key: str | None) -> None:
        """Drop a message tagged about something else than `key` (untagged messages stay)."""
        if self.about is not None and self.about != key:
            self.clear_message()

    def _dismiss(self) -> None:
        self.clear_message()
        self.dismissed.emit()


def show_error_dialog(parent: QWidget, title: str, text: str, details: str = "") -> QMessageBox:
    """A warning box shown without blocking; `details` (a traceback for bugs) goes behind "Show Details"."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(title)
    box.setInformativeText(text)
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
