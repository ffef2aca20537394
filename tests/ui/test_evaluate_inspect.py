"""The Evaluate and Inspect pages, driven like a user would (pytest-qt, offscreen).

One small shapes model is trained once for the whole module (cnn3-dropout, 1 epoch on 3,000 images) and
shared by every test; the pages load it from its checkpoint file, as in the app. Waits are on signals
and conditions with timeouts, never on sleeps.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PySide6.QtCore import Qt

from cnnstudio.core.training.events import EpochEvent
from cnnstudio.ui import compose

LOAD_MS = 120_000  # a model load + evaluation on a busy 2-core machine
STEP_MS = 60_000


@pytest.fixture(scope="module")
def shapes(shapes_dataset):
    return shapes_dataset  # loaded once for the session (conftest)


@pytest.fixture(scope="module")
def trained(shapes, tmp_path_factory):
    """(checkpoint path, Predictor) of a tiny shapes model trained once for this module."""
    from cnnstudio.core.inference import Predictor
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.core.training.trainer import Trainer

    run_dir = tmp_path_factory.mktemp("evaluate-inspect") / "run"
    config = TrainConfig(dataset="shapes", model="cnn3-dropout", epochs=1, limit_train=3000, device="cpu", seed=0)
    result = Trainer(config, dataset=shapes, run_dir=run_dir).run()
    assert result.status == "finished", result
    return {"checkpoint": result.checkpoint, "last": result.last_checkpoint,
            "predictor": Predictor(result.checkpoint)}


@pytest.fixture(scope="module")
def test_probabilities(trained, shapes):
    """Independent predictions on the test set, straight from the core Predictor."""
    return trained["predictor"].probabilities(shapes.test_images.numpy())


@pytest.fixture
def app_state(shapes):
    state = compose.app_state()
    state.set_dataset(shapes, "shapes")
    return state


def wait_idle(qtbot, page, timeout=STEP_MS):
    qtbot.waitUntil(lambda: not page.busy(), timeout=timeout)


@pytest.fixture
def inspect_page(qtbot, app_state, trained):
    from cnnstudio.ui.pages.inspect_page import InspectPage

    page = InspectPage(app_state)
    qtbot.addWidget(page)
    page.resize(1040, 760)
    page.show()
    with qtbot.waitSignals([page.inspectionReady, page.filtersReady], timeout=LOAD_MS):
        page.set_checkpoint(trained["checkpoint"])
    wait_idle(qtbot, page)
    yield page
    page.shutdown()


@pytest.fixture
def evaluate_page(qtbot, app_state, trained):
    from cnnstudio.ui.pages.evaluate_page import EvaluatePage

    page = EvaluatePage(app_state)
    qtbot.addWidget(page)
    page.resize(1040, 760)
    page.show()
    qtbot.waitExposed(page)
    with qtbot.waitSignal(page.evaluationReady, timeout=LOAD_MS):
        page.set_checkpoint(trained["checkpoint"])
    yield page
    page.shutdown()


def normalised(trained, pixels):
    import torch

    p = trained["predictor"]
    return p.normalise(torch.from_numpy(np.ascontiguousarray(pixels))[None])[0]


# -- Inspect ---------------------------------------------------------------------------------------------


def test_inspect_shows_filters_of_every_conv_layer(qtbot, inspect_page, trained):
    from cnnstudio.core.inspection import conv_layers, filters

    page = inspect_page
    model = trained["predictor"].model
    convs = conv_layers(model)
    assert page.conv_layer_keys() == [c.key for c in convs]
    page.filters.set_mode("weights")  # every layer's kernels (Automatic shows deeper layers' patches)
    for conv in convs:
        with qtbot.waitSignal(page.filtersReady, timeout=STEP_MS) as blocker:
            assert page.select_layer(conv.key)
        grid = blocker.args[0]
        assert grid.key == conv.key
        shown = page.filter_item.image  # RGBA: the core's mosaic, its padding made transparent
        assert shown is not None and shown.dtype == np.uint8 and shown.shape[2] == 4
        image = page.filter_mosaic
        assert image is not None and image.size > 0 and shown.shape[:2] == image.shape[:2]
        tiles = shown[:, :, 3] == 255
        grey = image if image.ndim == 2 else image[..., 0]
        assert np.array_equal(shown[:, :, 0][tiles], grey[tiles])
        assert tiles.sum() == page.filter_tile_count * conv.kernel[0] * conv.kernel[1]
        # The right number of tiles: one per filter for a 1-channel input, else one per (filter, input).
        shown_inputs = 1 if conv.in_channels == 1 else min(conv.in_channels, 64)
        assert page.filter_tile_count == conv.out_channels * shown_inputs
        kh, kw = conv.kernel
        cols = page.filter_layout.cols
        rows = -(-page.filter_tile_count // cols)
        assert image.shape[:2] == (rows * (kh + 1) - 1, cols * (kw + 1) - 1)
        expected = filters(model, conv.key)
        assert np.array_equal(image[:kh, :kw], expected.images[0, 0])  # filter 0's first kernel, top left
        # Hover text names the filter under the mouse and its weight range.
        text = page.filter_text_at(kh + 1 + 0.5, 0.5)  # second row of tiles, first column
        assert text is not None and text.startswith(f"Filter {cols if shown_inputs == 1 else 1}:")
        assert page.filter_text_at(kh + 0.5, 0.5) is None  # the padding line between rows


def test_inspect_shows_each_deeper_channel_as_its_top_test_image_patches(qtbot, inspect_page, trained, shapes):
    """Issue 15, item 5: conv 2's thousands of kernels are unreadable; each channel gets one picture
    instead, the test-image patches that excite it most (Automatic: weights stay for the first conv)."""
    from cnnstudio.core.inspection import conv_layers
    from cnnstudio.core.inspection.layers import geometry

    page = inspect_page
    model = trained["predictor"].model
    convs = conv_layers(model)
    assert page.filters.effective_mode(convs[0].key) == "weights"
    assert page.filters.grid is not None and page.filters.grid.key == convs[0].key  # opened on layer 1's weights
    second = convs[1]
    with qtbot.waitSignal(page.filtersReady, timeout=STEP_MS) as blocker:
        assert page.select_layer(second.key)
    patches = blocker.args[0]
    assert page.filters.kind == "patches" and patches.key == second.key
    assert patches.channels == second.out_channels and patches.per_channel == 6
    g = geometry(model, second.key)
    assert patches.field == (round(g.size[0]), round(g.size[1])) and patches.field[0] < shapes.input_shape[1]
    # Scores are each channel's strongest responses, strongest first, and they are real: the channel's
    # activation on the image each patch came from reaches that score.
    import torch

    from cnnstudio.core.inspection.activations import capture, inspecting

    module = dict(model.named_modules())[second.key]
    ch = int(np.argmax(patches.scores[:, 0]))
    index = int(patches.image_index[ch, 0])
    predictor = trained["predictor"]
    with inspecting(model), torch.no_grad(), capture({second.key: module}) as out:
        model(predictor.normalise(shapes.test_images[index:index + 1]))
    assert float(out[second.key][0, ch].max()) == pytest.approx(float(patches.scores[ch, 0]), rel=1e-4)
    assert np.all(np.diff(patches.scores, axis=1) <= 1e-6)
    assert len(set(patches.image_index[ch].tolist())) == 6  # six different images
    # The mosaic: one block per channel; hovering a block names the channel and its response.
    lay = page.filter_layout
    assert lay.count == second.out_channels and page.filter_tile_count == second.out_channels
    shown = page.filter_item.image
    assert shown.shape[:2] == page.filter_mosaic.shape[:2] and shown.shape[2] == 4
    bh, bw = lay.tile
    text = page.filter_text_at(0.5, bw + lay.pad + 0.5)  # the second block of the first row
    assert text is not None and text.startswith("Channel 1:")
    assert page.filter_text_at(0.5, bw + 0.5) is None  # the gap between blocks
    # The user can still ask for the weights of any layer.
    with qtbot.waitSignal(page.filtersReady, timeout=STEP_MS) as blocker:
        page.filters.set_mode("weights")
    assert blocker.args[0].key == second.key and page.filters.kind == "weights"


def test_a_model_chosen_while_inspect_is_hidden_wins_over_a_waiting_epoch_reload(qtbot, inspect_page, trained):
    """Seen in the 12-run screenshots: Inspect, hidden during training, reloaded the last epoch's last.pt
    when shown, replacing the model the user had chosen on the Runs page since."""
    page = inspect_page
    page.follow_train_check.setChecked(True)
    page.hide()
    page.on_training_epoch(EpochEvent(1, 1, 0.5, 0.8, None, None, 0.01, 1.0, 100.0, False,
                                      trained["last"]))  # an epoch ends while the page is hidden
    page.state.set_checkpoint(None)
    with qtbot.waitSignal(page.inspectionReady, timeout=LOAD_MS):
        page.state.set_checkpoint(trained["checkpoint"])  # then the user picks a model
        page.show()
    wait_idle(qtbot, page)
    assert page.context is not None and not page.context.live
    assert page.checkpoint_path == trained["checkpoint"]


def test_inspect_shows_feature_maps_for_every_layer(qtbot, inspect_page, trained, shapes):
    page = inspect_page
    model = trained["predictor"].model
    children = list(model.named_children())
    assert [s.key for s in page.feature_sections] == [k for k, _ in children]
    assert np.array_equal(page.input_pixels, shapes.test_images[0].numpy())
    maps = page.inspection.feature_maps
    for section, fm in zip(page.feature_sections, maps):
        assert section.shape == fm.shape
        if fm.is_spatial:
            image = section.image()
            assert image is not None and image.size > 0
            assert section.tile_count() == fm.shape[0]
        else:
            assert section.values() is not None and len(section.values()) == fm.shape[0]
    # The input can be changed: the next test image is inspected, one section per layer again.
    with qtbot.waitSignal(page.inspectionReady, timeout=STEP_MS):
        page.next_button.click()
    wait_idle(qtbot, page)
    assert page.test_index == 1
    assert np.array_equal(page.input_pixels, shapes.test_images[1].numpy())
    assert len(page.feature_sections) == len(children)
    # The class scores: the last section's values are the logits of the model for that image.
    import torch

    with torch.inference_mode():
        logits = model(normalised(trained, page.input_pixels)[None])[0].numpy()
    np.testing.assert_allclose(page.feature_sections[-1].values(), logits, rtol=1e-4, atol=1e-4)


def test_grad_cam_for_the_predicted_and_another_class(qtbot, inspect_page, trained):
    from cnnstudio.core.inspection import grad_cam, overlay

    page = inspect_page
    model = trained["predictor"].model
    ins = page.inspection
    predicted = int(ins.predicted)
    assert ins.cam is not None and ins.cam.class_index == predicted
    assert page.cam_image is not None and page.cam_image.shape == (28, 28, 3)
    assert page.heat_view.pixels() is not None
    x = normalised(trained, page.input_pixels)
    expected = grad_cam(model, x, target_class=predicted, layer_ref=page.cam_layer_combo.currentData())
    np.testing.assert_allclose(ins.cam.cam, expected.cam, atol=1e-5)
    assert np.array_equal(page.cam_image, overlay(page.input_pixels, ins.cam.cam, alpha=0.5))

    other = (predicted + 1) % len(trained["predictor"].classes)
    with qtbot.waitSignal(page.inspectionReady, timeout=STEP_MS) as blocker:
        page.select_cam_class(other)
    wait_idle(qtbot, page)
    ins = page.inspection
    assert blocker.args[0].cam.class_index == other and ins.cam.class_index == other
    assert ins.predicted == predicted  # the prediction does not change with the class explained
    expected = grad_cam(model, x, target_class=other, layer_ref=page.cam_layer_combo.currentData())
    np.testing.assert_allclose(ins.cam.cam, expected.cam, atol=1e-5)
    assert page.cam_image is not None and page.cam_image.shape == (28, 28, 3)
    assert trained["predictor"].classes[other] in page.cam_caption.text()
    # Layers are numbered from 1 on screen, as in the Model page's table; the data keeps the 0-based key.
    key = page.cam_layer_combo.currentData()
    assert page.cam_layer_combo.currentText().startswith(f"{int(key) + 1}: ")
    assert page.cam_caption.text().endswith(f"at layer {int(key) + 1}")
    assert page.feature_sections[0].title.text().startswith("<b>1: ")

    # An earlier layer, then saliency: each gives a heatmap over the input.
    first = page.cam_layer_combo.itemData(0)
    with qtbot.waitSignal(page.inspectionReady, timeout=STEP_MS):
        assert page.select_cam_layer(first)
    wait_idle(qtbot, page)
    assert page.inspection.cam.key == first
    with qtbot.waitSignal(page.inspectionReady, timeout=STEP_MS):
        page.set_heatmap_method("saliency")
    wait_idle(qtbot, page)
    assert page.inspection.saliency is not None and page.cam_image is not None
    # The colour scale beside the heatmap is the map the heatmap was painted with (issue 15, item 5).
    from cnnstudio.core.inspection.display import COLORMAPS

    (_, colors), = page.explain.heat_scale.rows()
    for color, end in zip((colors[0], colors[-1]), (COLORMAPS["inferno"][0], COLORMAPS["inferno"][-1])):
        assert (color.red(), color.green(), color.blue()) == tuple(int(v) for v in end)
    assert [text for _, text in page.explain.heat_scale.ticks()] == ["least", "most"]
    with qtbot.waitSignal(page.inspectionReady, timeout=STEP_MS):
        page.set_heatmap_method("gradcam")
    wait_idle(qtbot, page)
    (_, colors), = page.explain.heat_scale.rows()
    assert (colors[-1].red(), colors[-1].green(), colors[-1].blue()) == tuple(int(v) for v in COLORMAPS["jet"][-1])
    page.explain.clear_heatmap()
    assert page.explain.heat_scale.rows() == []


def test_a_bad_image_file_shows_an_error_and_a_good_one_is_framed(qtbot, inspect_page, tmp_path):
    from PIL import Image, ImageDraw

    page = inspect_page
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a PNG at all")
    before = page.input_pixels.copy()
    with qtbot.waitSignal(page.imageError, timeout=STEP_MS) as blocker:
        page.open_image_file(str(bad))
    assert "broken.png" in blocker.args[0]
    assert page.banner.isVisible() and page.banner.kind == "error"
    assert np.array_equal(page.input_pixels, before)  # the previous input stays

    # A large dark-on-light drawing: framed like the dataset (28x28, light on dark).
    good = tmp_path / "circle.png"
    img = Image.new("L", (300, 200), 255)
    ImageDraw.Draw(img).ellipse((90, 40, 210, 160), outline=0, width=14)
    img.save(good)
    with qtbot.waitSignal(page.inspectionReady, timeout=STEP_MS):
        page.open_image_file(str(good))
    wait_idle(qtbot, page)
    assert page.input_kind == "image"
    assert page.input_pixels.shape == (1, 28, 28)
    assert page.input_pixels[0, 0, 0] < 40 and page.input_pixels.max() > 200  # inverted to light on dark
    assert "circle.png" in page.input_label.text()

    # A numpy array of the model's input shape is used as it is.
    arr = np.zeros((1, 28, 28), np.uint8)
    arr[0, 8:20, 8:20] = 255
    with qtbot.waitSignal(page.inspectionReady, timeout=STEP_MS):
        page.set_input_image(arr, "a square")
    wait_idle(qtbot, page)
    assert np.array_equal(page.input_pixels, arr)


# -- Evaluate --------------------------------------------------------------------------------------------


def test_evaluation_matches_an_independent_computation(evaluate_page, trained, shapes, test_probabilities):
    page = evaluate_page
    ev = page.evaluation
    labels = shapes.test_labels.numpy()
    preds = test_probabilities.argmax(axis=1)
    assert np.array_equal(ev.labels, labels)
    assert ev.accuracy == pytest.approx(float((preds == labels).mean()), abs=2 / len(labels))
    assert page.accuracy_card.value.text() == f"{100 * ev.accuracy:.1f} %"
    assert page.loss_card.value.text() == f"{ev.loss:.3f}"
    assert np.array_equal(page.matrix.counts(), ev.confusion_matrix())
    assert page.table.rowCount() == len(ev.classes)
    # What the page shows, against numbers counted here from the core Predictor's own probabilities
    # (not from page.evaluation, the object that produced them).
    k = len(shapes.classes)
    counts = np.zeros((k, k), int)
    for t, p in zip(labels, preds):
        counts[t, p] += 1
    assert np.array_equal(page.matrix.counts(), counts)
    loss = -np.mean(np.log(np.clip(test_probabilities[np.arange(len(labels)), labels], 1e-12, 1.0)))
    assert float(page.loss_card.value.text()) == pytest.approx(loss, abs=2e-3)
    for row in range(page.table.rowCount()):
        i = shapes.classes.index(page.table.item(row, 0).text())
        precision = counts[i, i] / max(1, counts[:, i].sum())
        recall = counts[i, i] / max(1, counts[i].sum())
        assert page.table.item(row, 1).text() == f"{100 * precision:.1f} %"
        assert page.table.item(row, 2).text() == f"{100 * recall:.1f} %"
        assert page.table.item(row, 4).text() == f"{counts[i].sum():,}"


def expected_cell(probs: np.ndarray, labels: np.ndarray, t: int, p: int) -> np.ndarray:
    preds = probs.argmax(axis=1)
    idx = np.flatnonzero((labels == t) & (preds == p))
    return idx[np.argsort(-probs[idx, p], kind="stable")]


def assert_gallery_is_cell(page, probs, labels, t, p):
    shown = page.gallery_indices()
    expected = expected_cell(probs, labels, t, p)
    # Exactly those images; in order of confidence (recomputed independently: allow float noise on ties).
    assert sorted(shown) == sorted(expected.tolist())
    conf = probs[shown, p]
    assert np.all(np.diff(conf) <= 1e-5)
    assert np.all(probs[shown].argmax(axis=1) == p) and np.all(labels[shown] == t)
    assert page.gallery.count() == len(shown)


def test_clicking_a_confusion_cell_lists_exactly_its_images(qtbot, evaluate_page, shapes, test_probabilities):
    page = evaluate_page
    labels = shapes.test_labels.numpy()
    ev = page.evaluation
    cm = ev.confusion_matrix()
    off = cm.copy()
    np.fill_diagonal(off, 0)
    t, p = (int(v) for v in np.unravel_index(int(np.argmax(off)), off.shape))
    assert off[t, p] > 1, "the test model should make some mistakes"

    # Through the API (what a click does).
    with qtbot.waitSignal(page.cellSelected, timeout=5000) as blocker:
        page.select_cell(t, p)
    assert blocker.args == [t, p]
    assert_gallery_is_cell(page, test_probabilities, labels, t, p)
    assert page.gallery_indices() == ev.samples_for_cell(t, p).tolist()
    assert ev.classes[t] in page.gallery_title.text() and ev.classes[p] in page.gallery_title.text()

    # A real mouse click on the heatmap at another cell: the diagonal cell of the best-recognised class.
    d = int(np.argmax(np.diag(cm)))
    with qtbot.waitSignal(page.cellSelected, timeout=5000) as blocker:
        qtbot.mouseClick(page.matrix, Qt.MouseButton.LeftButton, pos=page.matrix.cell_center(d, d))
    assert blocker.args == [d, d]
    assert page.matrix.selected() == (d, d)
    assert_gallery_is_cell(page, test_probabilities, labels, d, d)

    # Row-normalised view: the diagonal text is the class's recall.
    page.set_normalised(True)
    recall = page.evaluation.per_class()[d]["recall"]
    assert page.matrix.cell_text(d, d) in (f"{100 * recall:.0f}%", f"{100 * recall:.1f}%")
    page.set_normalised(False)
    assert page.matrix.cell_text(d, d) == f"{cm[d, d]:,}"


def test_confusion_matrix_colour_scale_reads_as_the_cells(evaluate_page):
    """Issue 15, item 5: a shade in the matrix can be read as a number from the scale under it."""
    page = evaluate_page
    matrix = page.matrix
    cm = page.evaluation.confusion_matrix()
    rows, ticks = matrix.color_scale()
    assert [name for name, _ in rows] == ["Right", "Wrong"]
    top = int(cm.max())
    assert ticks == [(0.0, "0"), (0.5, f"{top / 4:,.0f}"), (1.0, f"{top:,}")]
    # Each cell's colour is the scale's colour at sqrt(count / max) (the square-root scale), for right
    # answers on the first bar and mistakes on the second.
    for t in range(len(cm)):
        for p in range(len(cm)):
            colors = rows[0 if t == p else 1][1]
            at = colors[round(np.sqrt(cm[t, p] / top) * (len(colors) - 1))]
            cell = matrix.cell_color(t, p)
            assert max(abs(at.red() - cell.red()), abs(at.green() - cell.green()),
                       abs(at.blue() - cell.blue())) <= 8, (t, p)
    page.set_normalised(True)
    assert [text for _, text in matrix.color_scale()[1]] == ["0", "25%", "100%"]
    page.set_normalised(False)
    # The scale is painted under the grid, inside the widget and inside an exported picture.
    legend = matrix.legend_rect()
    assert legend.top() > matrix.cell_rect(len(cm) - 1, 0).bottom()
    assert legend.bottom() <= matrix.height() and legend.bottom() <= matrix.content_height()
    from PySide6.QtGui import QFontMetrics

    from cnnstudio.ui.widgets.color_scale import bar_rect

    image = matrix.to_image(1.0)
    bar = bar_rect(QFontMetrics(matrix.font()), legend, rows, ticks, 0)  # the "Right" bar
    row = [image.pixelColor(x, int(bar.center().y())) for x in range(int(bar.left()) + 2, int(bar.right()) - 1)]
    highlight = matrix.palette().color(matrix.palette().ColorRole.Highlight)
    assert any(abs(c.red() - highlight.red()) + abs(c.blue() - highlight.blue()) < 30 for c in row)


def test_export_csv_and_json_round_trip(evaluate_page, tmp_path):
    from PySide6.QtGui import QImage

    page = evaluate_page
    per_class = page.evaluation.per_class()
    with open(page.export_csv(tmp_path / "metrics.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["class"] for r in rows] == [r["class"] for r in per_class]
    for got, want in zip(rows, per_class):
        for key in ("precision", "recall", "f1"):
            assert float(got[key]) == pytest.approx(want[key], abs=1e-12)
        assert int(got["support"]) == want["support"]

    data = json.loads(page.export_json(tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert data["per_class"] == per_class
    assert data["accuracy"] == pytest.approx(page.evaluation.accuracy)
    assert data["loss"] == pytest.approx(page.evaluation.loss)
    assert data["confusion_matrix"] == page.evaluation.confusion_matrix().tolist()
    assert data["checkpoint"] == page.checkpoint_path

    for what in ("matrix", "gallery", "table"):
        path = page.save_png(what, tmp_path / f"{what}.png")
        image = QImage(str(path))
        assert not image.isNull() and image.width() > 50 and image.height() > 50


def test_table_sorts_by_number(qtbot, evaluate_page):
    page = evaluate_page
    page.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)  # recall
    values = [page.table.item(r, 2).data(Qt.ItemDataRole.UserRole) for r in range(page.table.rowCount())]
    assert values == sorted(values, reverse=True)
    # Double-clicking a class row shows its correct images, whatever the sort order.
    name = page.table.item(0, 0).text()
    index = page.evaluation.classes.index(name)
    page.table.itemDoubleClicked.emit(page.table.item(0, 0))  # what a double click sends
    assert page.selected_cell == (index, index)


# -- Both, in the main window ----------------------------------------------------------------------------


def test_gallery_click_opens_the_image_in_inspect(qtbot, shapes, trained, app_state):
    from cnnstudio.ui.main_window import MainWindow

    window = MainWindow(app_state)
    qtbot.addWidget(window)
    window.resize(1280, 820)
    window.show()
    qtbot.waitExposed(window)
    evaluate, inspect = window.page("evaluate"), window.page("inspect")
    with qtbot.waitSignals([evaluate.evaluationReady, inspect.inspectionReady], timeout=LOAD_MS):
        app_state.set_checkpoint(trained["checkpoint"])
    wait_idle(qtbot, inspect)
    window.show_page("evaluate")
    qtbot.waitUntil(lambda: evaluate.gallery.isVisible() and evaluate.gallery.count() > 1, timeout=5000)

    position = 1
    index = evaluate.gallery_indices()[position]
    rect = evaluate.gallery_item_rect(position)
    with qtbot.waitSignal(inspect.inspectionReady, timeout=STEP_MS):
        qtbot.mouseClick(evaluate.gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    wait_idle(qtbot, inspect)
    assert window.stack.currentWidget() is inspect
    assert inspect.input_kind == "test" and inspect.test_index == index
    assert inspect.index_spin.value() == index
    assert np.array_equal(inspect.input_pixels, shapes.test_images[index].numpy())
    true_name = trained["predictor"].classes[int(shapes.test_labels[index])]
    assert true_name in inspect.input_label.text()

    # Follow the drawing: whatever the Draw page prepares is inspected.
    draw = window.page("draw")
    drawing = np.zeros((1, 28, 28), np.uint8)
    drawing[0, 6:22, 13:15] = 255
    inspect.set_follow_drawing(True)
    with qtbot.waitSignal(inspect.inspectionReady, timeout=STEP_MS):
        draw.preparedInputChanged.emit(drawing)
    wait_idle(qtbot, inspect)
    assert inspect.input_kind == "drawing" and np.array_equal(inspect.input_pixels, drawing)
    inspect.set_follow_drawing(False)
    qtbot.waitUntil(lambda: inspect.input_kind == "test", timeout=5000)

    # After a training epoch the model is reloaded from the run's last.pt (a copy, never the live model).
    with qtbot.waitSignal(inspect.modelLoaded, timeout=LOAD_MS) as blocker:
        window.page("train").epochFinished.emit(EpochEvent(1, 1, 0.5, 0.8, None, None, 0.01, 1.0, 100.0, False,
                                                           trained["last"]))
    assert blocker.args[0].path == trained["last"]
    wait_idle(qtbot, inspect)
    assert "training" in inspect.model_label.text()
    window.close()


def test_inspect_pictures_can_be_saved(inspect_page, tmp_path):
    from PySide6.QtGui import QImage

    page = inspect_page
    for what in ("filters", "input", "heatmap", f"layer:{page.feature_sections[0].key}"):
        path = page.save_png(what, tmp_path / f"{what.replace(':', '-')}.png")
        image = QImage(str(path))
        assert not image.isNull() and image.width() >= 28
    image = QImage(str(tmp_path / "filters.png"))
    assert image.width() % page.filter_mosaic.shape[1] == 0  # whole-factor scaling: crisp squares


def test_evaluate_says_what_to_load_when_the_dataset_is_missing(qtbot, shapes, trained, tmp_path):
    """A checkpoint whose dataset cannot be found: a clear message, then evaluation once it is loaded."""
    from cnnstudio.core.checkpoint import load_checkpoint, save_checkpoint
    from cnnstudio.ui.pages.evaluate_page import EvaluatePage

    data = load_checkpoint(trained["checkpoint"])
    data["config"]["dataset"] = str(tmp_path / "no-such-dataset")
    data["meta"]["dataset"]["title"] = "My Shapes"
    path = save_checkpoint({k: v for k, v in data.items() if k not in ("format", "version")},
                           tmp_path / "moved.pt")
    state = compose.app_state()  # nothing loaded in the app
    page = EvaluatePage(state)
    qtbot.addWidget(page)
    page.show()
    with qtbot.waitSignal(page.evaluationFailed, timeout=LOAD_MS) as blocker:
        page.set_checkpoint(str(path))
    assert "My Shapes" in blocker.args[0] and "Data page" in blocker.args[0]
    assert page.banner.isVisible() and page.evaluation is None
    with qtbot.waitSignal(page.evaluationReady, timeout=LOAD_MS):
        state.set_dataset(shapes, "shapes")  # the user loads it on the Data page
    assert len(page.evaluation.labels) == len(shapes.test_labels)
    page.shutdown()


def test_rapid_input_changes_end_on_the_last_one(qtbot, inspect_page, trained, shapes):
    """Stale inspections are dropped: after many quick changes the page shows the last input's results."""
    page = inspect_page
    shown = []
    page.inspectionReady.connect(shown.append)
    for _ in range(6):
        page.next_button.click()
    page.select_cam_class(2)
    qtbot.waitUntil(lambda: not page.busy() and bool(shown), timeout=STEP_MS)
    assert page.test_index == 6
    assert np.array_equal(page.input_pixels, shapes.test_images[6].numpy())
    expected = trained["predictor"].probabilities(shapes.test_images[6].numpy())
    np.testing.assert_allclose(page.inspection.probabilities, expected, atol=1e-5)
    assert page.inspection.cam.class_index == 2
    assert len(shown) <= 3  # coalesced: not one inspection per click


