"""Secondary ("muted") text: the palette's text colour blended towards the window colour, so it reads
as secondary in light and dark themes alike. Pages call paint_muted() again when the palette changes."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget


def muted_color(widget: QWidget, text_weight: float = 0.62) -> QColor:
    """The widget's text colour, text_weight of it, the rest its window colour."""
    pal = widget.palette()
    text, window = pal.color(QPalette.ColorRole.WindowText), pal.color(QPalette.ColorRole.Window)
    return QColor.fromRgbF(*(text_weight * a + (1 - text_weight) * b
                             for a, b in zip(rgb_f(text), rgb_f(window))))


def rgb_f(color: QColor) -> tuple[float, float, float]:
    """Red, green and blue in 0..1 (getRgbF() without alpha, typed)."""
    return color.redF(), color.greenF(), color.blueF()


def paint_muted(labels: Iterable[QWidget], color: QColor) -> None:
    """Give each label `color` as its text colour (its own palette: the rest follows the theme)."""
    for label in labels:
        pal = label.palette()
        pal.setColor(QPalette.ColorRole.WindowText, color)
        label.setPalette(pal)
