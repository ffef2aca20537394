"""The Train page's "Find learning rate…" dialog: the range test in the background, its curve on a log
axis with the suggestion marked, "Use this" filling the form, and Cancel."""

from __future__ import annotations

import math

import pytest

from cnnstudio.core.models.presets import get_preset
from cnnstudio.ui.compose import app_state

FIND_TIMEOUT_MS = 120_000  # tiny data: seconds, with room for a busy machine


@pytest.fixture
def page(qtbot, shapes_dataset):
    from cnnstudio.ui.pages.train_page import TrainPage

    state = app_state()
    state.set_dataset(shapes_dataset, "shapes")
    state.set_spec(get_preset("tiny-bn-cnn"), True)
    page = TrainPage(state)
    qtbot.addWidget(page)
    page.form.limit_spin.setValue(300)
    page.form.batch_spin.setValue(16)
    page.form.lr_spin.setValue(0.5)
    page.form.device_combo.setCurrentIndex(max(0, page.form.device_combo.findData("cpu")))
    yield page
    page.shutdown()


def test_use_this_fills_the_forms_learning_rate(qtbot, page):
    assert page.form.find_lr_button.text() == "Find learning rate…"
    with qtbot.waitSignal(page.form.find_lr_button.clicked, timeout=1000):
        page.form.find_lr_button.click()
    from cnnstudio.core.training.lr_find import LrFindResult
    from cnnstudio.ui.widgets.lr_find_dialog import LrFindDialog

    dialog = page.lr_find_dialog
    assert isinstance(dialog, LrFindDialog)
    qtbot.waitUntil(lambda: dialog.use_button.isEnabled(), timeout=FIND_TIMEOUT_MS)
    result = dialog.session.result
    assert isinstance(result, LrFindResult) and result.suggested_lr is not None
    # The curve is drawn on a log axis, the suggestion marked on it.
    assert dialog.plot.getPlotItem().ctrl.logXCheck.isChecked()
    xs, ys = dialog.curve.getData()
    assert len(xs) == len(result.lrs) >= 10
    assert dialog.marker.isVisible() and dialog.marker.value() == pytest.approx(math.log10(result.suggested_lr))
    expected = float(f"{result.suggested_lr:.2g}")
    assert page.form.lr_spin.value() == 0.5
    dialog.use_button.click()
    assert page.form.lr_spin.value() == pytest.approx(expected, rel=1e-6)
    assert page.build_config().lr == pytest.approx(expected, rel=1e-6)  # what a Start would use
    assert page.lr_find_dialog is None  # closed


def test_cancel_stops_the_finder_and_leaves_the_form(qtbot, page):
    dialog = page.find_learning_rate()
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.progress_bar.value() > 0, timeout=FIND_TIMEOUT_MS)
    with qtbot.waitSignal(dialog.session.cancelled, timeout=FIND_TIMEOUT_MS):
        dialog.cancel_button.click()
    assert "Cancelled" in dialog.status_label.text()
    assert not dialog.use_button.isEnabled() and dialog.session.result is None
    assert page.form.lr_spin.value() == 0.5
    dialog.close_button.click()
