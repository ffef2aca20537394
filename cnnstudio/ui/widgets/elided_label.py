"""A one-line label that shortens its text with "…" to the room it has, instead of cutting it off.

A plain QLabel with an Ignored width (so a long run name cannot widen the page) clips its text at the
window's edge mid-word ("20261201-14283"); this one ends it with "…" (or elides the middle, given
ElideMiddle). text() stays whole; shown_text() is what is drawn.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    def __init__(self, mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight, parent: QWidget | None = None):
        super().__init__(parent)
        self._mode = mode
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def shown_text(self) -> str:
        """The text as drawn: whole, or shortened with "…" to the label's width."""
        return self.fontMetrics().elidedText(self.text(), self._mode, max(0, self.contentsRect().width()))

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        # Through the style, so the colour a style sheet gives the label (muted text) is kept.
        self.style().drawItemText(painter, self.contentsRect(), int(self.alignment() | Qt.AlignmentFlag.AlignVCenter),
                                  self.palette(), self.isEnabled(), self.shown_text(), self.foregroundRole())
        painter.end()
