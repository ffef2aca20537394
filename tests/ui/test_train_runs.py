"""The Train and Runs pages, driven like a user would (pytest-qt, offscreen).

Trainings here are tiny (tiny-bn-cnn, a few hundred shapes images, 1-3 epochs) so the file runs in
well under a minute on 2 CPU cores. Waits are on signals and conditions with timeouts, never sleeps;
the only fixed wait is the half second during which a paused run must not move.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextTable

from cnnstudio.core import paths
from cnnstudio.core.models.presets import get_preset
from cnnstudio.core.training.events import EpochEvent, LogEvent, StepEvent
from cnnstudio.ui.compose import app_state

# Waits for what the Runs page reads in the background: the first call of a process imports torch.
BACKGROUND_MS = 30_000

ROOT = Path(__file__).resolve().parents[2]
TRAIN_TIMEOUT_MS = 120_000
# Long enough that Stop / Pause land mid-run: 3 epochs of ~110 steps on 1,800 images, batch 16.
LONG_RUN = {"epochs": 3, "limit_train": 2000, "batch_size": 16}


@pytest.fixture(scope="session")
def shapes(shapes_dataset):
    return shapes_dataset  # loaded once for the session (conftest)


@pytest.fixture
def state(shapes):
    st = app_state()
    st.set_dataset(shapes, "shapes")
    st.set_spec(get_preset("tiny-bn-cnn"), True)
    return st


@pytest.fixture
def train_page(qtbot, state):
    from cnnstudio.ui.pages.train_page import TrainPage

    page = TrainPage(state)
    qtbot.addWidget(page)
    page.resize(1040, 760)
    page.show()
    yield page
    page.shutdown()


def set_form(page, epochs: int, limit: int, batch: int) -> None:
    page.form.epochs_spin.setValue(epochs)
    page.form.limit_spin.setValue(limit)
    page.form.batch_spin.setValue(batch)


def train_once(qtbot, page, **overrides) -> dict:
    with qtbot.waitSignal(page.runFinished, timeout=TRAIN_TIMEOUT_MS) as blocker:
        assert page.start_training(overrides)
    return blocker.args[0]


# -- Train page ---------------------------------------------------------------------------------------


def test_start_button_trains_and_charts_hold_the_history(qtbot, train_page, state):
    page = train_page
    set_form(page, epochs=2, limit=300, batch=32)
    assert page.start_button.isEnabled()
    finished_on_state, checkpoints = [], []
    state.runFinished.connect(finished_on_state.append)
    state.checkpointChanged.connect(checkpoints.append)

    with qtbot.waitSignal(page.runStarted, timeout=TRAIN_TIMEOUT_MS):
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert page.is_running() and state.training
    assert not page.start_button.isEnabled() and page.stop_button.isEnabled()
    # What runs is shown read-only above the form, which stays editable: it holds the next run's settings.
    assert page.form.epochs_spin.isEnabled() and page.form.running_box.isVisible()
    with qtbot.waitSignal(page.runFinished, timeout=TRAIN_TIMEOUT_MS) as blocker:
        pass
    result = blocker.args[0]
    assert result.status == "finished", result.message
    history = result.history

    # Every logged step reached the chart (coalesced, never dropped), in order.
    x, y = page.charts.curve_data("step_loss")
    assert len(x) > 0
    assert list(x) == history["steps"]["step"]
    assert np.allclose(y, history["steps"]["loss"])
    assert len(page.charts.curve_data("step_loss_smooth")[0]) == len(x)
    assert np.allclose(page.charts.curve_data("lr")[1], history["steps"]["lr"])
    for key in ("epoch_train_loss", "epoch_val_loss", "epoch_train_acc", "epoch_val_acc"):
        ex, ey = page.charts.curve_data(key)
        assert list(ex) == [1, 2], key
    assert np.allclose(page.charts.curve_data("epoch_val_acc")[1], 100 * np.array(history["val_accuracy"]))
    assert page.current_step == page.total_steps == history["steps"]["step"][-1]

    assert page.progress_bar.value() == page.progress_bar.maximum()
    assert "100" in page.progress_bar.text()
    assert not page.is_running() and not state.training
    assert page.start_button.isEnabled() and not page.stop_button.isEnabled()
    assert finished_on_state and finished_on_state[-1].status == "finished"
    assert checkpoints[-1] == result.checkpoint and Path(result.checkpoint).name == "best.pt"
    assert state.checkpoint_path == result.checkpoint and Path(result.checkpoint).is_file()
    log = page.log_view.toPlainText()
    assert "Epoch 2/2" in log and "Finished" in log
    assert page.banner.property("kind") == "success"


def test_stop_ends_the_run_within_two_seconds_and_leaves_last_pt(qtbot, train_page):
    from cnnstudio.core.checkpoint import load_checkpoint

    page = train_page
    assert page.start_training({**LONG_RUN, "epochs": 20})
    qtbot.waitUntil(lambda: page.current_step > 0, timeout=TRAIN_TIMEOUT_MS)
    with qtbot.waitSignal(page.runFinished, timeout=10_000) as blocker:
        t0 = time.monotonic()
        qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    elapsed = time.monotonic() - t0
    result = blocker.args[0]
    assert result.status == "stopped"
    assert elapsed < 2.0, f"stopping took {elapsed:.2f} s"
    last = Path(result.run_dir) / "last.pt"
    ckpt = load_checkpoint(last)
    assert ckpt["global_step"] >= page.current_step > 0
    assert page.progress_bar.value() < page.progress_bar.maximum()
    assert "Stopped" in page.progress_bar.text()
    assert page.banner.property("kind") == "warning" and "last.pt" in page.banner.text()


def test_pause_holds_the_step_count_and_resume_finishes(qtbot, train_page):
    page = train_page
    assert page.start_training(LONG_RUN)
    qtbot.waitUntil(lambda: page.current_step > 0, timeout=TRAIN_TIMEOUT_MS)
    with qtbot.waitSignal(page.pausedChanged, timeout=10_000,
                          check_params_cb=lambda paused: paused is True):
        qtbot.mouseClick(page.pause_button, Qt.MouseButton.LeftButton)
    assert page.is_paused()
    assert "Resume" in page.pause_button.text()
    held_step, held_progress = page.current_step, page.progress_bar.value()
    events_before = page.run.stats["step_events"]
    qtbot.wait(500)
    assert page.current_step == held_step
    assert page.progress_bar.value() == held_progress
    assert page.run.stats["step_events"] == events_before  # the trainer itself did not step
    assert held_step < page.total_steps

    with qtbot.waitSignal(page.runFinished, timeout=TRAIN_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.pause_button, Qt.MouseButton.LeftButton)  # now "Resume"
    result = blocker.args[0]
    assert result.status == "finished"
    assert page.current_step == page.total_steps > held_step
    assert page.progress_bar.value() == page.progress_bar.maximum()


def test_stop_while_paused_ends_the_run(qtbot, train_page):
    page = train_page
    assert page.start_training(LONG_RUN)
    qtbot.waitUntil(lambda: page.current_step > 0, timeout=TRAIN_TIMEOUT_MS)
    with qtbot.waitSignal(page.pausedChanged, timeout=10_000, check_params_cb=lambda paused: paused):
        page.pause()
    with qtbot.waitSignal(page.runFinished, timeout=10_000) as blocker:
        qtbot.keyClick(page, Qt.Key.Key_F5, Qt.KeyboardModifier.ShiftModifier)  # the Stop shortcut
    assert blocker.args[0].status == "stopped"
    assert "Resumed" not in page.log_view.toPlainText()


def test_keyboard_shortcuts_are_in_the_tooltips(train_page):
    page = train_page
    assert "F5" in page.start_button.toolTip()
    assert "Ctrl+P" in page.pause_button.toolTip()
    assert "Shift+F5" in page.stop_button.toolTip()


CLOSE_SCRIPT = textwrap.dedent("""
    import os, sys
    from PySide6.QtCore import QTimer
    from cnnstudio.ui.app import create_application
    app = create_application([])
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.models.presets import get_preset
    from cnnstudio.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    window.state.set_dataset(load_dataset("shapes"), "shapes")
    window.state.set_spec(get_preset("tiny-bn-cnn"), True)
    window.show_page("train")
    page = window.page("train")
    seen = []

    def first_step(step):
        if not seen:
            seen.append(step)
            print("FIRST_STEP", step, flush=True)
            QTimer.singleShot(0, window.close)

    page.stepsReceived.connect(first_step)
    page.runStarted.connect(lambda event: print("RUN_DIR", event.run_dir, flush=True))
    assert page.start_training({"epochs": 30, "limit_train": 3000, "batch_size": 16})
    QTimer.singleShot(170000, lambda: (print("TIMEOUT", flush=True), app.exit(3)))
    code = app.exec()
    print("EXIT", code, flush=True)
    sys.exit(code)
