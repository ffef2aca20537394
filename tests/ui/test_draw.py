"""The Draw page: strokes drawn with (synthetic) mouse events are classified through the core's one path.

A small shapes model is trained once for the module (fast-cnn, one one-cycle epoch, about 94 % test accuracy).
Figures are drawn on the canvas as mouse strokes, small in a corner and large in the middle, and must be
recognised, give the same answer as calling the core on the canvas image, and give nearly the same
prepared input (the core frames every drawing the same way).
"""

from __future__ import annotations

import gc
import math

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDropEvent, QGuiApplication, QImage, QPainter
from PySide6.QtTest import QTest

from cnnstudio.core.inference import Prediction
from cnnstudio.ui.compose import app_state
from cnnstudio.ui.pages.draw_page import NO_MODEL, DrawPage
from cnnstudio.ui.qimage import numpy_to_qimage, qimage_to_gray, qimage_to_numpy, qimage_to_rgb
from cnnstudio.ui.state import AppState
from cnnstudio.ui.tasks import wait_for_all
from cnnstudio.ui.widgets.canvas import DrawingCanvas

TIMEOUT = 30_000  # ms; generous: the test machine is shared


# -- fixtures -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shapes_checkpoint(tmp_path_factory) -> str:
    """A shapes model trained once for this module (about 94 % test accuracy). fast-cnn's BatchNorm takes a
    high one-cycle rate: one epoch gets there, where cnn3-dropout needed three (and three times the time)."""
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.core.training.trainer import Trainer

    home = tmp_path_factory.mktemp("draw-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNSTUDIO_HOME", str(home))  # the shapes cache goes here, not to the user's folder
        config = TrainConfig(dataset="shapes", model="fast-cnn", epochs=1, batch_size=128, lr=0.01,
                             schedule="onecycle", device="cpu", seed=0)
        result = Trainer(config, dataset=load_dataset("shapes"), run_dir=home / "run").run()
    assert result.status == "finished", result.message
    assert result.test_accuracy > 0.9
    return result.checkpoint


@pytest.fixture
def make_page(qtbot):
    pages = []

    def make(checkpoint: str | None = None, state: AppState | None = None) -> DrawPage:
        page = DrawPage(state or app_state())
        qtbot.addWidget(page)
        page.resize(1100, 720)
        page.show()
        qtbot.waitExposed(page)
        if checkpoint:
            with qtbot.waitSignal(page.modelLoaded, timeout=TIMEOUT):
                page.set_checkpoint(checkpoint)
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.shutdown()
    wait_for_all()
    # Free the pages here, on the GUI thread. Left to Python's cyclic GC (this list is reachable from pytest's
    # request objects, which sit in reference cycles), they could be collected on whichever thread allocates
    # next - a background task's - and a QWidget deleted off the GUI thread crashes the process.
    for page in pages:
        page.close()
    pages.clear()
    gc.collect()


def settle(qtbot, page: DrawPage) -> Prediction:
    """Wait until no prediction is in flight or scheduled: last_prediction then describes the input."""
    qtbot.waitUntil(lambda: not page.busy(), timeout=TIMEOUT)
    return page.last_prediction


# -- drawing with the mouse -----------------------------------------------------------------------------
def widget_point(canvas: DrawingCanvas, x: float, y: float) -> QPoint:
    p = canvas.map_from_image(QPointF(x, y))
    return QPoint(round(p.x()), round(p.y()))


def mouse_stroke(canvas: DrawingCanvas, points) -> None:
    """Press, move through the points with the left button held, release: as a user would draw."""
    pts = [widget_point(canvas, x, y) for x, y in points]
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pts[0])
    for p in pts[1:]:
        QTest.mouseMove(canvas, p)  # QTest keeps the pressed button in the move events' buttons()
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pts[-1])


def circle(cx: float, cy: float, r: float, n: int = 40):
    return [(cx + r * math.cos(t), cy + r * math.sin(t)) for t in np.linspace(0, 2 * math.pi, n + 1)]


