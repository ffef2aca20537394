"""TrainSession without widgets: what a Start, a "Train next", the queue and a continued run do, the
learning-rate finder decision, how a run's end is described (from the typed RunResult), and the
recommendation AppState holds for the current data and model."""

from __future__ import annotations

import pytest

from cnnstudio.core.models.presets import get_preset
from cnnstudio.core.training.events import RunResult
from cnnstudio.ui.sessions.train_session import QUEUE_GAP_MS, Launch, RunEnd, TrainSession, describe_end

TIMEOUT = 120_000
# A short run on shapes: one epoch of 300 pictures, on the CPU.
FORM = {"epochs": 1, "limit_train": 300, "batch_size": 50, "device": "cpu", "precision": "auto"}
# A custom network no measured recipe fits (deep, no normalisation): its learning rate comes from the finder.
DEEP_PLAIN = {"name": "deep-plain", "layers": [
    *[layer for _ in range(7) for layer in ({"type": "conv", "out": 8, "kernel": 3, "padding": 1}, {"type": "relu"})],
    {"type": "flatten"}, {"type": "linear", "out": "classes"}]}


def record(session: TrainSession) -> dict[str, list]:
    """What the session says, by signal."""
    seen: dict[str, list] = {"launched": [], "refused": [], "rejected": [], "log": [], "ended": []}
    session.launched.connect(seen["launched"].append)
    session.refused.connect(seen["refused"].append)
    session.rejected.connect(lambda title, message: seen["rejected"].append((title, message)))
    session.log.connect(seen["log"].append)
    session.ended.connect(lambda result, failure: seen["ended"].append((result, failure)))
    return seen


@pytest.fixture
def session(qtbot, shapes_state):
    shapes_state.set_spec(get_preset("tiny-bn-cnn"), True)
    s = TrainSession(shapes_state)
    yield s
    s.shutdown()


def test_a_start_that_cannot_happen_says_why_and_starts_nothing(qtbot, state):
    session = TrainSession(state)
    seen = record(session)
    assert session.start_new(dict(FORM)) is False
    assert seen["refused"] and "Load a dataset" in seen["refused"][-1]
    assert session.queue_current(dict(FORM)) is False and len(state.queue) == 0
    assert not session.is_running() and not seen["launched"]


def test_bad_settings_are_rejected_with_a_title_and_a_sentence(qtbot, session, tmp_path):
    seen = record(session)
    assert session.start_new(dict(FORM), {"lr": float("inf")}) is False
    title, message = seen["rejected"][-1]
    assert title == "These settings cannot be used" and "learning rate" in message
    assert session.continue_run(str(tmp_path / "missing.pt"), 2, "cpu") is False
    title, message = seen["rejected"][-1]
    assert title == "Cannot continue from this checkpoint" and "does not exist" in message
    assert not session.is_running() and not seen["launched"]


def test_a_start_launches_one_run_and_ends_with_a_run_result(qtbot, session):
    seen = record(session)
    with qtbot.waitSignal(session.ended, timeout=TIMEOUT) as ended:
        assert session.start_new(dict(FORM), {"seed": 3})
        assert session.is_running() and session.state.training
        assert session.start_new(dict(FORM)) is False  # one run at a time
    (launch,) = seen["launched"]
    assert isinstance(launch, Launch) and launch.resume_from is None and not launch.find_lr
    assert launch.show_config and launch.config.seed == 3 and launch.config.model == "tiny-bn-cnn"
    result, failure = ended.args
    assert isinstance(result, RunResult) and failure is None
    assert result.status == "finished" and result.ended_well and result.epochs == 1
    assert session.last_result is result and not session.is_running() and not session.state.training
    # A continued run starts from the checkpoint with the form's epochs and device; the finder never runs.
    with qtbot.waitSignal(session.ended, timeout=TIMEOUT) as ended:
        assert session.continue_run(result.last_checkpoint, 2, "cpu")
    launch = seen["launched"][-1]
    assert launch.resume_from == result.last_checkpoint and not launch.find_lr and not launch.show_config
    assert ended.args[0].status == "finished" and ended.args[0].run_dir == result.run_dir
    assert ended.args[0].epochs == 2


def test_the_queue_runs_one_after_another_and_a_stop_holds_it(qtbot, session):
    state = session.state
    seen = record(session)
    assert session.queue_current(dict(FORM), {"lr": 0.004})
    assert session.queue_current(dict(FORM, batch_size=60))
    assert [(e.config.lr, e.config.batch_size) for e in state.queue.entries] == [(0.004, 50), (pytest.approx(
        state.recommendation.config.lr), 60)]
    assert seen["log"][:2] == [f"Queued #1: {state.queue.entries[0].summary()}",
                               f"Queued #2: {state.queue.entries[1].summary()}"]
    assert not seen["launched"]  # queued, not started
    assert session.start_queue()
    assert session.is_running() and len(state.queue) == 1
    assert seen["launched"][-1].show_config and seen["launched"][-1].config.lr == 0.004
    assert any(line.startswith("From the queue: ") for line in seen["log"])
    # The second starts by itself once the first has ended, after the gap.
    qtbot.waitUntil(lambda: len(seen["ended"]) == 2, timeout=2 * TIMEOUT)
    assert [r.status for r, _ in seen["ended"]] == ["finished", "finished"]
    assert [launch.config.batch_size for launch in seen["launched"]] == [50, 60]
    qtbot.waitUntil(lambda: not session.is_running(), timeout=10_000)
    assert len(state.queue) == 0

    # Stop means stop: the run ends as stopped and the queue waits, held.
    assert session.queue_current(dict(FORM, epochs=30, limit_train=3000, batch_size=16))
    assert session.queue_current(dict(FORM))
    assert session.start_queue()
    qtbot.waitUntil(lambda: session.current_step > 0, timeout=TIMEOUT)
    with qtbot.waitSignal(session.ended, timeout=TIMEOUT) as ended:
        assert session.stop()
    assert ended.args[0].status == "stopped"
    qtbot.wait(3 * QUEUE_GAP_MS)
    assert not session.is_running() and state.queue.held and len(state.queue) == 1
    assert "The queue is held (1 waiting)" in seen["log"][-1]
    state.queue.clear()


