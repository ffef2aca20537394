"""Issue 31, item 4: the Train page says how long a run will take before Start."""

from __future__ import annotations

import pytest

from cnnstudio.core.models.presets import get_preset
from cnnstudio.core.training.estimate import RunSize, run_seconds
from cnnstudio.ui.compose import app_state


def test_the_train_page_estimates_the_run_before_start_and_not_while_training(qtbot, shapes_dataset):
    from cnnstudio.ui.pages.train_page import TrainPage

    state = app_state()
    state.set_dataset(shapes_dataset, "shapes")
    state.set_spec(get_preset("tiny-bn-cnn"), True)
    page = TrainPage(state)
    qtbot.addWidget(page)
    page.show()
    page.form.epochs_spin.setValue(1)
    page.form.limit_spin.setValue(300)
    with qtbot.waitSignal(page.estimates.estimated, timeout=120_000) as got:
        pass
    estimate = got.args[0]
    assert estimate.seconds > 0 and estimate.basis.startswith("measured")
    assert page.form.time_label.text().startswith("about ") and "measured" in page.form.time_label.text()
    page.form.epochs_spin.setValue(3)  # another run: estimated again
    assert page.form.time_label.text() == "estimating…"
    with qtbot.waitSignal(page.estimates.estimated, timeout=120_000) as again:
        pass
    three = again.args[0]  # three epochs of 270 training images, then the test set: from its measured rates
    size = RunSize.of(page.build_config(), shapes_dataset)
    assert size.epochs == 3 and three.seconds == pytest.approx(run_seconds(size, three.train_images_per_second,
                                                                           three.eval_images_per_second))
    with qtbot.waitSignal(page.session.ended, timeout=120_000):
        page.start_training({})
        qtbot.waitUntil(lambda: page.is_running(), timeout=10_000)
        assert page.form.time_label.text() == ""  # not while a run trains
    page.form.epochs_spin.setValue(2)  # now the run just trained is the better source
    with qtbot.waitSignal(page.estimates.estimated, timeout=120_000) as last:
        pass
    assert last.args[0].basis.startswith("the run ")
    page.shutdown()
