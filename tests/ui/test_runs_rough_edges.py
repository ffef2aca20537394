"""Issue 31, item 7: the Runs page's rough edges.

A run training in another process (`cnnstudio train`) reads as training, not "Incomplete"; the settings
table compares only the selected runs the filter lets through, and says so; a refused rename keeps its
dialog open with what was typed; counts read as English; the Train page follows a renamed run's folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QInputDialog, QMessageBox

from cnnstudio.core import paths
from cnnstudio.core.run_lock import lock_run_folder
from cnnstudio.core.training.events import RunResult

BACKGROUND_MS = 30_000  # the first background call of a process imports torch


def history(epochs_done: int, lr: float = 0.001) -> dict:
    n = epochs_done
    return {"epoch": list(range(1, n + 1)), "train_loss": [1.0] * n, "train_accuracy": [0.5] * n,
            "val_loss": [1.1] * n, "val_accuracy": [0.4] * n, "lr": [lr] * n, "seconds": [1.0] * n,
            "samples_per_second": [10.0] * n,
            "steps": {"step": [1, 2, 3], "loss": [2.0, 1.5, 1.0], "accuracy": [0.1, 0.2, 0.3], "lr": [lr] * 3}}


def write_run(root: Path, name: str, *, model: str = "m", lr: float = 0.001, epochs_done: int = 2, epochs: int = 2,
              result: bool = True) -> Path:
    run = root / name
    run.mkdir(parents=True)
    h = history(epochs_done, lr)
    (run / "config.json").write_text(json.dumps({"config": {"dataset": "shapes", "model": model, "epochs": epochs,
                                                            "lr": lr, "batch_size": 32, "optimizer": "adam"},
                                                 "dataset": {"name": "shapes"}}))
    (run / "metrics.json").write_text(json.dumps(h))
    if result:
        (run / "result.json").write_text(json.dumps({"status": "finished", "test_accuracy": 0.5}))
    (run / "best.pt").write_bytes(b"x")
    return run


@pytest.fixture
def page(qtbot, state):
    from cnnstudio.ui.compose import runs_page

    p = runs_page(state)
    qtbot.addWidget(p)
    p.resize(1280, 800)
    p.show()
    qtbot.waitExposed(p)
    return p


def refresh(qtbot, page) -> None:
    with qtbot.waitSignal(page.refreshed, timeout=BACKGROUND_MS):
        page.refresh()


def select(qtbot, page, run_paths) -> None:
    with qtbot.waitSignal(page.selectionShown, timeout=BACKGROUND_MS):
        page.select_paths([str(r) for r in run_paths])


def status_cell(page, run: Path) -> str:
    for i in range(page.table.topLevelItemCount()):
        item = page.table.topLevelItem(i)
        if item.data(0, 256) == str(run):  # PATH_ROLE (Qt.UserRole)
            return item.text(7)
    raise AssertionError(f"{run} is not listed")


def test_a_run_training_elsewhere_reads_training_with_its_epoch_and_cannot_be_changed(qtbot, page):
    """Item 7a: the folder's lock (taken by every trainer, the CLI's included) says a process writes it."""
    root = paths.runs_dir()
    live = write_run(root, "cli-run", epochs_done=1, epochs=5, result=False)
    abandoned = write_run(root, "killed-run", epochs_done=1, epochs=5, result=False)
    lock = lock_run_folder(live)  # as `cnnstudio train` holds it while it trains
    try:
        refresh(qtbot, page)
        assert status_cell(page, live) == "Training (epoch 2 of 5)"
        assert status_cell(page, abandoned) == "Incomplete"
        select(qtbot, page, [live])
        assert not page.rename_button.isEnabled() and not page.delete_button.isEnabled()
        assert "Training (epoch 2 of 5)" in page.summary.toPlainText()
        assert page.delete_selected(confirm=False) is False and live.is_dir()
        assert "training in another process" in page.error_dialog.text()
        page.error_dialog.close()
        # While the page is shown it reads the folder again on its own, to follow the run's epochs and end.
        session = page.session
        session._live_timer.setInterval(50)  # LIVE_REFRESH_MS is 5 s
        refresh(qtbot, page)
        with qtbot.waitSignal(session.listed, timeout=BACKGROUND_MS, check_params_cb=lambda listing: listing.live):
            pass
        (live / "metrics.json").write_text(json.dumps(history(2)))  # its second epoch ended
        qtbot.waitUntil(lambda: status_cell(page, live) == "Training (epoch 3 of 5)", timeout=BACKGROUND_MS)
        page.hide()  # hidden, it stops following
        qtbot.waitUntil(lambda: not session.refreshing, timeout=BACKGROUND_MS)
        assert not session._live_timer.isActive()
        page.show()
    finally:
        lock.release()
    refresh(qtbot, page)  # its process ended without a result: interrupted
    assert status_cell(page, live) == "Incomplete"
    qtbot.waitUntil(lambda: not page.session.refreshing, timeout=BACKGROUND_MS)
    assert not page.session._live_timer.isActive()  # nothing left to follow


def test_continue_a_run_does_not_offer_a_run_another_process_trains():
    from cnnstudio.core.runs import list_runs
    from cnnstudio.ui.widgets.run_picker import continuable

    root = paths.runs_dir()
    live, stopped = write_run(root, "live", result=False), write_run(root, "stopped")
    for run in (live, stopped):
        (run / "last.pt").write_bytes(b"x")
    lock = lock_run_folder(live)
    try:
        assert [r.name for r in continuable(list_runs(root))] == ["stopped"]
    finally:
        lock.release()
    assert sorted(r.name for r in continuable(list_runs(root))) == ["live", "stopped"]


def test_this_apps_own_run_is_not_read_again_every_few_seconds(qtbot, page, monkeypatch):
    """The app's training refreshes the list as it starts and ends; polling would take CPU from it."""
    from cnnstudio.ui.sessions import runs_session

    live = write_run(paths.runs_dir(), "app-run", epochs_done=1, epochs=5, result=False)
    monkeypatch.setattr(runs_session, "active_run_dirs", lambda: {str(live)})
    lock = lock_run_folder(live)  # the app's Trainer holds it as the CLI's does
    try:
        refresh(qtbot, page)
        assert status_cell(page, live) == "Training (epoch 2 of 5)"
        assert not page.session._live_timer.isActive()
    finally:
        lock.release()