""")


def test_closing_the_window_during_training_exits_cleanly(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CNNSTUDIO_HOME=str(tmp_path / "home"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", CLOSE_SCRIPT], capture_output=True, text=True, timeout=240,
                          cwd=str(ROOT), env=env)
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    assert "QThread: Destroyed" not in err, err
    assert "FIRST_STEP" in out and "EXIT 0" in out
    run_dir = Path(next(line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("RUN_DIR")))
    last = run_dir / "last.pt"
    assert last.is_file(), out
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "stopped"
    from cnnstudio.core.checkpoint import load_checkpoint

    assert load_checkpoint(last)["global_step"] > 0


def test_invalid_spec_disables_start_and_names_the_layer(qtbot, train_page, state):
    page = train_page
    bad = get_preset("tiny-bn-cnn")
    bad["layers"][4]["kernel"] = 40  # the second conv: larger than its 15x15 input
    state.set_spec(bad, False)
    assert not page.start_button.isEnabled()
    assert "Layer 5" in page.banner.text() and "Model page" in page.banner.text()
    assert "Layer 5" in page.start_button.toolTip()
    assert page.start_training() is False and not page.is_running()
    state.set_spec(get_preset("tiny-bn-cnn"), True)
    assert page.start_button.isEnabled()
    assert "Ready" in page.banner.text()


def test_no_dataset_or_model_says_where_to_go(qtbot):
    from cnnstudio.ui.pages.train_page import TrainPage

    st = app_state()
    page = TrainPage(st)
    qtbot.addWidget(page)
    assert not page.start_button.isEnabled()
    assert "Data page" in page.banner.text() and "Data page" in page.start_button.toolTip()


def test_form_follows_the_dataset_until_edited(qtbot, train_page, state, shapes):
    from cnnstudio.core.training.recommend import default_config

    page = train_page
    state.set_dataset(shapes, "cifar10")  # pretend: only the name matters for the defaults
    cifar = default_config("cifar10")
    assert page.form.epochs_spin.value() == cifar.epochs and page.form.optimizer_combo.currentData() == "sgd"
    assert page.form.momentum_spin.isEnabled()
    page.form.epochs_spin.setValue(7)  # the user edits: a dataset change no longer overwrites the form
    state.set_dataset(shapes, "shapes")
    assert page.form.epochs_spin.value() == 7
    page.reset_form()
    assert page.form.epochs_spin.value() == default_config("shapes").epochs
    cfg = page.build_config({"limit_train": 100})
    assert cfg.spec["name"] == "tiny-bn-cnn" and cfg.model == "tiny-bn-cnn" and cfg.dataset == "shapes"
    assert cfg.limit_train == 100


def test_device_picker_lists_real_devices_and_precision(qtbot, train_page):
    page = train_page
    from cnnstudio.core.training.device import DeviceInfo

    page.on_devices([
        DeviceInfo("cuda:0", "NVIDIA H100 80GB HBM3", 85 * 2 ** 30, "CUDA 12.8"),
        DeviceInfo("cpu", "AMD EPYC", None, "2 cores, 2 threads, bf16"),
    ])
    items = [page.form.device_combo.itemText(i) for i in range(page.form.device_combo.count())]
    assert items[0].startswith("Automatic")
    assert any("H100" in t and "85 GB" in t for t in items)
    assert any(t.startswith("CPU") and "2 cores" in t for t in items)
    page.form.device_combo.setCurrentIndex(page.form.device_combo.findData("cpu"))
    page.form.precision_combo.setCurrentIndex(page.form.precision_combo.findData("fp16"))
    assert not page.start_button.isEnabled() and "fp16" in page.banner.text()
    page.form.precision_combo.setCurrentIndex(page.form.precision_combo.findData("auto"))
    assert page.start_button.isEnabled()
    assert "Automatic means" in page.form.precision_label.text()


def test_continue_from_a_bad_checkpoint_shows_a_clear_message(qtbot, train_page, tmp_path):
    page = train_page
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"this is not a checkpoint")
    with qtbot.waitSignal(page.runFailed, timeout=TRAIN_TIMEOUT_MS) as failed:
        assert page.resume_from_checkpoint(str(bad))
    assert "not a readable checkpoint" in failed.args[0]
    qtbot.waitUntil(lambda: not page.is_running(), timeout=10_000)
    assert page.error_dialog is not None and "not a readable checkpoint" in page.error_dialog.text()
    assert page.error_dialog.windowTitle() == "Cannot continue from this checkpoint"
    page.error_dialog.close()
    assert page.resume_from_checkpoint(str(tmp_path / "missing.pt")) is False
    assert "does not exist" in page.error_dialog.text()
    page.error_dialog.close()


def test_continue_from_last_pt_goes_on_with_the_history(qtbot, train_page):
    page = train_page
    first = train_once(qtbot, page, epochs=1, limit_train=300, batch_size=32)
    steps_before = len(first.history["steps"]["step"])
    page.form.epochs_spin.setValue(2)
    with qtbot.waitSignal(page.runFinished, timeout=TRAIN_TIMEOUT_MS) as blocker:
        assert page.resume_from_checkpoint(first.last_checkpoint)
    result = blocker.args[0]
    assert result.status == "finished" and result.run_dir == first.run_dir
    assert result.history["epoch"] == [1, 2]
    assert page.charts.epoch_count == 2
    assert len(page.charts.curve_data("step_loss")[0]) == len(result.history["steps"]["step"]) > steps_before


def test_late_signals_of_an_old_run_are_ignored(qtbot, train_page):
    page = train_page
    train_once(qtbot, page, epochs=1, limit_train=200, batch_size=50)
    step, points = page.current_step, page.charts.step_count
    epochs_before = page.charts.epoch_count
    old = page.session.generation - 1  # what a worker of an earlier run would still send
    page.session.receive_steps(old, [StepEvent(1, 1, 1, 1, 999, 999, 1.0, 0.5, 0.1, 1.0, 0.0, 0.0)])
    page.session.receive_epoch(old, EpochEvent(9, 9, 1.0, 0.5, None, None, 0.1, 1.0, 1.0, False, "x"))
    assert page.current_step == step and page.charts.step_count == points
    assert page.charts.epoch_count == epochs_before


def test_worker_coalesces_step_events_without_losing_any(qtbot):
    """1,000 step events in a burst reach the GUI as a handful of signals holding all 1,000 steps."""
    from cnnstudio.ui.training_worker import STEP_INTERVAL_S, TrainingWorker

    worker = TrainingWorker(1, config=None)
    batches, epochs, logs = [], [], []
    worker.steps.connect(lambda gen, steps: batches.append(steps))
    worker.epoch.connect(lambda gen, e: epochs.append(e))
    worker.log.connect(lambda gen, text: logs.append(text))
    t0 = time.monotonic()
    for i in range(1, 1001):
        worker.on_event(StepEvent(1, 1, i, 1000, i, 1000, 1.0 / i, 0.5, 0.001, 100.0, 1.0, 0.1))
    burst = time.monotonic() - t0
    worker.on_event(LogEvent("hello"))  # flushes what is pending first
    worker.on_event(EpochEvent(1, 1, 0.5, 0.8, 0.6, 0.7, 0.001, 1.0, 100.0, True, "x"))
    delivered = [s.global_step for batch in batches for s in batch]
    assert delivered == list(range(1, 1001))  # all of them, in order, the latest included
    assert len(batches) <= 2 + burst / STEP_INTERVAL_S  # one signal per interval (+ the first and the flush)
    assert logs == ["hello"] and epochs[0].epoch == 1 and isinstance(epochs[0], EpochEvent)
    assert worker.stats["step_events"] == 1000 and worker.stats["step_signals"] == len(batches)
    worker.deleteLater()


def _step(i: int, total: int = 100) -> StepEvent:
    return StepEvent(epoch=1, epochs=1, step=i, steps_per_epoch=total, global_step=i, total_steps=total, loss=1.0 / i,
                     accuracy=0.5, lr=0.1, samples_per_second=100.0, eta_seconds=1.0, elapsed_seconds=1.0)


def test_chart_interval_follows_the_gui_cpu_budget():
    """A GUI thread over its CPU budget draws the charts less often (up to the cap); an idle one goes
    back to the fastest interval."""
    from cnnstudio.ui.chart_pacing import CHART_INTERVAL_MS, CHART_MAX_INTERVAL_MS, ChartPacing

    clock = {"wall": 100.0, "cpu": 5.0}
    pacing = ChartPacing(wall=lambda: clock["wall"], cpu=lambda: clock["cpu"])
    pacing.redrew()  # the first redraw only sets the reference point
    assert pacing.interval_ms == CHART_INTERVAL_MS
    seen = []
    for _ in range(10):  # 20 % of a core, far over the budget
        clock["wall"] += 1.0
        clock["cpu"] += 0.2
        pacing.redrew()
        seen.append(pacing.interval_ms)
    assert seen == sorted(seen) and seen[0] > CHART_INTERVAL_MS
    assert seen[-1] == CHART_MAX_INTERVAL_MS
    for _ in range(10):  # 0.5 % of a core
        clock["wall"] += 1.0
        clock["cpu"] += 0.005
        pacing.redrew()
    assert pacing.interval_ms == CHART_INTERVAL_MS


def test_progress_text_is_throttled_but_the_latest_step_arrives(qtbot, train_page):
    page = train_page
    run = page.session.generation  # steps of the page's current run, as its worker reports them
    page.session.receive_steps(run, [_step(1)])
    first = page.progress_bar.format()
    assert "step 1/100" in first and page.progress_bar.value() == 10
    page.session.receive_steps(run, [_step(2)])
    page.session.receive_steps(run, [_step(3)])
    assert page.progress_bar.format() == first  # within the interval: not redrawn yet
    assert page.current_step == 3  # but the page knows where the run is
    qtbot.waitUntil(lambda: "step 3/100" in page.progress_bar.format(), timeout=2000)
    assert page.progress_bar.value() == 30


# -- Runs page ---------------------------------------------------------------------------------------


@pytest.fixture
def runs_page(qtbot, state):
    from cnnstudio.ui.compose import runs_page

    page = runs_page(state)
    qtbot.addWidget(page)
    page.resize(1040, 760)
    page.show()
    return page


def refresh(qtbot, page) -> None:
    """The page reads the runs folder in the background: `refreshed` says the table shows it."""
    with qtbot.waitSignal(page.refreshed, timeout=BACKGROUND_MS):
        page.refresh()


def select(qtbot, page, run_paths) -> None:
    """The selected runs are read in the background: `selectionShown` says the charts show them."""
    with qtbot.waitSignal(page.selectionShown, timeout=BACKGROUND_MS):
        page.select_paths([str(p) for p in run_paths])


def click_row(qtbot, page, path: str, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    table = page.table
    for i in range(table.topLevelItemCount()):
        item = table.topLevelItem(i)
        if item.data(0, Qt.ItemDataRole.UserRole) == path:
            rect = table.visualItemRect(item)
            qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())
            return
    raise AssertionError(f"{path} is not in the runs table")


def test_runs_page_reopens_a_run_and_overlays_two(qtbot, train_page, runs_page):
    a = train_once(qtbot, train_page, epochs=1, limit_train=200, batch_size=32)
    b = train_once(qtbot, train_page, epochs=2, limit_train=200, batch_size=32, lr=0.003)
    # The page refreshed itself on state.runFinished (the folders are read in the background).
    qtbot.waitUntil(lambda: not runs_page.refreshing, timeout=BACKGROUND_MS)
    assert {r.path for r in runs_page.runs} == {a.run_dir, b.run_dir}
    assert runs_page.table.topLevelItemCount() == 2
    newest = runs_page.table.topLevelItem(0)
    assert newest.data(0, Qt.ItemDataRole.UserRole) == b.run_dir  # newest first
    assert newest.text(7) == "Finished" and newest.text(4) == "2/2" and newest.text(6).endswith("%")

    with qtbot.waitSignal(runs_page.selectionShown, timeout=5000):
        click_row(qtbot, runs_page, b.run_dir)
    x, y = runs_page.charts.curve_data("step_loss")
    assert list(x) == b.history["steps"]["step"]
    assert list(runs_page.charts.curve_data("epoch_val_loss")[0]) == [1, 2]
    assert "Learning rate" in runs_page.summary.toPlainText() and "0.003" in runs_page.summary.toPlainText()

    with qtbot.waitSignal(runs_page.selectionShown, timeout=5000) as shown:
        click_row(qtbot, runs_page, a.run_dir, Qt.KeyboardModifier.ControlModifier)
    assert shown.args == [2]
    overlay = runs_page.charts.overlay_curves
    assert len(overlay) == 2
    assert {o["name"] for o in overlay} == {Path(a.run_dir).name, Path(b.run_dir).name}
    for o in overlay:
        sx, sy = o["curves"]["step_loss_smooth"].getOriginalDataset()
        assert sx is not None and len(sx) > 0
    colors = {o["curves"]["step_loss_smooth"].opts["pen"].color().name() for o in overlay}
    assert len(colors) == 2  # one colour per run
    # The run list beside the charts names the runs (it replaced the in-plot legend, issue 15).
    listed = [runs_page.run_list.tree.topLevelItem(i).text(0) for i in range(2)]
    assert sorted(listed) == sorted(o["label"] for o in overlay)  # short labels: "04:11:40 tiny-bn-cnn"
    assert all("tiny-bn-cnn" in name for name in listed)
    assert "Comparing 2 runs" in runs_page.summary.toPlainText()
    # Issue 15, item 4: in a narrow panel the setting names stay whole words on one line.
    runs_page.summary.setFixedWidth(240)
    qtbot.waitUntil(lambda: runs_page.summary.viewport().width() <= 240, timeout=2000)
    doc = runs_page.summary.document()
    doc.setTextWidth(runs_page.summary.viewport().width())
    tables = [f for f in doc.rootFrame().childFrames() if isinstance(f, QTextTable)]
    assert tables
    names = [tables[0].cellAt(r, 0).firstCursorPosition().block() for r in range(1, tables[0].rows())]
    assert {"Best val. accuracy", "Augmentation"} <= {b.text().replace("\xa0", " ") for b in names}
    assert all(b.layout().lineCount() == 1 for b in names), [(b.text(), b.layout().lineCount()) for b in names]

    # "Use this model" points Evaluate / Inspect / Draw at the run's best checkpoint.
    click_row(qtbot, runs_page, a.run_dir)
    qtbot.mouseClick(runs_page.open_button, Qt.MouseButton.LeftButton)
    assert runs_page.state.checkpoint_path == str(Path(a.run_dir) / "best.pt")


def write_fake_run(root: Path, name: str, *, damaged: bool = False) -> Path:
    run = root / name
    run.mkdir(parents=True)
    if damaged:
        (run / "config.json").write_text("{ broken")
        return run
    h = {"epoch": [1], "train_loss": [1.0], "train_accuracy": [0.5], "val_loss": [1.1], "val_accuracy": [0.4],
         "lr": [0.001], "seconds": [1.0], "samples_per_second": [10.0],
         "steps": {"step": [1, 2, 3], "loss": [2.0, 1.5, 1.0], "accuracy": [0.1, 0.2, 0.3], "lr": [0.001] * 3}}
    (run / "config.json").write_text(json.dumps({"config": {"dataset": "shapes", "model": "m", "epochs": 1},
                                                 "dataset": {"name": "shapes"}}))
    (run / "metrics.json").write_text(json.dumps(h))
    (run / "result.json").write_text(json.dumps({"status": "finished", "test_accuracy": 0.5}))
    (run / "best.pt").write_bytes(b"x")
    return run


def test_runs_page_damaged_folder_rename_and_delete(qtbot, runs_page, state, monkeypatch):
    root = paths.runs_dir()
    good = write_fake_run(root, "good")
    bad = write_fake_run(root, "broken", damaged=True)
    refresh(qtbot, runs_page)
    assert runs_page.table.topLevelItemCount() == 2
    statuses = {runs_page.table.topLevelItem(i).text(0): runs_page.table.topLevelItem(i).text(7) for i in range(2)}
    assert statuses == {"good": "Finished", "broken": "Damaged"}

    select(qtbot, runs_page, [bad])  # a damaged run shows why, and nothing crashes
    assert "damaged" in runs_page.summary.toPlainText()
    assert runs_page.charts.step_count == 0
    select(qtbot, runs_page, [good, bad])  # the damaged one is left out of the overlay
    assert len(runs_page.charts.overlay_curves) == 1

    select(qtbot, runs_page, [good])
    state.set_checkpoint(str(good / "best.pt"))
    assert runs_page.rename_selected("a/b") is False
    assert runs_page.error_dialog is not None and "cannot contain" in runs_page.error_dialog.text()
    runs_page.error_dialog.close()
    with qtbot.waitSignal(runs_page.refreshed, timeout=BACKGROUND_MS):  # the table follows, the run selected
        assert runs_page.rename_selected("baseline") is True
    assert (root / "baseline").is_dir() and not good.exists()
    assert state.checkpoint_path == str(root / "baseline" / "best.pt")  # follows the rename
    assert [r.name for r in runs_page.selected_runs()] == ["baseline"]

    # A run that is training cannot be deleted.
    import cnnstudio.ui.sessions.runs_session as runs_module

    monkeypatch.setattr(runs_module, "active_run_dirs", lambda: {str(root / "baseline")})
    refresh(qtbot, runs_page)
    assert not runs_page.delete_button.isEnabled()
    assert runs_page.delete_selected(confirm=False) is False
    assert (root / "baseline").is_dir()
    runs_page.error_dialog.close()
    monkeypatch.setattr(runs_module, "active_run_dirs", lambda: set())
    refresh(qtbot, runs_page)
    with qtbot.waitSignal(runs_page.refreshed, timeout=BACKGROUND_MS):
        assert runs_page.delete_selected(confirm=False) is True
    assert not (root / "baseline").exists()
    assert state.checkpoint_path is None
    assert runs_page.table.topLevelItemCount() == 1


def test_charts_load_history_and_follow_a_dark_palette(qtbot):
    from PySide6.QtGui import QColor, QPalette

    from cnnstudio.ui.widgets.charts import TrainingCharts

    charts = TrainingCharts()
    qtbot.addWidget(charts)
    pal = charts.palette()
    pal.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    pal.setColor(QPalette.ColorRole.Text, QColor("#eeeeee"))
    charts.setPalette(pal)
    assert charts.dark
    assert charts.loss_plot.backgroundBrush().color().name() == "#1e1e1e"
    n = 20_000  # a long history: clipped and peak-downsampled, all points kept in the data
    h = {"epoch": [1, 2, 3], "train_loss": [1.0, 0.8, 0.7], "train_accuracy": [0.5, 0.6, 0.7],
         "val_loss": [None, 0.9, 0.8], "val_accuracy": [None, 0.55, 0.65], "lr": [0.1] * 3,
         "steps": {"step": list(range(1, n + 1)), "loss": list(np.linspace(2, 0.5, n)), "accuracy": [0.0] * n,
                   "lr": list(np.linspace(0.1, 0, n))}}
    charts.load_history(h, "long")
    assert charts.step_count == n and len(charts.curve_data("step_loss")[0]) == n
    vx, vy = charts.curve_data("epoch_val_loss")
    assert list(vx) == [1, 2, 3] and np.isnan(vy[0])
    charts.overlay([("a", h), ("b", h), ("c", h)])
    assert len(charts.overlay_curves) == 3
    charts.overlay([("a", h)])  # curves are pooled and reused, extra ones hidden
    assert len(charts.overlay_curves) == 1
    assert sum(c.isVisible() for c in charts.pooled_curves(1)) == 0
    charts.clear()
    assert charts.step_count == 0 and charts.mode == "single"


def test_chart_titles_fit_their_plots(qtbot):
    """At 1024 px the titles ran past their plots ("Loss per epoch (dashed:"): elided to the width."""
    from cnnstudio.ui.widgets.charts import TrainingCharts

    charts = TrainingCharts()
    qtbot.addWidget(charts)
    h = {"epoch": [1], "train_loss": [1.0], "train_accuracy": [0.5], "val_loss": [0.9], "val_accuracy": [0.6],
         "lr": [0.1], "steps": {"step": [1, 2], "loss": [2.0, 1.0], "accuracy": [0.1, 0.2], "lr": [0.1, 0.1]}}
    charts.overlay([("a", h), ("b", h)])
    charts.resize(520, 420)
    charts.show()
    qtbot.waitExposed(charts)
    # The whole plot (y axis, plot area) stays inside its widget: a title wider than the plot area
    # used to push it past the widget's right edge. (Layouts settle over a few events.)
    def inside() -> bool:
        return all(p.getPlotItem().sceneBoundingRect().right() <= p.width() + 1 for p in charts.plots())

    qtbot.waitUntil(inside, timeout=3000)
    titles = {}
    for plot in charts.plots():
        item = plot.getPlotItem()
        shown = item.property("chart_title_shown")
        assert item.titleLabel.itemRect().width() <= item.getViewBox().width(), shown
        titles[plot] = shown
    assert any(t.endswith("…") for t in titles.values())  # this narrow, some were shortened
    for plot, shown in titles.items():  # a shortened title is whole in the tooltip
        item = plot.getPlotItem()
        full = item.property("chart_title_now") or item.property("chart_title")
        assert plot.toolTip().startswith(full + "\n") == shown.endswith("…"), (full, shown)
    charts.resize(1400, 700)
    qtbot.waitUntil(lambda: charts.loss_plot.width() > 600, timeout=2000)
    assert charts.epoch_loss_plot.getPlotItem().property("chart_title_shown") == "Loss per epoch (dashed: training)"


def test_a_new_run_does_not_start_on_the_previous_runs_axes(qtbot):
    """Leftover (issue 15): after a run reaching 83-88 %, a fresh run's empty accuracy plot showed 83-88 %."""
    from cnnstudio.core.training.events import EpochEvent
    from cnnstudio.ui.widgets.charts import TrainingCharts

    charts = TrainingCharts()
    qtbot.addWidget(charts)
    charts.resize(900, 600)
    charts.show()
    for epoch, acc in ((1, 0.83), (2, 0.88)):
        charts.append_epoch(EpochEvent(epoch, 2, 0.5, acc, 0.4, acc, 0.001, 1.0, 100.0, True, "x"))
    qtbot.waitUntil(lambda: charts.acc_plot.getPlotItem().getViewBox().viewRange()[1][0] > 50, timeout=3000)
    charts.begin_run("next")
    (y0, y1) = charts.acc_plot.getPlotItem().getViewBox().viewRange()[1]
    assert y0 <= 0.0 and y1 >= 100.0


