"""A first-time user's walk through the app (issue 28, items 8, 9 and the corrupted-settings part of 10):
the model reopened after a restart, missing backbone weights, a new dataset's model, Help, the File menu,
the user's folders across restarts, Inspect's busy sign, and a damaged settings file."""

from __future__ import annotations

import json
import logging
import os
import shutil

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QByteArray, QSettings

from cnnstudio.core.models.presets import get_preset
from cnnstudio.core.training.device import DeviceInfo
from cnnstudio.core.training.events import RunResult
from cnnstudio.ui.session_memory import (CHECKPOINT_KEY, DATASET_KEY, FOLDERS_KEY, GEOMETRY_KEY, RECENT_KEY,
                                         SPEC_KEY, recall, remember)

TIMEOUT = 60_000
CPU = [DeviceInfo("cpu", "CPU", None, "test")]


def image_folder(root, size: int = 16):
    rng = np.random.default_rng(0)
    for k, name in enumerate(("dark", "light")):
        (root / name).mkdir(parents=True)
        for i in range(12):
            pixels = np.full((size, size), 40 + 170 * k, np.uint8) + rng.integers(0, 20, (size, size), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """No backbone weights anywhere: an empty CNN Studio folder and an empty torch hub cache."""
    monkeypatch.setenv("CNNSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    import torch.hub

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch-home" / "hub"))


# -- item 8: the app restarts into the last good model -----------------------------------------------------
def test_a_stopped_run_never_replaces_the_model_in_use(qtbot, shapes_state, shapes_checkpoint, tmp_path):
    """Quitting during a training stops it (last.pt saved): that last.pt must not become the model that
    Evaluate, Inspect and Draw use, nor the one the next launch opens; a finished run's best.pt does."""
    from cnnstudio.ui.pages.train_page import TrainPage

    state = shapes_state
    remember(state, lambda: True)
    page = TrainPage(state)
    qtbot.addWidget(page)
    state.set_checkpoint(shapes_checkpoint)  # the finished model the user had
    run = tmp_path / "interrupted"
    run.mkdir()
    last = run / "last.pt"
    shutil.copy(shapes_checkpoint, last)
    stopped = RunResult("stopped", "stopped by the user", run_dir=str(run), checkpoint=str(last),
                        last_checkpoint=str(last), global_step=10, total_steps=40)
    page.session.ended.emit(stopped, None)  # how the session reports a run's end
    assert state.checkpoint_path == shapes_checkpoint
    assert QSettings().value(CHECKPOINT_KEY) == shapes_checkpoint
    assert recall().checkpoint == shapes_checkpoint

    finished_dir = tmp_path / "finished"
    finished_dir.mkdir()
    best = finished_dir / "best.pt"
    shutil.copy(shapes_checkpoint, best)
    page.session.ended.emit(RunResult("finished", "", run_dir=str(finished_dir), checkpoint=str(best),
                                      test_accuracy=0.9, best_val_accuracy=0.9, best_epoch=1), None)
    assert state.checkpoint_path == str(best)
    assert recall().checkpoint == str(best)


# -- item 9: missing backbone weights -----------------------------------------------------------------------
def test_missing_backbone_weights_disable_start_with_one_message(qtbot, shapes_state, no_weights):
    from cnnstudio.ui.pages.train_page import TrainPage

    state = shapes_state
    page = TrainPage(state)
    qtbot.addWidget(page)
    page.on_devices(CPU)
    state.set_spec(get_preset("resnet18-imagenet"), True)
    assert not page.start_button.isEnabled() and not page.queue_button.isEnabled()
    assert "weights of ResNet-18" in page.banner.text() and "Model page" in page.banner.text()
    assert "weights of ResNet-18" in page.start_button.toolTip()
    assert page.start_training() is False and not page.is_running()
    assert page.error_dialog is None  # one message, in one place: no dialog, nothing under the progress bar
    assert "weights" not in page.status_label.text()
    assert "weights" not in page.log_view.toPlainText()
    state.set_spec(get_preset("tiny-bn-cnn"), True)  # the user picks a model trained from scratch
    assert page.start_button.isEnabled() and "Ready" in page.banner.text()


def test_a_failed_runs_banner_clears_when_the_selection_changes(qtbot, shapes_state):
    from cnnstudio.ui.pages.train_page import TrainPage

    state = shapes_state
    page = TrainPage(state)
    qtbot.addWidget(page)
    state.set_spec(get_preset("tiny-bn-cnn"), True)
    failed = RunResult("failed", "the ImageNet weights of ResNet-18 are not on this computer")
    page.session.ended.emit(failed, None)
    assert page.banner.kind == "error" and "ResNet-18" in page.banner.text()
    assert "ResNet-18" not in page.status_label.text()  # not a second, clipped copy under the progress bar
    assert page.error_dialog is None
    state.set_spec(get_preset("lenet5"), True)
    assert "ResNet-18" not in page.banner.text() and "Ready" in page.banner.text()
    page.session.ended.emit(failed, None)
    state.set_dataset(state.dataset, "shapes")
    assert "ResNet-18" not in page.banner.text()


def test_weights_progress_of_unknown_size_says_nothing_false():
    """The trainer's "downloading ImageNet weights" line: never "0.0 of 0.0 MB"."""
    from types import SimpleNamespace

    from cnnstudio.core.training.trainer import Trainer

    lines: list[str] = []
    fake = SimpleNamespace(log=lines.append)
    Trainer._weights_progress(fake, 0, 0)
    Trainer._weights_progress(fake, 5_000_000, 0)
    assert lines == []
    Trainer._weights_progress(fake, 0, 46_000_000)
    assert lines == ["downloading ImageNet weights: 0.0 of 46.0 MB"]


# -- item 9: a new dataset proposes its recommended model -----------------------------------------------------
def test_a_new_dataset_proposes_its_model_and_asks(qtbot, shapes_state, shapes_dataset):
    from cnnstudio.core.training.recommend import default_config
    from cnnstudio.ui.pages.model_page import ModelPage

    state = shapes_state
    page = ModelPage(state)
    qtbot.addWidget(page)
    page.select_preset("resnet18-imagenet")  # the user's choice for shapes
    state.set_dataset(shapes_dataset, "fashion-mnist")  # pretend: only the name decides the recommendation
    recommended = default_config("fashion-mnist").model
    assert recommended != "resnet18-imagenet"
    assert page.current_spec()["name"] == "resnet18-imagenet"  # not replaced silently
    assert page.proposal == recommended and recommended in page.proposal_text
    page.keep_current()
    assert page.proposal is None and page.current_spec()["name"] == "resnet18-imagenet"
    state.set_dataset(shapes_dataset, "fashion-mnist")  # the same data again: kept means not asked again
    assert page.proposal is None
    state.set_dataset(shapes_dataset, "shapes")
    assert page.proposal == default_config("shapes").model
    assert page.accept_proposal()
    assert page.current_spec()["name"] == default_config("shapes").model and page.proposal is None


def test_the_window_shows_the_proposal_with_use_and_keep(qtbot, shapes_dataset):
    from cnnstudio.core.training.recommend import default_config
    from cnnstudio.ui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.state.dataset is not None, timeout=TIMEOUT)
    window.page("model").select_preset("resnet18-imagenet")
    window.state.set_dataset(shapes_dataset, "fashion-mnist")
    bar = window.proposal_bar
    recommended = default_config("fashion-mnist").model
    assert not bar.isHidden() and bar.accept_button.text() == f"Use {recommended}"
    assert bar.keep_button.text() == "Keep resnet18-imagenet"
    bar.accept_button.click()
    assert bar.isHidden() and window.state.spec["name"] == recommended
    window.close()


# -- item 9: Help > Documentation ----------------------------------------------------------------------------
def test_documentation_opens_inside_the_app(qtbot, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    from cnnstudio.ui.main_window import MainWindow

    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)  # no browser registered
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.open_documentation()
    help_window = window.help_window
    assert help_window is not None and help_window.isVisible()
    assert help_window.browser.toPlainText().lstrip().startswith("CNN Studio")  # the title, not lost to its icon
    from cnnstudio.ui.widgets.help_window import IMAGE_WIDTH

    assert help_window.browser.document().idealWidth() <= IMAGE_WIDTH + 200  # screenshots scaled to fit
    assert help_window.path_label.text().endswith("README.md")
    assert help_window.page_combo.count() > 1  # the docs/ pages too
    window.close()


# -- item 9: the File menu -----------------------------------------------------------------------------------
def test_file_menu_opens_folders_checkpoints_architectures_and_recent(qtbot, tmp_path, shapes_checkpoint):
    from cnnstudio.core.models.spec import save_spec
    from cnnstudio.ui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    texts = [a.text().replace("&", "") for a in window.file_menu.actions()]
    assert texts[:4] == ["Open folder…", "Open checkpoint…", "Open architecture…", "Open Recent"]
    assert "Quit" in texts
    qtbot.waitUntil(lambda: window.state.dataset is not None, timeout=TIMEOUT)

    with qtbot.waitSignal(window.state.model.loaded, timeout=TIMEOUT):
        assert window.open_checkpoint(shapes_checkpoint)
    assert window.state.model.path == shapes_checkpoint

    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    with qtbot.waitSignal(window.state.model.failed, timeout=TIMEOUT):
        assert window.open_checkpoint(str(bad))
    qtbot.waitUntil(lambda: window.opening_checkpoint is None, timeout=TIMEOUT)
    assert "broken.pt" in window.last_file_problem and "\n" not in window.last_file_problem
    assert window.state.model.context.path == shapes_checkpoint  # the model in use stays
    assert QSettings().value(CHECKPOINT_KEY) == shapes_checkpoint  # and is what the next launch opens
    assert not window.open_checkpoint(str(tmp_path / "nowhere.pt"))
    assert "nowhere.pt" in window.last_file_problem

    spec = get_preset("lenet5")
    spec["name"] = "my-lenet"
    save_spec(spec, tmp_path / "my-lenet.json")
    assert window.open_architecture(str(tmp_path / "my-lenet.json"))
    assert window.state.spec["name"] == "my-lenet"
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    assert not window.open_architecture(str(tmp_path / "bad.json"))
    assert window.state.spec["name"] == "my-lenet"

    folder = image_folder(tmp_path / "my-photos")
    with qtbot.waitSignal(window.state.datasetChanged, timeout=TIMEOUT):
        assert window.open_dataset_folder(str(folder))
    assert window.state.dataset_name == str(folder)
    assert not window.open_dataset_folder(str(tmp_path / "no-such-folder"))

    window.fill_recent_menu()
    recent = [a.data() for a in window.recent_menu.actions() if a.data() is not None]
    assert [(r.kind, r.path) for r in recent][:3] == [("folder", str(folder)),
                                                      ("architecture", str(tmp_path / "my-lenet.json")),
                                                      ("checkpoint", shapes_checkpoint)]
    assert all(r.path != str(bad) for r in recent)
    window.close()


# -- item 9: the user's folders and the last dataset across restarts -------------------------------------------
def test_the_users_folders_are_listed_again_and_a_gone_one_is_noted(qtbot, tmp_path):
    from cnnstudio.ui.main_window import MainWindow

    kept, gone = image_folder(tmp_path / "kept"), image_folder(tmp_path / "gone")
    first = MainWindow()
    qtbot.addWidget(first)
    qtbot.waitUntil(lambda: first.state.dataset is not None, timeout=TIMEOUT)
    for folder in (gone, kept):
        with qtbot.waitSignal(first.state.datasetChanged, timeout=TIMEOUT):
            first.page("data").open_folder(folder)
    first.close()
    shutil.rmtree(gone)

    second = MainWindow()
    qtbot.addWidget(second)
    data = second.page("data")
    assert str(kept) in data.datasets.keys() and str(gone) not in data.datasets.keys()
    assert "gone" in data.banner.text()
    assert second.state.dataset_name == str(kept)  # the dataset last used, not Shapes
    qtbot.waitUntil(lambda: second.state.dataset is not None, timeout=TIMEOUT)
    assert "gone" in data.banner.text()  # the note outlives the first load
    assert data.datasets.info(str(kept)).title == "kept"
    second.close()
    third = MainWindow()
    qtbot.addWidget(third)
    assert "gone" not in third.page("data").banner.text()  # said once
    third.close()


# -- item 9: Inspect's busy sign ----------------------------------------------------------------------------------
def test_inspect_marks_filters_as_being_computed(qtbot, shapes_state, shapes_checkpoint):
    from cnnstudio.ui.pages.inspect_page import InspectPage

    page = InspectPage(shapes_state)
    qtbot.addWidget(page)
    page.show()
    shapes_state.set_checkpoint(shapes_checkpoint)
    qtbot.waitUntil(lambda: page.session.context is not None and not page.busy(), timeout=TIMEOUT)
    keys = page.conv_layer_keys()
    assert len(keys) >= 2
    page.tabs.setCurrentWidget(page.filters)
    page.filters.set_mode("patches")  # a deep layer's top patches: the slow kind
    qtbot.waitUntil(lambda: not page.busy(), timeout=TIMEOUT)
    page.select_layer(keys[-1])
    assert page.filters.busy and page.filters.busy_row.isVisible()
    assert "Computing" in page.filters.busy_row.label.text()
    assert page.filters.item.opacity() < 1.0  # the previous layer's pictures are marked out of date
    qtbot.waitUntil(lambda: not page.busy(), timeout=TIMEOUT)
    assert not page.filters.busy and page.filters.item.opacity() == 1.0


# -- item 10: corrupted app settings ------------------------------------------------------------------------------
def _hostile_values(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    deep = "[" * 20_000 + "]" * 20_000
    return {
        "dataset int": (DATASET_KEY, 12345),
        "dataset list": (DATASET_KEY, ["shapes"] * 10_000),
        "dataset fifo": (DATASET_KEY, str(fifo)),
        "dataset device": (DATASET_KEY, "/dev/zero"),
        "dataset NUL": (DATASET_KEY, "sha\0pes"),
        "dataset huge": (DATASET_KEY, "x" * 1_100_000),
        "spec list": (SPEC_KEY, ["layers"] * 20_000),
        "spec garbage": (SPEC_KEY, "\x00\xff{{{"),
        "spec deep": (SPEC_KEY, deep),
        "spec huge": (SPEC_KEY, json.dumps({"name": "x", "layers": [{"type": "relu"}] * 80_000})),
        "spec many layers": (SPEC_KEY, json.dumps({"name": "x", "layers": [{"type": "relu"}] * 20_000})),
        "checkpoint fifo": (CHECKPOINT_KEY, str(fifo)),
        "checkpoint device": (CHECKPOINT_KEY, "/dev/zero"),
        "checkpoint dict": (CHECKPOINT_KEY, {"a": 1}),
        "folders garbage": (FOLDERS_KEY, "{garbage"),
        "folders huge": (FOLDERS_KEY, json.dumps([{"name": "/tmp", "title": "t"}] * 50_000)),
        "folders wrong fields": (FOLDERS_KEY, json.dumps([{"name": "/tmp", "title": 5, "kind": "image-folder",
                                                           "classes": "abc", "input_shape": [1, 2]}])),
        "folders deep": (FOLDERS_KEY, deep),
        "recent deep": (RECENT_KEY, deep),
        "recent huge": (RECENT_KEY, json.dumps([{"kind": "folder", "path": "/x" * 300}] * 2_000)),
        "geometry string": (GEOMETRY_KEY, "not a geometry"),
        "geometry huge": (GEOMETRY_KEY, QByteArray(b"\x01" * 100_000)),
        "geometry garbage bytes": (GEOMETRY_KEY, QByteArray(b"\x00\x01garbage")),
    }


def test_damaged_settings_are_ignored_with_one_log_line(qtbot, tmp_path, caplog):
    """Each damaged value alone: the last session is read without an exception, the default is used, and
    one warning names the key (a geometry of the right type whose bytes are garbage: the default size)."""
    cases = _hostile_values(tmp_path)
    for name, (key, value) in cases.items():
        settings = QSettings()
        settings.clear()
        settings.setValue(key, value)
        settings.sync()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="cnnstudio.ui"):
            remembered = recall()
        assert remembered.dataset is None and remembered.spec is None and remembered.checkpoint is None, name
        assert remembered.folders == [], name
        warnings = [r for r in caplog.records if r.name == "cnnstudio.ui"]
        if name not in ("geometry garbage bytes", "dataset fifo", "dataset device", "checkpoint fifo",
                        "checkpoint device"):
            assert len(warnings) == 1 and key in warnings[0].getMessage(), name
        else:  # a well-formed value that names nothing usable: forgotten quietly, as a deleted folder is
            assert len(warnings) <= 1, name
    QSettings().clear()


def test_the_window_starts_on_a_damaged_settings_file(qtbot, tmp_path, caplog):
    """Every damaged value at once, then the file itself overwritten with garbage bytes: the window opens
    with the defaults (Shapes, its recommended model, the default size) and one log line."""
    from cnnstudio.ui.main_window import MainWindow

    settings = QSettings()
    for key, value in {k: v for k, v in _hostile_values(tmp_path).values()}.items():
        settings.setValue(key, value)
    settings.sync()
    with caplog.at_level(logging.WARNING, logger="cnnstudio.ui"):
        window = MainWindow()
    qtbot.addWidget(window)
    assert window.state.dataset_name == "shapes" and window.page("model").follows_dataset
    assert window.state.checkpoint_path is None
    assert len([r for r in caplog.records if r.name == "cnnstudio.ui"]) == 1
    qtbot.waitUntil(lambda: window.state.dataset is not None, timeout=TIMEOUT)
    window.fill_recent_menu()  # the damaged recent list reads as empty
    assert [a.text() for a in window.recent_menu.actions()] == ["Nothing opened yet"]
    window.close()

    path = QSettings().fileName()
    with open(path, "wb") as fh:
        fh.write(os.urandom(4096) + b"\n[session]\ndataset=@Variant(\\0\\0\\0\\x7f\\0\\0\\0\\x1)\n"
                 b"spec=@ByteArray(\xff\xfe)\n")
    again = MainWindow()
    qtbot.addWidget(again)
    assert again.state.dataset_name == "shapes"
    qtbot.waitUntil(lambda: again.state.dataset is not None, timeout=TIMEOUT)
    again.close()


def test_the_first_load_of_a_launch_is_not_a_change_of_data(qtbot, shapes_dataset):
    """The last session's chosen model and dataset come back together: nothing to ask at start-up."""
    from cnnstudio.ui.pages.model_page import ModelPage
    from cnnstudio.ui.compose import app_state

    state = app_state()
    state.dataset_name = "fashion-mnist"
    state.remembered_spec = (get_preset("resnet18-imagenet"), True)
    page = ModelPage(state)
    qtbot.addWidget(page)
    state.set_dataset(shapes_dataset, "fashion-mnist")  # the Data page's first load
    assert page.proposal is None and page.current_spec()["name"] == "resnet18-imagenet"
