"""The embedding map in the app: its session without widgets (computed in the background, from the cache the
second time, cancelled, the drawing placed on it) and its view (points, colours, hover, click to Inspect),
and the Map tab on the Evaluate page."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import QObject, QPoint, Qt, Signal
from PySide6.QtTest import QTest

from cnnstudio.ui.sessions.map_session import LivePoint, MapSession, MapShown
from cnnstudio.ui.widgets.embedding_map_view import RIGHT, WRONG, EmbeddingMapView

N = 300


@pytest.fixture(scope="module")
def small_shapes(shapes_dataset):
    """Shapes with 300 test pictures: the test split the map lays out."""
    return replace(shapes_dataset, test_images=shapes_dataset.test_images[:N].clone(),
                   test_labels=shapes_dataset.test_labels[:N].clone())


@pytest.fixture
def map_state(small_shapes, shapes_checkpoint, qtbot):
    """An AppState with the small shapes set loaded and the tiny shapes model in use (loaded)."""
    from cnnstudio.ui.compose import app_state

    st = app_state()
    st.set_dataset(small_shapes, "shapes")
    with qtbot.waitSignal(st.model.loaded, timeout=60_000):
        st.set_checkpoint(str(shapes_checkpoint))
    return st


@pytest.fixture(scope="module")
def shown(small_shapes, shapes_checkpoint):
    """A MapShown of the small shapes set, computed by the core directly."""
    from cnnstudio.core.inference import Predictor
    from cnnstudio.core.inspection.embedding_map import compute_map

    predictor = Predictor(str(shapes_checkpoint))
    emap = compute_map(shapes_checkpoint, small_shapes, predictor=predictor, use_cache=False)
    return MapShown(emap, small_shapes.test_images, "tiny-bn-cnn on Shapes", predictor)


class FakeSession(QObject):
    """The session's signals with nothing behind them: the view alone."""

    progress, ready, failed, cancelled, needsModel, livePoint = (Signal(object), Signal(object), Signal(str),
                                                                 Signal(), Signal(str), Signal(object))

    def __init__(self) -> None:
        super().__init__()
        self.shown = None
        self.asked: list[str] = []

    def set_active(self, active: bool) -> None:
        self.asked.append(f"active {active}")

    def compute(self) -> None:
        self.asked.append("compute")

    def cancel(self) -> None:
        self.asked.append("cancel")


# -- the session ---------------------------------------------------------------------------------------------
def test_the_session_computes_the_map_of_the_test_set_then_reads_it_from_the_cache(map_state, qtbot):
    session = MapSession(map_state)
    progress: list[object] = []
    session.progress.connect(progress.append)
    with qtbot.waitSignal(session.ready, timeout=120_000) as ready:
        session.set_active(True)  # the view is shown: a map is computed at once
    first: MapShown = ready.args[0]
    assert len(first.emap) == N and first.emap.split == "test" and not first.emap.from_cache
    assert first.images is map_state.dataset.test_images
    assert progress and any("t-SNE" in p.what for p in progress)
    assert first.predictor is not map_state.model.context.predictor  # its own copy: the hooks stay private
    with qtbot.waitSignal(session.ready, timeout=60_000) as again:
        session.compute()
    assert again.args[0].emap.from_cache
    assert np.array_equal(again.args[0].emap.xy, first.emap.xy)
    session.shutdown()


def test_cancel_stops_the_session_and_leaves_no_map(map_state, qtbot):
    session = MapSession(map_state)
    ready: list[object] = []
    session.ready.connect(ready.append)
    with qtbot.waitSignal(session.cancelled, timeout=60_000):
        session.compute()
        session.cancel()
    assert session.shown is None and not ready
    qtbot.waitUntil(lambda: not session.busy, timeout=10_000)
    session.shutdown()


def test_the_drawing_is_a_live_point_on_the_map(map_state, small_shapes, qtbot):
    session = MapSession(map_state)
    drawing = small_shapes.test_images[7].numpy()
    session.on_drawing(drawing)  # drawn before the map exists: placed once it does
    with qtbot.waitSignals([session.ready, session.livePoint], timeout=120_000, order="strict"):
        session.compute()
    with qtbot.waitSignal(session.livePoint, timeout=30_000) as placed:
        session.on_drawing(drawing)
    point: LivePoint = placed.args[0]
    emap = session.shown.emap
    assert point.xy is not None and point.predicted == emap.classes[int(emap.predictions[7])]
    extent = float(np.ptp(emap.xy, axis=0).max())
    assert np.linalg.norm(np.array(point.xy) - emap.xy[7]) < 0.2 * extent
    with qtbot.waitSignal(session.livePoint, timeout=5_000) as cleared:
        session.on_drawing(None)
    assert cleared.args[0].xy is None
    session.shutdown()


def test_without_a_model_the_session_says_so(qtbot):
    from cnnstudio.ui.compose import app_state

    session = MapSession(app_state())
    with qtbot.waitSignal(session.needsModel, timeout=5_000) as why:
        session.compute()
    assert "No model" in why.args[0]


# -- the view ------------------------------------------------------------------------------------------------
@pytest.fixture
def view(qtbot, shown):
    fake = FakeSession()
    view = EmbeddingMapView(fake)
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    qtbot.waitExposed(view)
    fake.ready.emit(shown)
    return view


def test_the_view_shows_one_point_per_picture_and_a_legend(view, shown):
    assert len(view.scatter.data) == N
    assert np.allclose(view.scatter.data["x"], shown.emap.xy[:, 0]) and np.allclose(view.scatter.data["y"],
                                                                                    shown.emap.xy[:, 1])
    assert "all 300 test pictures" in view.info.text()
    for name in shown.emap.classes:
        assert name in view.legend.text()
    assert view.minimumSizeHint().width() <= 1024


