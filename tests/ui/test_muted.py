"""Secondary text colour: between the text and the window colour, in light and dark palettes."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("text, window", [("#000000", "#ffffff"), ("#f0f0f0", "#202020")])
def test_muted_color_lies_between_text_and_window(qtbot, text, window):
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QLabel, QWidget

    from cnnstudio.ui.widgets.muted import muted_color, paint_muted

    page = QWidget()
    qtbot.addWidget(page)
    pal = page.palette()
    pal.setColor(QPalette.ColorRole.WindowText, QColor(text))
    pal.setColor(QPalette.ColorRole.Window, QColor(window))
    page.setPalette(pal)

    t, w = QColor(text).redF(), QColor(window).redF()
    default, stronger = muted_color(page).redF(), muted_color(page, text_weight=0.9).redF()
    assert default == pytest.approx(0.62 * t + 0.38 * w, abs=1e-3)
    assert abs(stronger - t) < abs(default - t)  # more text weight: closer to the text colour

    labels = [QLabel("a", page), QLabel("b", page)]
    paint_muted(labels, muted_color(page))
    assert {label.palette().color(QPalette.ColorRole.WindowText).name() for label in labels} == \
        {muted_color(page).name()}