def test_the_draw_hint_goes_with_the_first_stroke(qtbot):
    """Leftover (issue 15): the "Draw a figure here" hint stayed under new strokes until a repaint."""
    from PySide6.QtCore import QPoint

    from cnnstudio.ui.widgets.canvas import DrawingCanvas

    canvas = DrawingCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 400)
    canvas.show()
    assert canvas.hint_visible()
    whole = []
    real_update = canvas.update

    def spy(*args):
        if not args:
            whole.append(True)
        return real_update(*args)

    canvas.update = spy
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(200, 200))
    assert whole, "the whole canvas must be repainted so the hint disappears"
    assert not canvas.hint_visible()
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(200, 200))


def test_runs_page_without_a_selection_says_to_select_one(qtbot, runs_page):
    """Leftover (issue 15): with no run selected the Runs page said "Curves appear once training starts"."""
    runs_page.select_paths([])
    assert "Select a run" in runs_page.charts.hint()
    assert "training starts" not in runs_page.charts.hint()
    # pyqtgraph's cryptic "A" button is hidden on every plot.
    charts = runs_page.charts
    for plot in (charts.loss_plot, charts.epoch_loss_plot, charts.acc_plot, charts.lr_plot):
        assert not plot.getPlotItem().autoBtn.isVisible()


