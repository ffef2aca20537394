"""Lining up runs at any time (issue 31, item 1): queued while another trains, reordered and edited on
the Train page, kept across a restart of the app, a stale entry shown as such and never started.

Trainings are tiny (tiny-bn-cnn on a few hundred shapes pictures, one or two epochs); waits are on
signals and conditions, never sleeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from cnnstudio.core.models.presets import get_preset
from cnnstudio.core.training.config import TrainConfig, build_config
from cnnstudio.ui.compose import app_state

TRAIN_TIMEOUT_MS = 120_000
FORM = {"epochs": 1, "limit_train": 200, "batch_size": 32, "device": "cpu", "precision": "auto"}


def shapes_app(shapes_dataset):
    """A fresh app state (as at a launch) with the shapes set loaded and tiny-bn-cnn chosen."""
    state = app_state()
    state.set_dataset(shapes_dataset, "shapes")
    state.set_spec(get_preset("tiny-bn-cnn"), True)
    return state


@pytest.fixture
def state(shapes_dataset):
    return shapes_app(shapes_dataset)


def train_page_for(qtbot, state):
    from cnnstudio.ui.pages.train_page import TrainPage

    page = TrainPage(state)
    qtbot.addWidget(page)
    page.resize(1040, 760)
    page.show()
    return page


@pytest.fixture
def train_page(qtbot, state):
    page = train_page_for(qtbot, state)
    yield page
    page.shutdown()


def set_form(page, epochs: int, limit: int, batch: int, lr: float | None = None) -> None:
    page.form.epochs_spin.setValue(epochs)
    page.form.limit_spin.setValue(limit)
    page.form.batch_spin.setValue(batch)
    if lr is not None:
        page.form.lr_spin.setValue(lr)


def test_a_run_queued_while_another_trains_starts_when_it_ends(qtbot, train_page, state):
    page = train_page
    launched, finished = [], []
    page.session.launched.connect(launched.append)
    page.runFinished.connect(finished.append)
    set_form(page, epochs=2, limit=600, batch=16)
    assert page.start_training()
    assert page.is_running() and not page.start_button.isEnabled()
    # The form stays editable for the next run; what trains now is shown, read-only, above it.
    assert page.form.lr_spin.isEnabled() and page.form.epochs_spin.isEnabled()
    assert page.form.running_box.isVisible() and "tiny-bn-cnn on" in page.form.running_label.text()
    assert "2 epochs" in page.form.running_label.text()
    assert page.queue_button.isEnabled()
    set_form(page, epochs=1, limit=200, batch=32, lr=0.002)
    qtbot.mouseClick(page.queue_button, Qt.MouseButton.LeftButton)  # "Train next", while the first trains
    assert page.is_running() and len(state.queue) == 1
    assert state.queue.entries[0].config.lr == 0.002 and state.queue.entries[0].config.epochs == 1
    assert "when this run ends" in page.panel.queue_label.text()
    assert page.queue_panel.isVisible() and page.queue_panel.list.count() == 1
    page.form.lr_spin.setValue(0.05)  # the user goes on editing what comes after

    qtbot.waitUntil(lambda: len(finished) == 2, timeout=2 * TRAIN_TIMEOUT_MS)
    assert [r.status for r in finished] == ["finished", "finished"]
    assert len(launched) == 2 and launched[1].queued and launched[1].config.lr == 0.002
    config = json.loads((Path(finished[1].run_dir) / "config.json").read_text())["config"]
    assert (config["lr"], config["epochs"], config["limit_train"]) == (0.002, 1, 200)
    assert page.form.lr_spin.value() == 0.05  # the queued run's start left the form to the user
    qtbot.waitUntil(lambda: not page.is_running(), timeout=10_000)
    assert len(state.queue) == 0 and not page.form.running_box.isVisible()


def test_the_train_page_reorders_edits_and_removes_queued_runs(qtbot, train_page, state):
    page = train_page
    set_form(page, epochs=1, limit=200, batch=32)
    for lr in (0.001, 0.002, 0.003):
        page.form.lr_spin.setValue(lr)
        assert page.queue_current()
    # Nothing trains: Start and Start queue say what each does (Start never trains the queued ones twice).
    text = page.panel.queue_label.text()
    assert "3 runs waiting" in text and "Start queue trains them now" in text
    assert "Start trains the settings in the form first, then the queue" in text
    panel = page.queue_panel
    assert panel.isVisible() and panel.list.count() == 3
    ids = [e.id for e in state.queue.entries]

    panel.list.setCurrentRow(2)
    qtbot.mouseClick(panel.up_button, Qt.MouseButton.LeftButton)
    assert [e.id for e in state.queue.entries] == [ids[0], ids[2], ids[1]]
    assert "0.003" in panel.list.item(1).text()
    qtbot.mouseClick(panel.down_button, Qt.MouseButton.LeftButton)  # the moved entry stays selected
    assert [e.id for e in state.queue.entries] == ids

    # Edit: the entry's settings go into the form; Train next then changes that entry in its place.
    assert panel.select(ids[0])
    qtbot.mouseClick(panel.edit_button, Qt.MouseButton.LeftButton)
    assert page.form.lr_spin.value() == pytest.approx(0.001)
    assert "Update queued #1" in page.queue_button.text() and "Queued run #1 is in the form" in page.banner.text()
    page.form.lr_spin.setValue(0.0005)
    page.form.batch_spin.setValue(64)
    qtbot.mouseClick(page.queue_button, Qt.MouseButton.LeftButton)
    assert [e.id for e in state.queue.entries] == ids
    first = state.queue.entries[0].config
    assert (first.lr, first.batch_size, first.model, first.dataset) == (0.0005, 64, "tiny-bn-cnn", "shapes")
    assert "Train next" in page.queue_button.text()

    assert panel.select(ids[1])
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert [e.id for e in state.queue.entries] == [ids[0], ids[2]]
    state.queue.clear()


def test_the_queue_survives_a_restart_of_the_app(qtbot, shapes_dataset):
    from cnnstudio.ui.sessions.train_session import TrainSession

    first = shapes_app(shapes_dataset)
    session = TrainSession(first)
    assert session.queue_current(dict(FORM), {"lr": 0.004})
    assert session.queue_current(dict(FORM, batch_size=50, epochs=2))
    first.queue.set_held(True)
    saved = [(e.config.to_dict(), e.dataset_title, e.find_lr) for e in first.queue.entries]
    session.shutdown()

    then = app_state()  # the next launch: nothing loaded yet
    assert [(e.config.to_dict(), e.dataset_title, e.find_lr) for e in then.queue.entries] == saved
    assert then.queue.held and not any(e.stale for e in then.queue.entries)
    assert then.queue.entries[0].config.spec == get_preset("tiny-bn-cnn")  # each entry's full config
    page = train_page_for(qtbot, then)
    panel = page.queue_panel
    assert panel.isVisible() and panel.list.count() == 2
    assert "0.004" in panel.list.item(0).text() and "2 epochs" in panel.list.item(1).text()
    assert "held" in page.panel.queue_label.text()
    # A restored run trains on its own dataset, loaded by the trainer.
    finished = []
    page.runFinished.connect(finished.append)
    then.queue.remove(then.queue.entries[1].id)
    assert page.start_queue()
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=TRAIN_TIMEOUT_MS)
    assert finished[0].status == "finished"
    qtbot.waitUntil(lambda: not page.is_running(), timeout=10_000)
    assert len(app_state().queue) == 0  # and the file says so
    page.shutdown()


def test_a_stale_queued_run_is_shown_with_its_reason_and_never_started(qtbot, tmp_path):
    from cnnstudio.ui import queue_memory

    pictures = tmp_path / "my-pictures"
    pictures.mkdir()
    first = app_state()
    first.queue.add(build_config(TrainConfig(), {"dataset": str(pictures), "model": "tiny-bn-cnn", "epochs": 1}),
                    None, "my pictures")
    first.queue.add(build_config(TrainConfig(), {"dataset": "shapes", "model": "tiny-bn-cnn", "epochs": 1}),
                    None, "Shapes")
    doc = json.loads(queue_memory.queue_path().read_text())
    doc["entries"].append({"config": {"epochs": "many"}, "dataset_title": "x"})  # a damaged entry
    queue_memory.queue_path().write_text(json.dumps(doc))
    pictures.rmdir()  # the folder goes away before the next launch

    then = app_state()
    entries = then.queue.entries
    assert len(entries) == 3  # nothing is dropped
    assert entries[0].stale and str(pictures) in entries[0].problem and "no longer there" in entries[0].problem
    assert not entries[1].stale
    assert entries[2].stale and "could not be read" in entries[2].problem
    page = train_page_for(qtbot, then)
    panel = page.queue_panel
    assert panel.list.count() == 3
    item = panel.list.item(0)
    assert "NOT STARTABLE" in item.text() and "no longer there" in item.text() and "no longer there" in item.toolTip()
    assert panel.select(entries[0].id) and not panel.edit_button.isEnabled()  # nothing to edit: it cannot train
    assert panel.select(entries[1].id) and panel.edit_button.isEnabled()
    # The next run to train passes over the stale entries, which stay where they are, marked.
    taken = then.queue.take_next()
    assert taken is not None and taken.config.dataset == "shapes"
    assert [e.stale for e in then.queue.entries] == [True, True] and then.queue.take_next() is None
    # The damaged entry is written back as it was read.
    assert json.loads(queue_memory.queue_path().read_text())["entries"][1] == {"config": {"epochs": "many"},
                                                                              "dataset_title": "x"}
    page.shutdown()