def polygon(cx: float, cy: float, r: float, sides: int, start: float, per_side: int = 10):
    corners = [(cx + r * math.cos(start + 2 * math.pi * i / sides), cy + r * math.sin(start + 2 * math.pi * i / sides))
               for i in range(sides + 1)]
    points = []
    for (x0, y0), (x1, y1) in zip(corners[:-1], corners[1:]):
        points += [(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) for t in np.linspace(0, 1, per_side, endpoint=False)]
    return points + [corners[-1]]


FIGURES = {
    "circle": lambda cx, cy, r: circle(cx, cy, r),
    "square": lambda cx, cy, r: polygon(cx, cy, r, 4, math.pi / 4),
    "triangle": lambda cx, cy, r: polygon(cx, cy, r, 3, -math.pi / 2),
}
# (centre x, centre y, radius) on the 560 x 560 drawing
PLACES = {"small-corner": (80, 90, 55), "large-centre": (280, 280, 230)}


def draw_figure(page: DrawPage, name: str, place: str) -> None:
    cx, cy, r = PLACES[place]
    page.canvas.set_brush_size(max(4.0, 0.16 * r))  # pen width in proportion to the figure, as on paper
    mouse_stroke(page.canvas, FIGURES[name](cx, cy, r))


# -- tests ----------------------------------------------------------------------------------------------
def test_without_a_model_the_page_says_so_and_the_canvas_works(make_page):
    page = make_page()
    assert NO_MODEL in page.headline.text()
    assert page.canvas.hint_visible()
    mouse_stroke(page.canvas, circle(280, 280, 150))
    assert not page.canvas.is_empty()
    assert not page.canvas.hint_visible()
    assert page.predictor is None and page.last_prediction is None
    assert NO_MODEL in page.headline.text()


def test_model_follows_the_app_state(qtbot, make_page, shapes_checkpoint):
    state = app_state()
    page = make_page(state=state)
    with qtbot.waitSignal(page.modelLoaded, timeout=TIMEOUT) as blocker:
        state.set_checkpoint(shapes_checkpoint)
    assert blocker.args[0] is page.predictor
    assert page.predictor.classes[:3] == ["circle", "square", "triangle"]
    assert "fast-cnn" in page.model_label.text()


def test_mouse_strokes_predict_like_the_core(qtbot, make_page, shapes_checkpoint):
    page = make_page(shapes_checkpoint)
    prepared_seen = []
    page.preparedInputChanged.connect(prepared_seen.append)
    draw_figure(page, "circle", "large-centre")
    prediction = settle(qtbot, page)
    prepared, probs = page.predictor.predict_image(page.canvas.to_numpy())  # the core, directly
    assert not prediction.empty and not prepared.empty
    np.testing.assert_allclose(prediction.probabilities, probs, rtol=1e-5, atol=1e-6)
    assert [label for label, _ in prediction.top] == [r["label"] for r in page.predictor.top_k(probs, 5)]
    np.testing.assert_array_equal(page.last_prepared, prepared.pixels)
    np.testing.assert_array_equal(page.prepared_view.pixels(), prepared.pixels)
    assert prepared_seen and prepared_seen[-1] is page.last_prepared
    assert page.bars.rows() == prediction.top and len(prediction.top) == 5
    assert prediction.top[0][0] in page.headline.text()
    assert "28×28" in page.prepared_caption.text() and "inverted" in page.prepared_caption.text()