def test_continue_a_run_opens_a_run_picker(qtbot, train_page):
    """Issue 15, item 8: "Continue a run…" lists the runs by name, date and accuracy, not a bare file dialog."""
    page = train_page
    a = train_once(qtbot, page, epochs=1, limit_train=200, batch_size=50)
    page.form.resume_checkpoint_button.click()
    picker = page.run_picker
    assert picker.isVisible() and picker.table.topLevelItemCount() == 1
    row = picker.table.topLevelItem(0)
    assert "tiny-bn-cnn" in row.text(0) and row.text(3) == "1/1" and row.text(4).endswith("%")
    assert picker.selected_checkpoint() == str(Path(a.run_dir) / "last.pt")
    with qtbot.waitSignal(page.runFinished, timeout=TRAIN_TIMEOUT_MS) as done:
        picker.continue_button.click()  # continues the run (its own settings, the form's epochs)
    assert done.args[0].run_dir == a.run_dir


# -- the training queue (issue 15, item 8) --------------------------------------------------------------


def test_queued_runs_train_one_after_another_in_order_with_their_own_settings(qtbot, train_page, state, shapes):
    from cnnstudio.ui.compose import runs_page

    page = train_page
    runs = runs_page(state)
    qtbot.addWidget(runs)
    runs.show()
    assert not runs.queue_panel.isVisible()  # nothing queued: no panel
    set_form(page, epochs=1, limit=200, batch=32)
    page.form.lr_spin.setValue(0.004)
    assert page.queue_current()
    page.form.lr_spin.setValue(0.002)
    page.form.batch_spin.setValue(64)
    assert page.queue_current()
    # A queued run keeps its settings and its dataset: what changes afterwards does not reach it.
    page.form.lr_spin.setValue(0.05)
    state.set_dataset(None, "mnist")
    assert [(e.config.lr, e.config.batch_size, e.dataset is shapes) for e in state.queue.entries] == [
        (0.004, 32, True), (0.002, 64, True)]
    assert [e.config.dataset for e in state.queue.entries] == ["shapes", "shapes"]
    # The Runs page shows the queue, in order.
    assert runs.queue_panel.isVisible() and runs.queue_panel.list.count() == 2
    assert "0.004" in runs.queue_panel.list.item(0).text() and "0.002" in runs.queue_panel.list.item(1).text()
    assert "2 runs waiting" in page.panel.queue_label.text()

    finished: list = []
    page.runFinished.connect(finished.append)
    qtbot.mouseClick(runs.queue_panel.start_button, Qt.MouseButton.LeftButton)  # "Start queue"
    assert page.is_running() and len(state.queue) == 1
    qtbot.waitUntil(lambda: len(finished) == 2, timeout=2 * TRAIN_TIMEOUT_MS)
    assert [r.status for r in finished] == ["finished", "finished"]
    configs = [json.loads((Path(r.run_dir) / "config.json").read_text())["config"] for r in finished]
    assert [(c["lr"], c["batch_size"]) for c in configs] == [(0.004, 32), (0.002, 64)]
    assert Path(finished[0].run_dir).stat().st_mtime <= Path(finished[1].run_dir).stat().st_mtime
    qtbot.waitUntil(lambda: not page.is_running(), timeout=10_000)
    assert len(state.queue) == 0 and not runs.queue_panel.isVisible()
    assert not page.panel.queue_label.isVisible()


