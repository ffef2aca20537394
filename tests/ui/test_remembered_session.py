"""A restarted main window reopens the last dataset, architecture and checkpoint (issue 15, item 7)."""

from __future__ import annotations

import numpy as np
from PIL import Image

TIMEOUT = 60_000


def image_folder(root):
    rng = np.random.default_rng(0)
    for k, name in enumerate(("dark", "light")):
        (root / name).mkdir(parents=True)
        for i in range(12):
            pixels = np.full((16, 16), 40 + 170 * k, np.uint8) + rng.integers(0, 20, (16, 16), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_the_last_session_is_reopened(qtbot, tmp_path, shapes_checkpoint):
    from cnnstudio.ui.main_window import MainWindow

    folder = image_folder(tmp_path / "my-photos")
    first = MainWindow()
    qtbot.addWidget(first)
    qtbot.waitUntil(lambda: first.state.dataset is not None, timeout=TIMEOUT)
    with qtbot.waitSignal(first.state.datasetChanged, timeout=TIMEOUT):
        first.page("data").open_folder(folder)
    first.page("model").select_preset("lenet5")  # the user's own choice
    with qtbot.waitSignal(first.state.model.loaded, timeout=TIMEOUT):
        first.state.set_checkpoint(shapes_checkpoint)
    first.close()

    second = MainWindow()
    qtbot.addWidget(second)
    assert second.state.dataset_name == str(folder)
    qtbot.waitUntil(lambda: second.state.dataset is not None, timeout=TIMEOUT)
    assert second.state.dataset.classes == ["dark", "light"]
    model = second.page("model")
    assert model.current_spec()["name"] == "lenet5" and not model.follows_dataset
    qtbot.waitUntil(lambda: second.state.model.context is not None, timeout=TIMEOUT)
    assert second.state.model.path == shapes_checkpoint
    second.close()


def test_what_no_longer_exists_is_forgotten(qtbot, tmp_path, shapes_checkpoint):
    import shutil

    from PySide6.QtCore import QSettings

    from cnnstudio.ui.main_window import MainWindow
    from cnnstudio.ui.session_memory import CHECKPOINT_KEY, DATASET_KEY, SPEC_KEY

    gone = tmp_path / "gone"
    gone.mkdir()
    settings = QSettings()
    settings.setValue(DATASET_KEY, str(gone))
    settings.setValue(SPEC_KEY, "{not json")
    settings.setValue(CHECKPOINT_KEY, str(tmp_path / "deleted.pt"))
    settings.sync()
    shutil.rmtree(gone)
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.state.dataset_name == "shapes"
    assert window.page("model").follows_dataset
    assert window.state.checkpoint_path is None
    qtbot.waitUntil(lambda: window.state.dataset is not None, timeout=TIMEOUT)
    window.close()
