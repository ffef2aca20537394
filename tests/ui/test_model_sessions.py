"""The Model, Draw, Inspect and Data sessions without widgets, and the typed values they send to the views.

No widget is created here: a session is a QObject, and these tests only need the event loop that delivers
its background results (pytest-qt's qtbot). Every value a session sends to its view is a named frozen
dataclass (core.inference.Prediction, core.inspection.mosaic.InspectionResult / FilterMosaic,
core.model_context.ModelContext, ...), never a dict.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

TIMEOUT = 60_000


@pytest.fixture(autouse=True)
def _no_widgets_created(qtbot):
    before = set(QApplication.allWidgets())
    yield
    created = set(QApplication.allWidgets()) - before
    assert not created, f"a session test created widgets: {[type(w).__name__ for w in created][:5]}"


def _frozen(value) -> bool:
    return dataclasses.is_dataclass(value) and type(value).__dataclass_params__.frozen


# -- the core's values --------------------------------------------------------------------------------------
def test_the_checkpoint_summary_owns_classes_framing_mean_and_std(shapes_checkpoint, shapes_dataset):
    from cnnstudio.core.checkpoint import CheckpointSummary, load_checkpoint
    from cnnstudio.core.export.metadata import ModelMetadata
    from cnnstudio.core.framing import FramingProfile
    from cnnstudio.core.inference import Predictor

    ckpt = load_checkpoint(shapes_checkpoint)
    summary = CheckpointSummary.of(ckpt)
    assert summary.classes == tuple(shapes_dataset.classes) and summary.input_shape == shapes_dataset.input_shape
    assert summary.mean == tuple(float(v) for v in ckpt["mean"]) and summary.std == tuple(float(v) for v in ckpt["std"])
    assert summary.framing == FramingProfile.from_dict(ckpt["framing"])
    # A checkpoint older than the framing profile is framed as a plain square of its input shape, alike
    # for inference and export.
    old = {k: v for k, v in ckpt.items() if k != "framing"}
    c, h, w = summary.input_shape
    assert CheckpointSummary.of(old).framing == FramingProfile(h, w, c)
    assert Predictor(old).framing == FramingProfile(h, w, c) == ModelMetadata.of_checkpoint(old).framing
    predictor = Predictor(ckpt)
    assert predictor.summary == summary and predictor.framing == summary.framing


def test_a_prediction_is_one_frozen_value(shapes_checkpoint, shapes_dataset):
    from cnnstudio.core.inference import Prediction, Predictor

    predictor = Predictor(shapes_checkpoint)
    picture = np.kron(shapes_dataset.test_images[3, 0].numpy(), np.ones((8, 8), np.uint8))
    prediction = predictor.predict(picture, "image", top=3)
    prepared, probs = predictor.predict_image(picture)
    assert _frozen(prediction) and not prediction.empty and prediction.source == "image"
    np.testing.assert_allclose(prediction.probabilities, probs, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(prediction.pixels, prepared.pixels)
    assert prediction.top == [(r["label"], r["probability"]) for r in predictor.top_k(probs, 3)]
    blank = predictor.predict(np.zeros((200, 200), np.uint8), "drawing")
    assert blank.empty and blank.top == [] and blank.probabilities is None and blank.pixels is None
    assert Prediction.nothing() == Prediction([], True, None, None, False, "drawing", 0.0)


# -- Model ------------------------------------------------------------------------------------------------
def test_model_session_starts_on_the_recommended_preset_and_follows_the_data(qtbot, state, shapes_dataset):
    from cnnstudio.core.training.recommend import default_config
    from cnnstudio.ui.sessions.model_session import ModelSession

    session = ModelSession(state)
    chosen, edited = [], []
    session.presetChosen.connect(chosen.append)
    session.edited.connect(edited.append)
    session.start()
    recommended = default_config("shapes").model
    assert chosen == [recommended] and edited == [0] and session.auto and session.base == recommended
    assert state.spec["name"] == recommended and state.spec_valid == session.report.ok
    with qtbot.waitSignal(session.inputChanged, timeout=1000):
        state.set_dataset(shapes_dataset, "fashion-mnist")  # only the name decides the recommendation
    assert session.spec["name"] == default_config("fashion-mnist").model and session.proposal is None
    assert session.input_shape == tuple(shapes_dataset.input_shape)
    session.shutdown()


def test_model_session_edits_make_the_spec_the_users_own(qtbot, shapes_state):
    from cnnstudio.ui.sessions.model_session import ModelSession

    session = ModelSession(shapes_state)
    session.start()
    base = session.base
    customized, edited = [], []
    session.customized.connect(lambda: customized.append(1))
    session.edited.connect(edited.append)
    n = len(session.spec["layers"])
    assert session.add_layer("dropout", 99) == n  # clamped: appended
    assert session.spec["name"] == f"custom (based on {base})" and session.custom and not session.auto
    session.move_layer(n, -1)
    assert session.spec["layers"][n - 1]["type"] == "dropout"
    assert session.set_layer_param(n - 1, "p", 0.3) and session.spec["layers"][n - 1]["p"] == 0.3
    assert not session.set_layer_param(99, "p", 0.3)
    session.remove_layer(n - 1)
    assert len(session.spec["layers"]) == n
    assert customized == [1]  # announced once, at the first edit
    assert edited == [n, n - 1, None, n - 1]
    assert shapes_state.spec == session.spec
    session.shutdown()


def test_model_session_proposes_the_recommended_model_and_remembers_keep(qtbot, shapes_state, shapes_dataset):
    from cnnstudio.core.training.recommend import default_config
    from cnnstudio.ui.sessions.model_session import ModelSession

    state = shapes_state
    session = ModelSession(state)
    session.start()
    assert session.select_preset("resnet18-imagenet")
    with qtbot.waitSignal(session.proposalChanged, timeout=1000) as asked:
        state.set_dataset(shapes_dataset, "fashion-mnist")
    recommended = default_config("fashion-mnist").model
    assert asked.args[1] == recommended and recommended in asked.args[0]
    assert session.spec["name"] == "resnet18-imagenet"  # never replaced silently
    session.keep_current()
    assert session.proposal is None
    state.set_dataset(shapes_dataset, "fashion-mnist")
    assert session.proposal is None  # kept for this data: not asked again
    state.set_dataset(shapes_dataset, "shapes")
    assert session.proposal == default_config("shapes").model
    assert session.accept_proposal() and session.auto and session.spec["name"] == default_config("shapes").model
    session.shutdown()


def test_model_session_opens_and_saves_specs_and_says_why_a_file_is_refused(qtbot, shapes_state, tmp_path):
    from cnnstudio.ui.sessions.model_session import ModelSession

    session = ModelSession(shapes_state)
    session.start()
    before = session.spec
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with qtbot.waitSignal(session.failed, timeout=1000) as failed:
        assert not session.load_json(bad)
    assert failed.args[0] == "Could not open the model file" and failed.args[1]
    assert session.spec == before
    session.add_layer("dropout", 0)
    path = tmp_path / session.file_name()
    assert path.name.startswith("custom--based-on-") and path.suffix == ".json"
    assert session.save_json(path) and json.loads(path.read_text(encoding="utf-8"))["name"] == session.spec["name"]
    with qtbot.waitSignal(session.fileLoaded, timeout=1000):
        assert session.load_json(path)
    assert session.source_file == str(path) and not session.custom and not session.auto
    assert session.spec["layers"] == json.loads(path.read_text(encoding="utf-8"))["layers"]
    with qtbot.waitSignal(session.failed, timeout=1000):
        assert not session.select_preset("no-such-preset")
    session.shutdown()


def test_model_session_finds_the_backbone_layer(qtbot, shapes_state):
    from cnnstudio.core.models.backbones import BackboneStages
    from cnnstudio.ui.sessions.model_session import ModelSession

    session = ModelSession(shapes_state)
    session.start()
    assert session.backbone_layer() is None
    session.select_preset("resnet18-imagenet")
    layer = session.backbone_layer()
    assert layer is not None and layer["type"] == "backbone" and layer["arch"] == "resnet18"
    with qtbot.waitSignal(session.backbone.stagesReady, timeout=TIMEOUT) as got:
        session.backbone.show(layer)
    stages = got.args[0]
    assert isinstance(stages, BackboneStages) and _frozen(stages) and stages.arch == "resnet18"
    assert stages.train == layer["train"] and stages.resolution == layer["resolution"] and stages.rows
    session.shutdown()


# -- Inspect ----------------------------------------------------------------------------------------------
@pytest.fixture
def inspect_session(qtbot, shapes_state, shapes_checkpoint):
    from cnnstudio.ui.sessions.inspect_session import InspectSession

    session = InspectSession(shapes_state)
    with qtbot.waitSignal(session.modelLoaded, timeout=TIMEOUT) as loaded:
        shapes_state.set_checkpoint(shapes_checkpoint)
    context = loaded.args[0]
    assert _frozen(context) and context.dataset is shapes_state.dataset and context.from_app
    yield session
    session.shutdown()


def test_inspect_session_chooses_the_input(qtbot, inspect_session, shapes_dataset):
    from cnnstudio.ui.sessions.inspect_session import InspectInput

    session = inspect_session
    with qtbot.waitSignal(session.inputChosen, timeout=1000) as chosen:
        session.show_test(5)
    shown = chosen.args[0]
    assert isinstance(shown, InspectInput) and _frozen(shown) and shown.kind == "test"
    np.testing.assert_array_equal(shown.pixels, shapes_dataset.test_images[5].numpy())
    assert shown.true_class == int(shapes_dataset.test_labels[5]) and "Test image 5 of" in shown.description
    n = session.test_count()
    with qtbot.waitSignal(session.inputRefused, timeout=1000) as refused:
        session.show_test(n + 3)
    assert f"There is no test image {n + 3}" in refused.args[0]
    session.choose_test(n - 1)
    with qtbot.waitSignal(session.inputChosen, timeout=1000) as chosen:
        session.step_test(1)  # wraps around
    assert session.test_index == 0 and chosen.args[0].kind == "test"
    # The drawing: followed once asked for; one of another model's shape is refused with a reason.
    drawing = shapes_dataset.test_images[7].numpy()
    session.set_drawing(drawing)
    with qtbot.waitSignal(session.inputChosen, timeout=1000) as chosen:
        session.follow_drawing()
    assert chosen.args[0].kind == "drawing" and np.array_equal(chosen.args[0].pixels, drawing)
    with qtbot.waitSignal(session.inputChosen, timeout=1000) as chosen:
        session.set_drawing(np.zeros((3, 9, 9), np.uint8))
    assert chosen.args[0].pixels is None and "another model" in chosen.args[0].description
    # A picture of the model's input shape is used as it is; another one is framed in the background.
    with qtbot.waitSignal(session.inputChosen, timeout=1000) as chosen:
        session.show_image(drawing, "as given")
    assert chosen.args[0].kind == "image" and "as given" in chosen.args[0].description
    big = np.kron(drawing[0], np.ones((4, 4), np.uint8))
    with qtbot.waitSignal(session.inputChosen, timeout=TIMEOUT) as chosen:
        session.show_image(big, "big.png")
    assert chosen.args[0].pixels.shape == drawing.shape and "framed like the training images" in \
        chosen.args[0].description


def test_inspect_session_sends_typed_inspections_and_mosaics(qtbot, inspect_session, shapes_dataset):
    from cnnstudio.core.inspection.mosaic import FilterMosaic, InspectionResult, LayerSection
    from cnnstudio.ui.sessions.inspect_session import Inspected, InspectRequest

    session = inspect_session
    request = InspectRequest(shapes_dataset.test_images[0].numpy(), None, None, False, "map")
    with qtbot.waitSignal(session.inspected, timeout=TIMEOUT) as got:
        session.inspect(request)
    inspected = got.args[0]
    assert isinstance(inspected, Inspected) and inspected.request is request
    result = inspected.result
    assert isinstance(result, InspectionResult) and _frozen(result) and result.ms > 0
    assert result.sections and all(isinstance(s, LayerSection) and _frozen(s) for s in result.sections)
    assert result.sections[-1].kind == "vector" and result.sections[-1].values.shape == (len(shapes_dataset.classes),)
    first = session.context.conv_layers[0].key
    with qtbot.waitSignal(session.filtersReady, timeout=TIMEOUT) as got:
        assert session.show_filters(first, True)
    mosaic = got.args[0]
    assert isinstance(mosaic, FilterMosaic) and _frozen(mosaic) and mosaic.kind == "weights" and mosaic.key == first
    assert mosaic.grid is not None and mosaic.layout.count == mosaic.grid.out_channels * mosaic.layout.shown_inputs
    with qtbot.waitSignal(session.filtersReady, timeout=TIMEOUT) as got:
        assert session.show_patches(first)
    patches = got.args[0]
    assert patches.kind == "patches" and patches.patches is not None and patches.display.shape[2] == 4


def test_inspect_session_loads_a_hidden_pages_training_reload_when_shown(qtbot, inspect_session, shapes_checkpoint):
    session = inspect_session
    session.training_epoch(shapes_checkpoint, now=False)  # the page is hidden: nothing loads yet
    assert not session.loading
    with qtbot.waitSignal(session.modelLoaded, timeout=TIMEOUT) as loaded:
        session.load_deferred()
    assert loaded.args[0].live
    session.training_epoch(shapes_checkpoint, now=False)
    session.set_checkpoint(shapes_checkpoint)  # a model chosen since makes the waiting reload stale
    qtbot.waitUntil(lambda: not session.loading, timeout=TIMEOUT)
    session.load_deferred()
    assert not session.loading


# -- Draw ---------------------------------------------------------------------------------------------------
def test_draw_session_sends_predictions_and_pictures_as_typed_values(qtbot, shapes_state, shapes_checkpoint, tmp_path):
    from PIL import Image

    from cnnstudio.core.inference import Prediction
    from cnnstudio.ui.sessions.draw_session import DrawSession, OpenedPicture

    draw = DrawSession(shapes_state)
    with qtbot.waitSignal(draw.modelChanged, timeout=TIMEOUT):
        draw.set_checkpoint(shapes_checkpoint)
    with qtbot.waitSignal(draw.predicted, timeout=1000) as got:
        draw.clear_prediction()
    assert got.args[0] == Prediction.nothing("drawing")
    path = tmp_path / "big.png"
    Image.new("RGB", (2000, 1000), "white").save(path)
    with qtbot.waitSignal(draw.imageOpened, timeout=TIMEOUT) as got:
        draw.open_image(str(path))
    opened = got.args[0]
    assert isinstance(opened, OpenedPicture) and _frozen(opened) and opened.name == "big.png"
    assert opened.image.size == (2000, 1000) and opened.display.shape == (512, 1024, 4)
    draw.shutdown()


# -- Data ---------------------------------------------------------------------------------------------------
def test_sample_picker_draws_the_same_first_view_of_a_class(shapes_dataset):
    from cnnstudio.ui.sessions.data_session import SamplePicker

    picker = SamplePicker(shapes_dataset)
    first = picker.pick(2, 16)
    assert len(first.labels) == 16 and set(first.labels.tolist()) == {2}
    assert first.captions == [shapes_dataset.classes[2]] * 16
    assert np.array_equal(SamplePicker(shapes_dataset).pick(2, 16).images, first.images)  # the same first view
    assert len(picker.picked(4).labels) == 4 and np.array_equal(picker.picked(4).labels, first.labels[:4])
    assert picker.counts.sum() == len(shapes_dataset.train_labels)
    empty = SamplePicker()
    assert len(empty.pick(None, 8).labels) == 0


def test_the_recommended_preset_is_read_from_the_state_not_decided_again(qtbot, shapes_state, monkeypatch):
    """Decide once: the preset the Model page recommends is AppState.recommendation's model; asking for it
    does not run recommend() again (it used to call default_config itself)."""
    from cnnstudio.core.training import recommend as recommend_module
    from cnnstudio.ui.sessions.model_session import ModelSession

    session = ModelSession(shapes_state)
    expected = shapes_state.recommendation.config.model  # made here, once, for this data and model
    calls = []
    real = recommend_module.recommend
    monkeypatch.setattr(recommend_module, "recommend", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert session.recommended_preset() == expected
    assert calls == []
    session.shutdown()