def test_predictions_arrive_while_the_pen_is_still_down(qtbot, make_page, shapes_checkpoint):
    page = make_page(shapes_checkpoint)
    canvas = page.canvas
    points = [widget_point(canvas, x, y) for x, y in circle(280, 280, 200)]
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[0])
    with qtbot.waitSignal(page.predictionUpdated, timeout=TIMEOUT):
        for p in points[1:25]:
            QTest.mouseMove(canvas, p)
    assert canvas.drawing()  # still drawing
    assert not page.last_prediction.empty
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, points[24])
    settle(qtbot, page)


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("name", list(FIGURES))
def test_drawn_figures_are_recognised(qtbot, make_page, shapes_checkpoint, name, place):
    page = make_page(shapes_checkpoint)
    draw_figure(page, name, place)
    prediction = settle(qtbot, page)
    assert prediction.top[0][0] == name, prediction.top[:3]
    assert prediction.top[0][1] > 0.5


@pytest.mark.parametrize("name", list(FIGURES))
def test_framing_makes_position_and_size_irrelevant(qtbot, make_page, shapes_checkpoint, name):
    """The core crops, scales and centres every drawing, so a small figure in a corner becomes (almost) the
    same 28x28 input as a big one in the middle. Measured on this canvas: the same figure gives an IoU of the
    >50 % masks of 0.92-1.0 and a mean absolute difference of 0.01-0.03; two different figures (circle vs
    square, square vs triangle) only 0.10-0.36. 0.75 separates the two cases with a wide margin and fails if
    the framing step (crop, fit into 20x20, centring) were skipped."""
    page = make_page(shapes_checkpoint)
    inputs = {}
    for place in PLACES:
        page.clear()
        draw_figure(page, name, place)
        settle(qtbot, page)
        inputs[place] = page.last_prepared[0].astype(np.float64) / 255
    small, large = inputs["small-corner"], inputs["large-centre"]
    a, b = small > 0.5, large > 0.5
    iou = (a & b).sum() / (a | b).sum()
    assert iou > 0.75, iou
    assert np.abs(small - large).mean() < 0.06
    # the control: another figure drawn the same way does not match
    other = "square" if name != "square" else "triangle"
    page.clear()
    draw_figure(page, other, "large-centre")
    settle(qtbot, page)
    c = page.last_prepared[0] > 127
    assert (c & b).sum() / (c | b).sum() < 0.6


def test_clear_empties_the_prediction(qtbot, make_page, shapes_checkpoint):
    page = make_page(shapes_checkpoint)
    draw_figure(page, "square", "large-centre")
    assert not settle(qtbot, page).empty
    with qtbot.waitSignal(page.preparedInputChanged, timeout=TIMEOUT) as prepared:
        page.clear_action.trigger()
    assert prepared.args == [None]
    prediction = settle(qtbot, page)
    assert prediction.empty and prediction.top == [] and prediction.probabilities is None
    assert page.last_prepared is None and page.prepared_view.pixels() is None
    assert page.bars.rows() == []
    assert page.canvas.is_empty() and page.canvas.hint_visible()
    assert not any(name in page.headline.text() for name in page.predictor.classes)


def test_an_empty_canvas_never_shows_a_class(qtbot, make_page, shapes_checkpoint):
    page = make_page(shapes_checkpoint)
    assert page.last_prediction is None or page.last_prediction.empty
    assert page.bars.rows() == []
    # draw, then erase it all with a wide eraser: blank again, so no guess
    page.canvas.set_brush_size(12)
    mouse_stroke(page.canvas, [(200, 280), (360, 280)])
    assert not settle(qtbot, page).empty
    page.eraser_action.trigger()
    page.canvas.set_brush_size(70)
    mouse_stroke(page.canvas, [(160, 280), (400, 280)])
    prediction = settle(qtbot, page)
    assert page.canvas.is_empty()
    assert prediction.empty and prediction.top == [] and page.bars.rows() == []
    # a faint smudge below the core's content threshold is no drawing either
    page.clear()
    page.pen_action.trigger()
    page.canvas.set_color(QColor(235, 235, 235))
    mouse_stroke(page.canvas, [(100, 100), (300, 300)])
    prediction = settle(qtbot, page)
    assert not page.canvas.is_empty()
    assert prediction.empty and prediction.top == [] and page.last_prepared is None