def test_stopping_a_run_holds_the_queue(qtbot, train_page, state):
    page = train_page
    set_form(page, **{"epochs": LONG_RUN["epochs"], "limit": LONG_RUN["limit_train"], "batch": LONG_RUN["batch_size"]})
    page.queue_current()
    page.queue_current({"lr": 0.002})
    assert page.start_queue()
    with qtbot.waitSignal(page.runFinished, timeout=TRAIN_TIMEOUT_MS) as blocker:
        qtbot.waitUntil(lambda: page.current_step > 0, timeout=TRAIN_TIMEOUT_MS)
        page.stop()
    assert blocker.args[0].status == "stopped"
    qtbot.wait(3 * 400)  # longer than the gap between queued runs
    assert not page.is_running()  # Stop means stop: the next queued run did not start
    assert state.queue.held and len(state.queue) == 1
    assert "held" in page.panel.queue_label.text()
    # Removing and reordering work on the Runs page's panel as on the queue.
    entry = state.queue.entries[0]
    assert entry.config.lr == 0.002
    assert state.queue.move(entry.id, -1) is False and state.queue.remove(entry.id)
    assert len(state.queue) == 0


def test_the_empty_chart_hint_wraps_inside_a_narrow_plot(qtbot):
    """At 1024 px the loss plot is ~240 px wide and "Curves appear once training starts" ran off both
    sides ("rves appear once training star"): it wraps inside the plot, centred."""
    from cnnstudio.ui.widgets.charts import TrainingCharts

    charts = TrainingCharts()
    qtbot.addWidget(charts)
    charts.resize(480, 420)
    charts.show()
    qtbot.waitExposed(charts)
    assert "training starts" in charts.hint()
    vb = charts.loss_plot.getPlotItem().getViewBox()

    def inside() -> bool:
        hint = charts.hint_rect()
        view = vb.sceneBoundingRect()
        return vb.width() < 300 and view.left() - 1 <= hint.left() and hint.right() <= view.right() + 1

    qtbot.waitUntil(inside, timeout=3000)
    charts.resize(1400, 700)
    qtbot.waitUntil(lambda: vb.width() > 500, timeout=3000)
    qtbot.waitUntil(lambda: charts.hint_rect().height() < 30, timeout=3000)  # one line again