def test_the_settings_table_compares_only_the_runs_the_filter_shows(qtbot, page):
    """Item 7b: filtering the run list leaves the hidden runs out of the table and its count."""
    root = paths.runs_dir()
    a = write_run(root, "alpha", model="convnet", lr=0.001)
    b = write_run(root, "beta", model="convnet", lr=0.001)
    c = write_run(root, "gamma", model="resnet", lr=0.003)
    refresh(qtbot, page)
    select(qtbot, page, [a, b, c])
    text = page.summary.toPlainText()
    assert "Comparing 3 runs" in text and "resnet" in text
    assert page.selection_label.text() == "Comparing 3 runs"

    page.run_list.filter_edit.setText("convnet")
    text = page.summary.toPlainText()
    assert "Comparing 2 of 3 selected runs (1 hidden by the filter)" in text
    assert "resnet" not in text and "0.003" not in text  # gamma's model and learning rate are gone
    assert page.selection_label.text() == "Comparing 2 of 3 selected runs (1 hidden by the filter)"
    assert "Learning rate" in text  # the settings rows stay, now the same in both runs

    page.run_list.filter_edit.setText("")
    assert "Comparing 3 runs" in page.summary.toPlainText()
    assert page.selection_label.text() == "Comparing 3 runs"


def test_a_refused_rename_keeps_the_dialog_and_what_was_typed(qtbot, page, state, monkeypatch):
    """Item 7c: one line under the field says why; the dialog closes only once the run is renamed."""
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("a/b", True)))  # never modal
    root = paths.runs_dir()
    good = write_run(root, "good")
    write_run(root, "taken")
    refresh(qtbot, page)
    select(qtbot, page, [good])
    page.rename_selected()
    dialog = page.rename_dialog
    assert dialog is not None and dialog.isVisible() and dialog.name_edit.text() == "good"
    dialog.name_edit.setText("a/b")
    dialog.accept()
    assert dialog.isVisible() and dialog.name_edit.text() == "a/b"
    assert "cannot contain /" in dialog.problem_label.text() and dialog.problem_label.isVisible()
    assert "\n" not in dialog.problem_label.text() and page.error_dialog is None
    dialog.name_edit.setText("taken")
    dialog.accept()
    assert dialog.isVisible() and "already a run called 'taken'" in dialog.problem_label.text()
    assert good.is_dir()
    dialog.name_edit.setText("baseline")
    with qtbot.waitSignal(page.refreshed, timeout=BACKGROUND_MS):
        dialog.accept()
    assert page.rename_dialog is None  # closed (and deleted)
    assert (root / "baseline").is_dir() and not good.exists()
    assert [r.name for r in page.selected_runs()] == ["baseline"]


