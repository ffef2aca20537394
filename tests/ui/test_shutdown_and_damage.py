"""Never crash, never lose a run: closing while training, the task gate, damaged run folders on the Runs page.

Closing is tested in a subprocess (an abort there must not take the test session down) at the moments
that used to crash: a step into the first epoch, right after an epoch's checkpoint reached the GUI (when
Inspect and Draw start reloading the model), and the moment best.pt appears on disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Waits for what the Runs page reads in the background: the first call of a process imports torch.
BACKGROUND_MS = 30_000

ROOT = Path(__file__).resolve().parents[2]


# -- the task mechanism ---------------------------------------------------------------------------------

def test_shutdown_waits_for_running_tasks_and_refuses_new_ones(qtbot):
    import threading

    from cnnstudio.ui import tasks

    release = threading.Event()
    results, cancelled = [], []
    running = tasks.run_in_background(lambda: (release.wait(5), "done")[1], on_success=results.append)
    running.cancelled.connect(lambda: cancelled.append(1))
    threading.Timer(0.3, release.set).start()
    assert tasks.shutdown(10_000)  # returns once the running task has ended
    assert running.wait(0)  # its call has returned
    late_ran = []
    late = tasks.run_in_background(lambda: late_ran.append(1))
    assert late.refused and not late.running
    assert late.wait(100)  # nothing to wait for: it never got a thread
    qtbot.wait(50)
    assert late_ran == []
    tasks.reopen()
    again = tasks.run_in_background(lambda: 7)
    with qtbot.waitSignal(again.succeeded, timeout=5000) as got:
        pass
    assert got.args == [7]
    # The task running at shutdown was cancelled: its late result is dropped, never delivered.
    qtbot.waitUntil(lambda: cancelled == [1], timeout=5000)
    assert results == []


def test_a_task_outlives_the_page_that_started_it(qtbot):
    """A task given a parent page that is deleted mid-flight still ends cleanly (it used to be deleted with
    the page while its thread ran)."""
    import threading

    from PySide6.QtWidgets import QWidget

    from cnnstudio.ui import tasks

    page = QWidget()
    release = threading.Event()
    task = tasks.run_in_background(lambda: release.wait(5), parent=page)
    page.deleteLater()
    qtbot.wait(50)
    release.set()
    assert task.wait(5000)
    qtbot.waitUntil(tasks.idle, timeout=5000)


CLOSE_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from PySide6.QtCore import QTimer
    from cnnstudio.ui.app import create_application
    app = create_application([])
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.models.presets import get_preset
    from cnnstudio.ui.main_window import MainWindow, shut_down_background_work

    moment, page_key, how = sys.argv[1], sys.argv[2], sys.argv[3]
    window = MainWindow()
    window.show()
    window.state.set_dataset(load_dataset("shapes"), "shapes")
    window.state.set_spec(get_preset("tiny-bn-cnn"), True)
    window.show_page(page_key)  # the page on screen decides which reloads an epoch starts
    page = window.page("train")
    info = {}
    closing = []

    def close_now(*_):
        if closing:
            return
        closing.append(1)
        print("CLOSING", moment, flush=True)
        if how == "quit":
            # File > Quit (Ctrl+Q): the menu action, as a user triggers it
            action = next(a for a in window.menuBar().actions()[0].menu().actions() if "Quit" in a.text())
            QTimer.singleShot(0, action.trigger)
        else:
            QTimer.singleShot(0, window.close)

    def poll_best():
        run_dir = info.get("run_dir")
        if run_dir and (Path(run_dir) / "best.pt").exists():
            close_now()
        elif not closing:
            QTimer.singleShot(2, poll_best)

    page.runStarted.connect(lambda event: (info.update(run_dir=event.run_dir),
                                           print("RUN_DIR", event.run_dir, flush=True)))
    if moment == "step":
        page.stepsReceived.connect(close_now)
    elif moment == "epoch":
        page.epochFinished.connect(close_now)
    else:
        QTimer.singleShot(2, poll_best)
    assert page.start_training({"epochs": 30, "limit_train": 1200, "batch_size": 16})
    QTimer.singleShot(170000, lambda: (print("TIMEOUT", flush=True), app.exit(3)))
    code = app.exec()
    shut_down_background_work()
    print("EXIT", code, flush=True)
    sys.exit(code)
""")


@pytest.mark.parametrize("moment, page_key, how", [
    ("step", "train", "close"),
    ("epoch", "inspect", "close"),  # Inspect follows training: the epoch's checkpoint starts a reload
    ("epoch", "draw", "quit"),
    ("best", "evaluate", "close"),
])
def test_closing_while_training_saves_and_exits_cleanly(tmp_path, moment, page_key, how):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CNNSTUDIO_HOME=str(tmp_path / "home"),
               XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", CLOSE_SCRIPT, moment, page_key, how], capture_output=True,
                          text=True, timeout=240, cwd=str(ROOT), env=env)
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{out}\nstderr:\n{err[-3000:]}"
    assert "QThread: Destroyed" not in err and "Signal source has been deleted" not in err, err
    assert "Traceback" not in err, err
    assert f"CLOSING {moment}" in out and "EXIT 0" in out
    run_dir = Path(next(line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("RUN_DIR")))
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "stopped"
    from cnnstudio.core.checkpoint import load_checkpoint

    assert load_checkpoint(run_dir / "last.pt")["global_step"] > 0