def test_a_newer_checkpoint_wins(qtbot, app_state, trained):
    from cnnstudio.ui.pages.evaluate_page import EvaluatePage

    page = EvaluatePage(app_state)
    qtbot.addWidget(page)
    ready = []
    page.evaluationReady.connect(ready.append)
    page.set_checkpoint(trained["checkpoint"])
    page.set_checkpoint(trained["last"])
    qtbot.waitUntil(lambda: bool(ready) and not page.busy(), timeout=LOAD_MS)
    from cnnstudio.ui import tasks

    tasks.wait_for_all()
    qtbot.waitUntil(tasks.idle, timeout=10_000)
    assert len(ready) == 1 and page.checkpoint_path == trained["last"]
    assert page.stack.currentIndex() == 1
    page.shutdown()


def test_unbalanced_test_classes_open_the_per_class_table_on_the_worst_recall(qtbot, evaluate_page):
    """Issue 16, item 5: with unbalanced classes the per-class table opens sorted by recall, lowest first."""
    from types import SimpleNamespace

    page = evaluate_page
    assert not page.balance_label.isVisible()  # the shapes test set is balanced
    rows = [{"class": "common", "precision": 0.9, "recall": 0.97, "f1": 0.93, "support": 900},
            {"class": "rare", "precision": 0.8, "recall": 0.40, "f1": 0.53, "support": 30},
            {"class": "middle", "precision": 0.85, "recall": 0.80, "f1": 0.82, "support": 200}]
    page.per_class.show_evaluation(SimpleNamespace(
        per_class=lambda: rows, macro_averages=lambda: {"precision": 0.85, "recall": 0.72, "f1": 0.76}))
    assert [page.table.item(r, 0).text() for r in range(3)] == ["rare", "middle", "common"]
    assert page.balance_label.isVisible() and "900 to 30" in page.balance_label.text()


def test_the_model_line_is_shortened_with_an_ellipsis_not_cut_at_the_window_edge(qtbot, inspect_page, trained):
    """Seen at 1024 px: "Model convnet-5x5 · 20261201-14283" ran off the window, cut mid-word."""
    page = inspect_page
    label = page.model_label
    full = label.text()
    assert full.startswith("Model ") and "best.pt" in full
    page.resize(700, 700)
    qtbot.waitUntil(lambda: label.width() < label.fontMetrics().horizontalAdvance(full), timeout=3000)
    shown = label.shown_text()
    assert "…" in shown and label.fontMetrics().horizontalAdvance(shown) <= label.contentsRect().width()
    assert shown.startswith(full[:len(shown) - 1]) and shown.endswith("…")  # "Model convnet-5x5 · 2026…"
    assert label.text() == full and full in label.toolTip()