def test_undo_and_redo_restore_the_image(qtbot, make_page, shapes_checkpoint):
    page = make_page(shapes_checkpoint)
    canvas = page.canvas
    mouse_stroke(canvas, circle(280, 280, 150))
    one = canvas.to_numpy()
    mouse_stroke(canvas, [(100, 500), (460, 500)])
    two = canvas.to_numpy()
    assert not np.array_equal(one, two)
    page.undo_action.trigger()
    np.testing.assert_array_equal(canvas.to_numpy(), one)
    page.redo_action.trigger()
    np.testing.assert_array_equal(canvas.to_numpy(), two)
    # the shortcuts: Ctrl+Z, Ctrl+Shift+Z and Ctrl+Y (while the page is shown)
    page.activateWindow()
    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(canvas.to_numpy(), one)
    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_array_equal(canvas.to_numpy(), two)
    QTest.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(canvas.to_numpy(), two)
    # clear is undoable too; undoing everything gives a blank page and no guess
    QTest.keyClick(canvas, Qt.Key.Key_Delete)
    assert canvas.is_empty()
    page.undo_action.trigger()
    np.testing.assert_array_equal(canvas.to_numpy(), two)
    page.undo_action.trigger()
    page.undo_action.trigger()
    assert canvas.is_empty() and not canvas.can_undo()
    assert settle(qtbot, page).empty
    prediction = page.predictor.predict_image(one)
    page.redo_action.trigger()
    np.testing.assert_allclose(settle(qtbot, page).probabilities, prediction[1], rtol=1e-5, atol=1e-6)


def test_undo_after_many_strokes_uses_snapshots_and_matches(qtbot):
    canvas = DrawingCanvas()
    qtbot.addWidget(canvas)
    images = [canvas.to_numpy()]
    for i in range(40):
        canvas.add_stroke([(20 + 12 * i, 30), (40 + 10 * i, 300 + (i % 7) * 30), (60 + 11 * i, 520)], size=6 + i % 5)
        images.append(canvas.to_numpy())
    for i in range(40, 0, -1):
        canvas.undo()
        np.testing.assert_array_equal(canvas.to_numpy(), images[i - 1])
    for i in range(1, 41):
        canvas.redo()
        np.testing.assert_array_equal(canvas.to_numpy(), images[i])


def test_canvas_reports_changes_at_most_about_30_times_a_second(qtbot):
    canvas = DrawingCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(600, 600)
    canvas.show()
    qtbot.waitExposed(canvas)
    changed, finished = [], []
    canvas.strokeChanged.connect(lambda: changed.append(1))
    canvas.strokeFinished.connect(lambda: finished.append(1))
    mouse_stroke(canvas, circle(280, 280, 200, n=200))  # 200 moves within a few milliseconds
    assert len(finished) == 1
    assert 2 <= len(changed) <= 10  # press + (throttled) + end, not one per move
    qtbot.waitUntil(lambda: not canvas.change_pending(), timeout=TIMEOUT)


def test_broken_image_file_shows_an_error_and_keeps_the_drawing(qtbot, make_page, shapes_checkpoint, tmp_path):
    page = make_page(shapes_checkpoint)
    draw_figure(page, "triangle", "large-centre")
    before = settle(qtbot, page)
    drawing = page.canvas.to_numpy()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with qtbot.waitSignal(page.imageError, timeout=TIMEOUT) as error:
        page.open_image_file(str(bad))
    assert "broken.png" in error.args[0] and "Traceback" not in error.args[0]
    assert page.banner.isVisible() and page.banner.kind == "error" and "broken.png" in page.banner.text()
    assert not page.showing_image() and not page.canvas.showing_image()
    assert page.last_prediction is before
    np.testing.assert_array_equal(page.canvas.to_numpy(), drawing)
    with qtbot.waitSignal(page.imageError, timeout=TIMEOUT) as error:
        page.open_image_file(str(tmp_path / "missing.png"))
    assert "not found" in error.args[0]