def test_closing_says_the_run_is_being_saved(qtbot, tmp_path):
    """While the stopped run saves, the window stays up and says why; it closes once the run has ended."""
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.models.presets import get_preset
    from cnnstudio.ui.main_window import MainWindow
    from cnnstudio.ui.training_worker import active_runs

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    window.state.set_dataset(load_dataset("shapes"), "shapes")
    window.state.set_spec(get_preset("tiny-bn-cnn"), True)
    page = window.page("train")
    with qtbot.waitSignal(page.stepsReceived, timeout=60_000):
        assert page.start_training({"epochs": 30, "limit_train": 1200, "batch_size": 16})
    assert not window.close()  # refused for now: the run is saving
    assert "saving the current run" in window.statusBar().currentMessage()
    assert window.isVisible()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=60_000)
    assert not active_runs()


# -- damaged run folders on the Runs page -------------------------------------------------------------

def _run(root: Path, name: str, result: str, config: str | None = None) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "config.json").write_text(config or json.dumps({"config": {"dataset": "shapes", "epochs": 2,
                                                                     "limit_train": "lots"}}))
    (path / "result.json").write_text(result)
    return path


def test_runs_page_lists_damaged_runs_beside_good_ones(qtbot, tmp_path):
    from cnnstudio.core import paths
    from cnnstudio.ui.compose import app_state, runs_page

    root = paths.runs_dir()
    good = _run(root, "good", json.dumps({"status": "finished", "epochs": 2, "test_accuracy": 0.75}))
    _run(root, "overflow", '{"status": "finished", "epochs": 100000000000000000000000000}')
    _run(root, "deep", "[" * 50_000 + "]" * 50_000)
    _run(root, "failed", json.dumps({"status": "failed", "message": "the training loss became NaN: diverged"}))
    _run(root, "bad-config", json.dumps({"status": "finished", "epochs": 2}),
         config='{"config": {"dataset": "shapes", "epochs": 2, "seed": ' + "9" * 5000 + "}}")
    page = runs_page(app_state())
    qtbot.addWidget(page)
    page.resize(1200, 800)
    with qtbot.waitSignal(page.refreshed, timeout=BACKGROUND_MS):  # the folders are read in the background
        page.show()
    qtbot.waitExposed(page)
    rows = {page.table.topLevelItem(i).text(0): page.table.topLevelItem(i)
            for i in range(page.table.topLevelItemCount())}
    assert set(rows) == {"good", "overflow", "deep", "failed", "bad-config"}
    assert rows["good"].text(6) == "75.0 %" or "75" in rows["good"].text(6)
    assert rows["overflow"].text(7) == "Damaged" and "epochs" in rows["overflow"].toolTip(0)
    assert rows["deep"].text(7) == "Damaged" and "nested too deeply" in rows["deep"].toolTip(0)
    assert rows["failed"].text(7) == "Failed" and "diverged" in rows["failed"].toolTip(0)
    def select(path) -> None:
        with qtbot.waitSignal(page.selectionShown, timeout=BACKGROUND_MS):
            page.select_paths([str(path)])

    for name in rows:  # each one opens without an exception, and says what it is
        select(root / name)
        text = page.summary.toPlainText()
        assert name in text
    select(root / "failed")
    assert "diverged" in page.summary.toPlainText()
    select(root / "overflow")
    assert "damaged" in page.summary.toPlainText()
    select(good)
    assert "Finished" in page.summary.toPlainText()


def test_runs_page_removes_orphaned_temp_files_of_an_opened_run(qtbot, tmp_path):
    from cnnstudio.core import paths
    from cnnstudio.ui.compose import app_state, runs_page

    run = _run(paths.runs_dir(), "r", json.dumps({"status": "stopped", "epochs": 1}))
    orphan = run / ".last.pt.k2j3.tmp"
    orphan.write_bytes(b"\0" * 4096)
    os.utime(orphan, (1, 1))
    fresh = run / ".best.pt.x9.tmp"
    fresh.write_bytes(b"\0")
    page = runs_page(app_state())
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.refreshed, timeout=BACKGROUND_MS):
        page.show()
    with qtbot.waitSignal(page.selectionShown, timeout=BACKGROUND_MS):  # the run is read in the background
        page.select_paths([str(run)])
    assert not orphan.exists() and fresh.exists()


def test_help_lists_the_shortcuts_the_pages_really_bind(qtbot):
    """Help > Keyboard shortcuts (F1): the Train keys come from the Train page's own table."""
    from PySide6.QtGui import QKeySequence

    from cnnstudio.ui.main_window import MainWindow
    from cnnstudio.ui.widgets.run_panel import SHORTCUTS

    window = MainWindow()
    qtbot.addWidget(window)
    help_menu = window.menuBar().actions()[-1].menu()
    titles = [a.text() for a in help_menu.actions()]
    assert "&Keyboard shortcuts" in titles and "&Documentation" in titles
    keys_action = next(a for a in help_menu.actions() if a.text() == "&Keyboard shortcuts")
    assert keys_action.shortcut() == QKeySequence("F1")
    box = window.show_shortcuts()
    text = box.text()
    for key in (*SHORTCUTS["start"], *SHORTCUTS["pause"], *SHORTCUTS["stop"]):
        assert QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText) in text
    assert "Ctrl+1" in text and "Alt+R" in text
    box.close()
    assert window.documentation_path() is not None and window.documentation_path().name == "README.md"


def test_runs_page_shows_the_augmentation_of_runs_from_other_versions():
    from cnnstudio.core.run_compare import setting_text

    assert setting_text("augment", {"crop_padding": 2, "lighting": 0.3}) == \
        "random crop (pad 2), brightness and contrast ±30 %"
    # A run written before `lighting` existed, and one from a later version with a field this one lacks.
    assert setting_text("augment", {"crop_padding": 4, "hflip": True}) == "random crop (pad 4), horizontal flips"
    assert setting_text("augment", {"crop_padding": 2, "blur": 0.5}) == "random crop (pad 2)"
