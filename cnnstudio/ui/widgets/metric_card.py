"""Small pieces of the Evaluate page: a metric card (a caption and a big number) and a table cell that
sorts by its number."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QFrame, QLabel, QTableWidgetItem, QVBoxLayout

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
