"""Inspect's "Compare methods" tab and the synthesised channel pictures, driven like a user would (pytest-qt,
offscreen): several methods side by side with their curves, Cancel, the sanity check, and the page answering
while a slow method runs. Waits are on signals and conditions, never on sleeps or timings."""

from __future__ import annotations

import threading

import numpy as np
import pytest

LOAD_MS = 120_000
STEP_MS = 60_000


@pytest.fixture
def page(qtbot, shapes_state, shapes_checkpoint):
    from cnnstudio.ui.pages.inspect_page import InspectPage

    page = InspectPage(shapes_state)
    qtbot.addWidget(page)
    page.resize(1024, 740)
    page.show()
    with qtbot.waitSignals([page.inspectionReady, page.filtersReady], timeout=LOAD_MS):
        page.set_checkpoint(shapes_checkpoint)
    qtbot.waitUntil(lambda: not page.busy(), timeout=STEP_MS)
    page.tabs.setCurrentWidget(page.content.compare)
    yield page
    page.shutdown()


def test_the_panel_lists_the_cores_methods():
    from cnnstudio.core.inspection import methods
    from cnnstudio.ui.widgets import compare_panel

    assert tuple(m for m, _ in compare_panel.METHODS) == methods.METHODS
    assert dict(compare_panel.METHODS) == methods.TITLES and compare_panel.SLOW == methods.SLOW


def test_every_method_side_by_side_with_its_cost_and_curves(qtbot, page):
    from cnnstudio.core.inspection.methods import METHODS

    panel = page.content.compare
    panel.set_chosen(METHODS)
    partial = []
    page.session.explain.compared.connect(lambda c: partial.append(c.done))
    assert panel.compare()
    qtbot.waitUntil(lambda: panel.comparison is not None and panel.comparison.done, timeout=STEP_MS)
    comparison = panel.comparison
    assert partial == [False] * len(METHODS) + [True]  # each shown as it finished, then all done
    assert [m.attribution.method for m in comparison.methods] == list(METHODS)
    assert all(m.attribution.class_index == comparison.class_index for m in comparison.methods)
    assert comparison.class_index == int(page.inspection.predicted)
    assert set(panel.tiles) == {"input", *METHODS}
    for method in METHODS:
        caption = panel.tiles[method].caption.text()
        assert " ms" in caption or " s" in caption
        assert "del." in caption and "ins." in caption
        assert panel.tiles[method].view.pixels().shape == (3, 28, 28)
    assert len(panel.deletion_plot.plotItem.listDataItems()) == len(METHODS)
    assert len(panel.insertion_plot.plotItem.listDataItems()) == len(METHODS)
    assert panel.progress.isHidden() and "most faithful" in panel.status.text()
    # A chosen class is explained by every method.
    page.select_cam_class(2)
    assert "changed" in panel.status.text()
    panel.set_chosen(["gradcam", "occlusion"])
    assert panel.compare()
    qtbot.waitUntil(lambda: panel.comparison.done and len(panel.comparison.methods) == 2, timeout=STEP_MS)
    assert panel.comparison.class_index == 2 and set(panel.tiles) == {"input", "gradcam", "occlusion"}


def test_the_page_answers_while_a_slow_method_runs_and_cancel_stops_it(qtbot, page, monkeypatch):
    """While a comparison is in flight (held back here until the test lets it go), the page still inspects a
    new test image and shows it; Cancel then stops the comparison at its next check."""
    from cnnstudio.ui.sessions import explain_session

    release = threading.Event()
    started = threading.Event()
    real = explain_session.compare_methods

    def held(predictor, classes, request, report, cancelled):
        started.set()
        release.wait(30)
        return real(predictor, classes, request, report, cancelled)

    monkeypatch.setattr(explain_session, "compare_methods", held)
    panel = page.content.compare
    panel.set_chosen(["occlusion", "scorecam", "integrated-gradients"])
    try:
        assert panel.compare()
        qtbot.waitUntil(started.is_set, timeout=STEP_MS)
        assert page.session.explain.busy and panel.busy
        before = page.inspection
        with qtbot.waitSignal(page.inspectionReady, timeout=STEP_MS):
            page.step_test_sample(1)  # answered while the comparison holds a worker thread
        assert page.inspection is not before and page.session.explain.busy
        with qtbot.waitSignal(page.session.explain.cancelled, timeout=STEP_MS):
            panel.progress.cancel.click()
            release.set()
    finally:
        release.set()
    assert not page.session.explain.busy and panel.progress.isHidden()
    assert "Cancelled" in panel.status.text() and panel.comparison is None


def test_randomising_the_weights_shows_each_methods_pictures_and_verdict(qtbot, page):
    panel = page.content.compare
    panel.set_chosen(["saliency", "gradcam"])
    with qtbot.waitSignal(page.session.explain.sanityReady, timeout=STEP_MS):
        assert panel.randomise()
    shown = panel.sanity_shown
    assert [r.method for r in shown.results] == ["saliency", "gradcam"]
    for result in shown.results:
        assert 2 <= len(result.steps) <= 4 and result.steps[-1].down_to == "layer 1"
        assert all(-1 <= s.spearman <= 1 for s in result.steps)
    labels = [panel.sanity_grid.itemAt(i).widget() for i in range(panel.sanity_grid.count())]
    verdicts = [w.text() for w in labels if hasattr(w, "text") and ("ρ =" in w.text())]
    assert len(verdicts) == 2
    assert "Sanity check done" in panel.status.text()


def test_the_filters_tab_synthesises_a_picture_for_each_channel(qtbot, page):
    filters = page.filters
    page.tabs.setCurrentWidget(filters)
    with qtbot.waitSignal(page.filtersReady, timeout=STEP_MS) as ready:
        filters.set_mode("synthesised")
        assert filters.busy  # computed in the background, the busy row shown meanwhile
    result = ready.args[0]
    assert filters.kind == "synthesised" and result.key == filters.layer_combo.currentData()
    channels = result.pixels.shape[0]
    assert filters.tile_count == channels and filters.mosaic.dtype == np.uint8
    assert (result.activation > result.start_activation).mean() > 0.5
    assert "activation maximisation" in filters.help.text()
    layout = filters.layout_info
    assert filters.text_at(1, 1).startswith("Channel 0: mean response")
    assert layout.count == channels