def _figure_photo(path, size=(300, 220)) -> None:
    """A dark star drawn on light gray 'paper', not square, RGB: like a photo of a drawing."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (225, 222, 215))
    cx, cy, r = 170, 110, 80
    pts = []
    for i in range(10):
        a = -math.pi / 2 + i * math.pi / 5
        rr = r if i % 2 == 0 else r * 0.45
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    ImageDraw.Draw(img).polygon(pts, fill=(30, 30, 40))
    img.save(path)


def test_an_image_file_is_classified_through_the_same_path(qtbot, make_page, shapes_checkpoint, tmp_path):
    from cnnstudio.core.inference import open_image

    page = make_page(shapes_checkpoint)
    draw_figure(page, "circle", "large-centre")
    drawing_prediction = settle(qtbot, page)
    path = tmp_path / "star.png"
    _figure_photo(path)
    with qtbot.waitSignal(page.predictionUpdated, timeout=TIMEOUT, check_params_cb=lambda p: p.source == "image"):
        page.open_image_file(str(path))
    prediction = settle(qtbot, page)
    prepared, probs = page.predictor.predict_image(open_image(path))
    np.testing.assert_allclose(prediction.probabilities, probs, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(page.last_prepared, prepared.pixels)
    assert prediction.top[0][0] == "star"
    assert page.showing_image() and page.canvas.showing_image() and page.image_strip.isVisible()
    assert not page.undo_action.isEnabled()
    # back to the drawing: the drawing and its prediction return
    page.back_button.click()
    prediction = settle(qtbot, page)
    assert not page.showing_image() and not page.image_strip.isVisible()
    np.testing.assert_allclose(prediction.probabilities, drawing_prediction.probabilities, rtol=1e-5, atol=1e-6)


def test_paste_and_drop_are_classified_like_files(qtbot, make_page, shapes_checkpoint, tmp_path):
    page = make_page(shapes_checkpoint)
    path = tmp_path / "star.png"
    _figure_photo(path)
    image = QImage(str(path))
    QGuiApplication.clipboard().setImage(image)
    page.paste()
    prediction = settle(qtbot, page)
    assert page.showing_image() and prediction.source == "image"
    expected = page.predictor.predict_image(qimage_to_numpy(image))[1]
    np.testing.assert_allclose(prediction.probabilities, expected, rtol=1e-5, atol=1e-6)
    assert prediction.top[0][0] == "star"
    page.clear()  # clear puts the picture away
    assert not page.showing_image() and settle(qtbot, page).empty

    from cnnstudio.core.inference import open_image

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    drop = QDropEvent(QPointF(300, 300), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(page.predictionUpdated, timeout=TIMEOUT, check_params_cb=lambda p: p.source == "image"):
        page.dropEvent(drop)
    prediction = settle(qtbot, page)
    np.testing.assert_allclose(prediction.probabilities, page.predictor.predict_image(open_image(path))[1],
                               rtol=1e-5, atol=1e-6)
    # text on the clipboard that is no image: a message, nothing else changes
    QGuiApplication.clipboard().setText("hello")
    with qtbot.waitSignal(page.imageError, timeout=TIMEOUT):
        page.paste()
    assert page.last_prediction is prediction


def test_a_bad_checkpoint_is_reported_and_the_model_kept(qtbot, make_page, shapes_checkpoint, tmp_path):
    page = make_page(shapes_checkpoint)
    predictor = page.predictor
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    page.set_checkpoint(str(bad))
    qtbot.waitUntil(lambda: page.banner.isVisible(), timeout=TIMEOUT)
    assert "bad.pt" in page.banner.text() and page.banner.kind == "error"
    assert page.predictor is predictor and page.checkpoint_path == shapes_checkpoint
    page.set_checkpoint(None)
    assert page.predictor is None and NO_MODEL in page.headline.text()


def test_colour_model_gets_rgb_input_and_a_colour_brush(qtbot, make_page, tmp_path):
    """A 3-channel model (random weights are enough): the canvas hands RGB to the same core path."""
    import torch

    from cnnstudio.core.checkpoint import save_checkpoint
    from cnnstudio.core.framing import natural_profile
    from cnnstudio.core.models.builder import build_model
    from cnnstudio.core.models.presets import get_preset

    spec = get_preset("tiny-bn-cnn")
    torch.manual_seed(0)
    model = build_model(spec, (3, 32, 32), 4)
    path = save_checkpoint({"model_spec": spec, "classes": ["a", "b", "c", "d"], "input_shape": [3, 32, 32],
                            "mean": [0.5] * 3, "std": [0.25] * 3, "framing": natural_profile(32, 32, 3).to_dict(),
                            "model_state": model.state_dict()}, tmp_path / "colour.pt")
    page = make_page(str(path))
    assert page.canvas.color_mode() and page.color_action.isVisible()
    page.canvas.set_color(QColor(200, 30, 30))
    mouse_stroke(page.canvas, circle(280, 280, 150))
    prediction = settle(qtbot, page)
    rgb = page.canvas.to_numpy()
    assert rgb.shape == (560, 560, 3) and (rgb[..., 0] > rgb[..., 1] + 100).any()
    np.testing.assert_allclose(prediction.probabilities, page.predictor.predict_image(rgb)[1],
                               rtol=1e-5, atol=1e-6)
    assert page.last_prepared.shape == (3, 32, 32)
    assert "colour" in page.prepared_caption.text()


def test_many_predictions_in_a_row_are_stable(qtbot, make_page, shapes_checkpoint):
    """Hundreds of background predictions (one Task each): guards the worker-deletion race of tasks.py."""
    page = make_page(shapes_checkpoint)
    page.prediction_delay_ms = 0
    page.canvas.emit_interval_ms = 0
    page.canvas.set_brush_size(20)
    for i in range(150):
        page.canvas.add_stroke([(40 + 3 * i, 40), (40 + 3 * i, 500)])
        if i % 10 == 0:
            settle(qtbot, page)
    prediction = settle(qtbot, page)
    np.testing.assert_allclose(prediction.probabilities, page.predictor.predict_image(page.canvas.to_numpy())[1],
                               rtol=1e-5, atol=1e-6)


# -- qimage helpers -------------------------------------------------------------------------------------
def test_qimage_numpy_round_trips_respect_row_padding():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (7, 13), dtype=np.uint8)  # 13 bytes a row: QImage pads rows to 16
    image = numpy_to_qimage(gray)
    assert image.width() == 13 and image.height() == 7
    np.testing.assert_array_equal(qimage_to_gray(image), gray)
    np.testing.assert_array_equal(qimage_to_gray(image.copy()), gray)  # a padded copy
    assert image.copy().bytesPerLine() == 16
    rgb = rng.integers(0, 256, (5, 9, 3), dtype=np.uint8)
    np.testing.assert_array_equal(qimage_to_rgb(numpy_to_qimage(rgb).copy()), rgb)
    np.testing.assert_array_equal(qimage_to_numpy(numpy_to_qimage(rgb).copy()), rgb)
    view = rgb[:, ::2]  # not C-contiguous: copied
    np.testing.assert_array_equal(qimage_to_rgb(numpy_to_qimage(view)), view)
    with pytest.raises(ValueError):
        numpy_to_qimage(np.zeros((4, 4), dtype=np.float32))


def test_numpy_to_qimage_keeps_its_buffer_alive():
    image = numpy_to_qimage(np.full((6, 10), 77, dtype=np.uint8))
    gc.collect()
    painter_target = QImage(10, 6, QImage.Format.Format_Grayscale8)
    painter = QPainter(painter_target)
    painter.drawImage(0, 0, image)
    painter.end()
    assert (qimage_to_gray(painter_target) == 77).all()
