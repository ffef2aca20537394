"""Inline messages (a tinted, word-wrapped banner) and non-blocking error dialogs.

The banner's tint is a translucent red/blue over the palette's own background, with the palette's
text colour, so it reads in light and dark themes alike. Error dialogs are opened with open(), not
exec(): they never block the event loop (a running download keeps its progress bar moving) and
headless tests can inspect and close them.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QSizePolicy, QWidget

_STYLES = {
    "error": "background: rgba(220, 50, 47, 0.16); border-left: 4px solid rgb(220, 50, 47);",
    "warning": "background: rgba(230, 160, 20, 0.18); border-left: 4px solid rgb(230, 160, 20);",
    "info": "background: rgba(38, 139, 210, 0.14); border-left: 4px solid rgb(38, 139, 210);",
    "ok": "background: rgba(60, 170, 80, 0.14); border-left: 4px solid rgb(60, 170, 80);",
}
_STYLES["success"] = _STYLES["ok"]


class Banner(QLabel):
    """A message line that is hidden when empty. kind: error, warning, info, ok (or success, the same)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # paths can be copied
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.kind = ""
        self.hide()

    def show_message(self, text: str, kind: str = "info") -> None:
        self.kind = kind
        self.setProperty("kind", kind)  # also for style sheets: QLabel[kind="error"]
        self.setStyleSheet(f"QLabel {{ {_STYLES.get(kind, _STYLES['info'])} padding: 6px 8px; "
                           f"color: palette(window-text); border-radius: 3px; }}")
        self.setText(text)
        self.setVisible(bool(text))

    def clear_message(self) -> None:
        self.kind = ""
        self.setProperty("kind", "")
        self.setText("")
        self.hide()


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