def test_the_finder_decision_follows_the_recommendation(qtbot, shapes_state):
    session = TrainSession(shapes_state)
    shapes_state.set_spec(get_preset("tiny-bn-cnn"), True)
    cfg = session.form_config(dict(FORM))
    assert not session.lr_from_finder(cfg)  # a preset has a measured recipe
    shapes_state.set_spec(DEEP_PLAIN, True)
    rec = shapes_state.recommendation
    assert rec.lr_auto
    cfg = session.form_config(dict(FORM, lr=rec.config.lr))
    assert session.lr_from_finder(cfg)  # the recommended rate: the finder chooses
    assert not session.lr_from_finder(session.form_config(dict(FORM, lr=0.002)))  # a typed rate is the user's
    assert session.queue_current(dict(FORM, lr=rec.config.lr))
    assert shapes_state.queue.entries[0].find_lr
    shapes_state.queue.clear()
    # The finder's request: the form's config and the app's data.
    cfg, data = session.finder_request(dict(FORM))
    assert cfg.model == "deep-plain" and data is shapes_state.dataset


def test_app_state_recommends_once_per_data_and_model(qtbot, shapes_state, monkeypatch):
    import cnnstudio.core.training.recommend as recommend_module

    calls = []
    real = recommend_module.recommend
    monkeypatch.setattr(recommend_module, "recommend", lambda *a, **k: calls.append(a) or real(*a, **k))
    shapes_state.set_spec(get_preset("tiny-bn-cnn"), True)
    first = shapes_state.recommendation
    assert shapes_state.recommendation is first and len(calls) == 1  # held, not made again
    TrainSession(shapes_state).form_config(dict(FORM))
    assert len(calls) == 1  # the session reads it too
    shapes_state.set_spec(DEEP_PLAIN, True)
    assert shapes_state.recommendation is not first and len(calls) == 2
    shapes_state.set_dataset(shapes_state.dataset, "shapes")  # the same data again: nothing new to decide
    assert len(calls) == 2


def test_describe_end_reads_the_run_result():
    finished = RunResult("finished", "finished: 2 epochs", run_dir="/runs/a", checkpoint="/runs/a/best.pt",
                         test_accuracy=0.931, best_val_accuracy=0.94, best_epoch=2)
    end = describe_end(finished, None, 65)
    assert isinstance(end, RunEnd) and end.kind == "success" and end.status == "finished"
    assert end.banner == ("Finished in 1:05: test accuracy 93.1 %, best validation accuracy 94.0 % (epoch 2). "
                          "The best checkpoint is now used by Evaluate, Inspect and Draw.")
    assert "Saved as run 'a'" in end.status_text
    early = describe_end(RunResult("early-stopped", "", run_dir="/runs/b"), None, 5)
    assert end.kind == early.kind and early.banner.startswith("Stopped early (no more improvement) in 0:05")
    stopped = describe_end(RunResult("stopped", "stopped by the user", run_dir="/runs/c"), None, 5)
    assert stopped.kind == "warning" and "Continue a run" in stopped.banner
    assert stopped.status_text.startswith("Stopped by the user. Saved as run 'c'")
    before = describe_end(RunResult("stopped", "stopped while finding the learning rate"), None, 1)
    assert "before training began: nothing was saved" in before.banner
    failed = describe_end(RunResult("failed", "out of memory"), None, 3)
    assert failed.kind == "error" and failed.banner == "Training failed: out of memory"
    assert failed.log_line == "FAILED: out of memory" and "out of memory" not in failed.status_text
    assert describe_end(RunResult("failed", "x"), ("a bug", "Traceback"), 3).banner == "Training failed: a bug"


def test_run_result_writes_result_json_key_for_key():
    """result.json's object, as run folders already on disk hold it: the keys in their order."""
    failed = RunResult("failed", "bad", run_dir="/r", phase="setup", recoveries=({"step": 3},), details="tb",
                       history={"epoch": []})
    assert list(failed.to_dict()) == ["status", "message", "run_dir", "phase", "epochs", "best_val_accuracy",
                                      "recoveries"]
    assert failed.to_dict()["recoveries"] == [{"step": 3}]
    ended = RunResult("stopped", "stopped", run_dir="/r", epochs=1)
    keys = ["status", "message", "run_dir", "checkpoint", "last_checkpoint", "epochs", "global_step",
            "total_steps", "device", "precision", "threads", "world_size", "best_val_accuracy", "best_epoch",
            "train_samples_per_second", "skipped_files", "recoveries"]
    assert list(ended.to_dict()) == keys
    tested = RunResult("finished", "", test_accuracy=0.5, test_loss=1.0)
    assert list(tested.to_dict()) == keys + ["test_accuracy", "test_loss"]