# A custom network no measured recipe fits (deep, no normalisation): its learning rate comes from the finder.
DEEP_PLAIN = {"name": "deep-plain", "layers": [
    *[layer for _ in range(7) for layer in ({"type": "conv", "out": 8, "kernel": 3, "padding": 1}, {"type": "relu"})],
    {"type": "flatten"}, {"type": "linear", "out": "classes"}]}


def test_a_network_no_recipe_fits_trains_at_the_finders_learning_rate(qtbot, train_page, state):
    page = train_page
    state.set_spec(DEEP_PLAIN, True)
    recommended = page.form.lr_spin.value()
    assert "learning-rate finder when the run starts" in page.form.recommendation_label.text()
    set_form(page, epochs=1, limit=300, batch=32)
    page.queue_current()  # the queued run will find its own rate when it starts
    assert state.queue.entries[0].find_lr and "lr found at start" in state.queue.entries[0].summary()
    state.queue.clear()
    result = train_once(qtbot, page)
    assert result.status == "finished"
    log = page.log_view.toPlainText()
    assert "Finding a learning rate" in log and "chosen by the learning-rate finder (rule: minimum/10" in log
    trained_at = json.loads((Path(result.run_dir) / "config.json").read_text())["config"]["lr"]
    assert trained_at != recommended and f"{trained_at:.3g}" in log
    # A learning rate the user typed is theirs: no finder.
    page.form.lr_spin.setValue(0.002)
    result = train_once(qtbot, page)
    assert json.loads((Path(result.run_dir) / "config.json").read_text())["config"]["lr"] == 0.002
    assert page.log_view.toPlainText().count("Finding a learning rate") == 1