def test_colour_modes_change_the_brushes(view, shown):
    emap = shown.emap

    def colours() -> list[str]:
        return [b.color().name() for b in view.point_brushes()]

    by_label = colours()
    assert len(set(by_label)) == len(np.unique(emap.labels))
    assert [by_label[i] == by_label[j] for i, j in [(0, 1), (2, 3)]] == [
        emap.labels[0] == emap.labels[1], emap.labels[2] == emap.labels[3]]
    view.color_combo.setCurrentIndex(2)  # Right or wrong
    assert view.mode == "correct"
    assert colours() == [RIGHT if ok else WRONG for ok in emap.correct]
    assert "wrong" in view.legend.text()
    view.set_color_mode("prediction")
    by_prediction = colours()
    same = emap.predictions[:, None] == emap.predictions[None, :]
    picked = np.array([by_prediction[i] for i in range(N)])
    assert np.array_equal(picked[:, None] == picked[None, :], same)
    assert by_prediction != by_label or np.array_equal(emap.predictions, emap.labels)


def _scene_pos(view, row):
    from PySide6.QtCore import QPointF

    vb = view.plot.getViewBox()
    return vb.mapViewToScene(QPointF(float(view._xy[row, 0]), float(view._xy[row, 1])))


def _lonely_row(view) -> int:
    """A point with no other point within two hover radii on screen (so the mouse lands on it alone)."""
    px, py = view.plot.getViewBox().viewPixelSize()
    pts = view._xy / np.array([px, py])
    d = np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return int(np.argmax(d.min(axis=1)))


def test_hovering_a_point_shows_its_picture_label_and_prediction(view, shown):
    emap = shown.emap
    row = _lonely_row(view)
    view.on_mouse_moved(_scene_pos(view, row))
    assert view.hovered == row
    text = view.hover_text.text()
    assert f"Test picture {int(emap.indices[row]):,}" in text
    assert f"label: {emap.classes[int(emap.labels[row])]}" in text
    assert f"predicted: {emap.classes[int(emap.predictions[row])]}" in text
    assert not view.thumb.pixmap().isNull()
    assert len(view.ring.data) == 1
    far = _scene_pos(view, row)
    far.setX(far.x() + 10_000)
    view.on_mouse_moved(far)
    assert view.hovered is None and len(view.ring.data) == 0


def test_clicking_a_point_asks_to_open_it_on_inspect(view, shown, qtbot):
    row = _lonely_row(view)
    where = view.plot.mapFromScene(_scene_pos(view, row))
    with qtbot.waitSignal(view.inspectRequested, timeout=2_000) as asked:
        QTest.mouseClick(view.plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         QPoint(where.x(), where.y()))
    assert asked.args == [int(shown.emap.indices[row])]


def test_the_live_point_is_a_star_on_the_map(view):
    view.session.livePoint.emit(LivePoint((1.0, 2.0), "circle"))
    assert len(view.live.data) == 1 and (view.live.data["x"][0], view.live.data["y"][0]) == (1.0, 2.0)
    view.session.livePoint.emit(LivePoint(None))
    assert len(view.live.data) == 0


def test_progress_and_cancel_reach_the_session(qtbot):
    from cnnstudio.ui.sessions.map_session import MapProgress

    fake = FakeSession()
    view = EmbeddingMapView(fake)
    qtbot.addWidget(view)
    view.show()
    assert fake.asked == ["active True"]
    fake.progress.emit(MapProgress(0.42, "laying out the map"))
    assert view.progress_row.isVisible() and view.progress_row.bar.value() == 42
    assert "laying out the map" in view.progress_row.label.text() and not view.compute_button.isEnabled()
    view.progress_row.cancel.click()
    fake.cancelled.emit()
    assert fake.asked[-1] == "cancel" and not view.progress_row.isVisible() and view.compute_button.isEnabled()
    view.compute_button.click()
    assert fake.asked[-1] == "compute"


# -- the Evaluate page ---------------------------------------------------------------------------------------
def test_the_evaluate_page_has_a_map_tab_that_opens_pictures_on_inspect(map_state, qtbot):
    from cnnstudio.ui.pages.evaluate_page import EvaluatePage

    page = EvaluatePage(map_state)
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    qtbot.waitUntil(lambda: page.evaluation is not None, timeout=60_000)
    assert [page.tabs.tabText(i) for i in range(page.tabs.count())] == ["Metrics", "Map"]
    with qtbot.waitSignal(page.session.map.ready, timeout=120_000):
        page.tabs.setCurrentIndex(1)  # shown: the map is computed
    assert len(page.map_view.scatter.data) == N
    with qtbot.waitSignal(page.inspectRequested, timeout=2_000) as asked:
        page.map_view.open_row(5)
    assert asked.args == [int(page.session.map.shown.emap.indices[5])]
    page.shutdown()


def test_the_main_window_hands_the_drawing_to_the_map(qtbot):
    """Draw's preparedInputChanged reaches the map's session (wired in MainWindow._connect_pages)."""
    from cnnstudio.ui.compose import app_state
    from cnnstudio.ui.main_window import MainWindow

    window = MainWindow(app_state())
    qtbot.addWidget(window)
    draw, evaluate = window.page("draw"), window.page("evaluate")
    pixels = np.arange(28 * 28, dtype=np.uint8).reshape(1, 28, 28)
    draw.preparedInputChanged.emit(pixels)
    assert np.array_equal(evaluate.session.map.drawing, pixels)
    draw.preparedInputChanged.emit(None)
    assert evaluate.session.map.drawing is None
    window.close()