def test_delete_speaks_of_one_run_or_several(qtbot, page, state, monkeypatch):
    """Item 7d: "Delete 1 run and its checkpoints?", "Delete 2 runs and their checkpoints?"."""
    root = paths.runs_dir()
    a, b = write_run(root, "a"), write_run(root, "b")
    refresh(qtbot, page)
    asked: list[tuple[str, str]] = []

    def question(parent, title, text, *args):
        asked.append((title, text))
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    select(qtbot, page, [a])
    assert page.delete_selected() is False
    select(qtbot, page, [a, b])
    assert page.delete_selected() is False
    assert asked[0][0] == "Delete run" and asked[0][1].startswith("Delete 1 run and its checkpoints?")
    assert asked[1][0] == "Delete runs" and asked[1][1].startswith("Delete 2 runs and their checkpoints?")
    # Two selected, one of them damaged: one run compared, and said so in the singular.
    broken = paths.runs_dir() / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{ broken")
    refresh(qtbot, page)
    select(qtbot, page, [a, broken])
    text = page.summary.toPlainText()
    assert "Comparing 1 run\n" in text and "Not shown (damaged): broken" in text
    assert page.run_list.count_label.text() == "Curves of the run shown"
    messages: list[str] = []
    state.message.connect(messages.append)
    select(qtbot, page, [a])
    with qtbot.waitSignal(page.refreshed, timeout=BACKGROUND_MS):
        assert page.delete_selected(confirm=False) is True
    assert messages == ["Deleted 1 run."]


def test_the_train_page_follows_a_run_renamed_on_the_runs_page(qtbot, page, state):
    """Item 7e: the last run's result and what the Train page says of it name the new folder."""
    from cnnstudio.ui.pages.train_page import TrainPage

    train = TrainPage(state)
    qtbot.addWidget(train)
    root = paths.runs_dir()
    old = write_run(root, "20261207-120000-shapes-m")
    session = train.session
    session._result = RunResult("finished", "finished: 2 epochs", run_dir=str(old), checkpoint=str(old / "best.pt"),
                                last_checkpoint=str(old / "last.pt"), epochs=2, test_accuracy=0.5)
    with qtbot.waitSignal(session.ended, timeout=BACKGROUND_MS):
        session.receive_end(session.generation)  # the run's thread ended: the page shows how it went
    assert "'20261207-120000-shapes-m'" in train.status_label.text()

    refresh(qtbot, page)
    select(qtbot, page, [old])
    with qtbot.waitSignal(page.refreshed, timeout=BACKGROUND_MS):
        assert page.rename_selected("baseline") is True
    new = root / "baseline"
    result = train.last_result
    assert result is not None and result.run_dir == str(new)
    assert result.checkpoint == str(new / "best.pt") and result.last_checkpoint == str(new / "last.pt")
    assert "'baseline'" in train.status_label.text() and "20261207" not in train.status_label.text()
    assert state.checkpoint_path == str(new / "best.pt")
    train.shutdown()


def test_the_selection_hint_never_widens_the_window(qtbot, page):
    """Selecting one run showed "Ctrl-click another run to compare" in a label that would not wrap: on a
    real X screen the window grew to 1038 px, past a 1024 px laptop screen."""
    write_run(paths.runs_dir(), "20261207-151255-fashion-mnist-fast-cnn")
    refresh(qtbot, page)
    page.select_paths([page.runs[0].path])
    qtbot.waitUntil(lambda: "another run" in page.selection_label.text(), timeout=BACKGROUND_MS)
    needed = page.selection_label.fontMetrics().horizontalAdvance(page.selection_label.text())
    assert page.selection_label.minimumSizeHint().width() < needed / 2