def test_stop_while_the_finder_runs_ends_before_training_and_saves_nothing(qtbot, shapes, tmp_path):
    """Stop pressed during the range test: the worker ends the run as stopped, with no run folder."""
    from cnnstudio.core.training.config import build_config
    from cnnstudio.core.training.recommend import default_config
    from cnnstudio.ui.sessions.train_session import describe_end
    from cnnstudio.ui.training_worker import TrainingWorker

    cfg = build_config(default_config("shapes", spec=DEEP_PLAIN), {"dataset": "shapes", "spec": DEEP_PLAIN,
                                                                   "epochs": 1, "limit_train": 300})
    worker = TrainingWorker(1, cfg, shapes, run_dir=str(tmp_path / "run"), find_lr=True)
    done, logs = [], []
    worker.done.connect(lambda _gen, result: done.append(result))
    worker.log.connect(lambda _gen, text: logs.append(text))
    worker.stop()  # as if pressed while the finder runs: it checks before every step
    worker.run()  # on this thread: the worker's own body, deterministic
    (result,) = done
    assert result.status == "stopped" and result.run_dir is None
    assert logs and "Finding a learning rate" in logs[0] and not (tmp_path / "run").exists()
    assert "before training began: nothing was saved" in describe_end(result, None, 1.0).banner
