"""Sessions without widgets: each page's state, decisions and background calls, driven directly.

No widget is created here: a session is a QObject, and these tests only need the event loop that
delivers its background results (pytest-qt's qtbot).
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

TIMEOUT = 60_000


@pytest.fixture(autouse=True)
def _no_widgets_created(qtbot):
    before = set(QApplication.allWidgets())  # earlier tests' widgets may still be on their way out
    yield
    created = set(QApplication.allWidgets()) - before
    assert not created, f"a session test created widgets: {[type(w).__name__ for w in created][:5]}"


def test_one_checkpoint_is_loaded_once_for_every_page(qtbot, shapes_state, shapes_checkpoint, monkeypatch):
    from cnnstudio.core import model_context
    from cnnstudio.ui.sessions.draw_session import DrawSession
    from cnnstudio.ui.sessions.evaluate_session import EvaluateSession
    from cnnstudio.ui.sessions.inspect_session import InspectSession

    calls = []
    real = model_context.load_context
    monkeypatch.setattr(model_context, "load_context", lambda *a, **k: (calls.append(a[0]), real(*a, **k))[1])
    draw, evaluate, inspect = (DrawSession(shapes_state), EvaluateSession(shapes_state),
                               InspectSession(shapes_state))
    with qtbot.waitSignals([draw.modelChanged, inspect.modelLoaded, evaluate.evaluated], timeout=TIMEOUT):
        shapes_state.set_checkpoint(shapes_checkpoint)
    assert calls == [shapes_checkpoint]
    assert draw.predictor is inspect.context.predictor is evaluate.result.context.predictor


def test_a_failed_load_keeps_the_model_in_use(qtbot, shapes_state, shapes_checkpoint, tmp_path):
    from cnnstudio.ui.sessions.draw_session import DrawSession

    draw = DrawSession(shapes_state)
    with qtbot.waitSignal(draw.modelChanged, timeout=TIMEOUT):
        draw.set_checkpoint(shapes_checkpoint)
    model = draw.predictor
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with qtbot.waitSignal(draw.modelFailed, timeout=TIMEOUT) as failed:
        draw.set_checkpoint(str(bad))
    assert failed.args[0] == str(bad) and "not a readable checkpoint" in failed.args[1]
    assert draw.predictor is model and shapes_state.model.path == shapes_checkpoint


def test_draw_session_predicts_like_the_core(qtbot, shapes_state, shapes_checkpoint, shapes_dataset):
    from cnnstudio.core.inference import Predictor
    from cnnstudio.ui.sessions.draw_session import DrawSession

    draw = DrawSession(shapes_state)
    with qtbot.waitSignal(draw.modelChanged, timeout=TIMEOUT):
        draw.set_checkpoint(shapes_checkpoint)
    picture = np.kron(shapes_dataset.test_images[3, 0].numpy(), np.ones((8, 8), np.uint8))  # 224x224
    with qtbot.waitSignal(draw.predicted, timeout=TIMEOUT) as got:
        draw.predict(lambda: (picture, "image"))
    prediction = got.args[0]
    expected = Predictor(shapes_checkpoint).predict_image(picture)[1]
    np.testing.assert_allclose(prediction.probabilities, expected, rtol=1e-5, atol=1e-6)
    assert prediction.top[0][0] == shapes_dataset.classes[int(np.argmax(expected))]


def test_evaluate_session_matches_an_independent_count(qtbot, shapes_state, shapes_checkpoint, shapes_dataset):
    from cnnstudio.core.inference import Predictor
    from cnnstudio.ui.sessions.evaluate_session import EvaluateSession

    session = EvaluateSession(shapes_state)
    progress = []
    session.progress.connect(lambda done, total: progress.append((done, total)))
    with qtbot.waitSignal(session.evaluated, timeout=TIMEOUT) as got:
        shapes_state.set_checkpoint(shapes_checkpoint)
    ev = got.args[0].evaluation
    labels = shapes_dataset.test_labels.numpy()
    preds = Predictor(shapes_checkpoint).probabilities(shapes_dataset.test_images.numpy()).argmax(axis=1)
    counts = np.zeros((len(shapes_dataset.classes),) * 2, int)
    for t, p in zip(labels, preds):
        counts[t, p] += 1
    assert np.array_equal(ev.confusion_matrix(), counts)
    assert ev.accuracy == pytest.approx(np.trace(counts) / len(labels))
    assert progress and progress[0] == (0, len(labels))


def test_train_session_decides_what_blocks_a_start(qtbot):
    from cnnstudio.core.errors import CNNStudioError
    from cnnstudio.core.models.presets import get_preset
    from cnnstudio.ui.sessions.train_session import TrainSession
    from cnnstudio.ui.compose import app_state

    state = app_state()
    session = TrainSession(state)
    assert "Load a dataset" in session.start_blocker(None)
    from cnnstudio.core.datasets import load_dataset

    state.set_dataset(load_dataset("shapes"), "shapes")
    assert "Choose a model" in session.start_blocker(None)
    bad = get_preset("tiny-bn-cnn")
    bad["layers"][4]["kernel"] = 40
    state.set_spec(bad, False)
    assert "Layer 5" in session.start_blocker(None)
    state.set_spec(get_preset("tiny-bn-cnn"), True)
    assert session.start_blocker(None) is None
    assert session.start_blocker("fp16 is not possible here") == "fp16 is not possible here"
    cfg = session.build_config({"epochs": 2}, None, {"lr": 0.01})
    assert cfg.epochs == 2 and cfg.lr == 0.01 and cfg.model == "tiny-bn-cnn" and cfg.dataset == "shapes"
    with pytest.raises(CNNStudioError, match="learning rate"):
        session.build_config({}, None, {"lr": float("inf")})
    with pytest.raises(CNNStudioError, match="unknown training setting"):
        session.build_config({}, None, {"learning_rate": 0.1})
    assert session.resolved_precision("cpu", "fp16")[1].startswith("fp16 training is not supported")


def test_train_session_reports_one_run_and_ignores_an_older_one(qtbot, shapes_state):
    from cnnstudio.core.models.presets import get_preset
    from cnnstudio.core.training.events import EpochEvent, StartedEvent, StepEvent
    from cnnstudio.ui.sessions.train_session import TrainSession

    shapes_state.set_spec(get_preset("tiny-bn-cnn"), True)
    session = TrainSession(shapes_state)
    steps, epochs = [], []
    session.steps.connect(steps.extend)
    session.epoch.connect(epochs.append)
    cfg = session.build_config({"epochs": 1, "limit_train": 300, "batch_size": 50, "device": "cpu"}, None)
    with qtbot.waitSignal(session.ended, timeout=TIMEOUT) as ended:
        session.start(cfg, None)
    result, failure = ended.args
    assert result.status == "finished" and failure is None and not session.is_running()
    assert all(isinstance(s, StepEvent) for s in steps) and [e.epoch for e in epochs] == [1]
    assert isinstance(epochs[0], EpochEvent) and session.current_step == steps[-1].global_step
    old = session.generation - 1
    session.receive_steps(old, [StepEvent(1, 1, 1, 1, 999, 999, 1.0, 0.5, 0.1, 1.0, 0.0, 0.0)])
    session.receive_started(old, StartedEvent("x", "cpu", "cpu", "fp32", 1, 1, 1, 1, 9, 9, 0, 1), None)
    assert session.current_step == steps[-1].global_step and len(steps) == len(set(id(s) for s in steps))


def test_data_session_the_newest_load_wins(qtbot):
    from cnnstudio.ui.sessions.data_session import DataSession
    from cnnstudio.ui.compose import app_state

    session = DataSession(app_state())
    loaded = []
    session.loaded.connect(lambda key, ds: loaded.append(key))
    session.load("shapes")
    session.load("shapes")  # asked again before the first finished: only the newest answers
    qtbot.waitUntil(lambda: bool(loaded) and not session.loading, timeout=TIMEOUT)
    qtbot.wait(50)
    assert loaded == ["shapes"]
