"""The Model page with a pretrained backbone: its stages, trainable and frozen parameters, and its weights."""

from __future__ import annotations

import socket
import urllib.error

import torch
import torchvision

TIMEOUT = 60_000


def test_model_page_shows_a_backbones_stages_and_gets_its_weights(qtbot, shapes_state, tmp_path, monkeypatch):
    from cnnstudio.core.datasets import download
    from cnnstudio.core.models.backbones import weights_dir
    from cnnstudio.ui.pages.model_page import ModelPage

    def no_network(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(download.urllib.request, "urlopen", no_network)
    monkeypatch.delenv("CNNSTUDIO_OFFLINE", raising=False)  # the download path itself, network unreachable
    page = ModelPage(shapes_state)
    qtbot.addWidget(page)
    page.resize(1100, 760)
    page.show()
    panel = page.backbone_panel
    assert not panel.isVisible()
    with qtbot.waitSignals([panel.session.stagesReady, panel.session.weightsChanged], timeout=TIMEOUT):
        page.select_preset("resnet18-imagenet")
    assert panel.isVisible()
    rows = [(panel.stages.topLevelItem(i).text(0), panel.stages.topLevelItem(i).text(3))
            for i in range(panel.stages.topLevelItemCount())]
    assert rows == [("stem", "frozen"), ("layer1", "frozen"), ("layer2", "frozen"), ("layer3", "frozen"),
                    ("layer4", "frozen")]
    assert panel.stages.topLevelItem(4).text(1) == "512×7×7"
    assert "Trainable 0, frozen 11.18 M" in panel.summary.text()
    assert "resnet18-f37072fd.pth" in panel.weights_label.text() and panel.download_button.isVisible()

    # "What learns": the last stage.
    with qtbot.waitSignal(panel.session.stagesReady, timeout=TIMEOUT):
        page.set_layer_param(0, "train", "last")
    assert panel.stages.topLevelItem(4).text(3) == "learns" and panel.stages.topLevelItem(3).text(3) == "frozen"
    assert "Trainable 8.39 M" in panel.summary.text()

    # Offline, Download says what to do; Import takes a file that fits.
    with qtbot.waitSignal(panel.session.failed, timeout=TIMEOUT):
        assert panel.download()
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in panel.weights_label.text()
    assert "no network" in panel.weights_label.text() and panel.import_button.isEnabled()
    fetched = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), fetched)
    with qtbot.waitSignal(panel.session.weightsChanged, timeout=TIMEOUT):
        panel.import_file(str(fetched))
    assert "Imported" in panel.weights_label.text()
    assert (weights_dir() / "resnet18-f37072fd.pth").is_file()
    page.grab().save(str(tmp_path / "model-backbone.png"))

    # A scratch preset: the box goes.
    page.select_preset("convnet-5x5")
    assert not panel.isVisible()
    page.shutdown()


def test_a_backbone_run_from_the_app_sees_its_folder_at_its_resolution(qtbot, tmp_path):
    """The Data page decodes a folder small (for scratch networks); a backbone's run decodes it again at
    the backbone's resolution, and Evaluate finds the data at the size the model was trained at."""
    import numpy as np
    from PIL import Image

    from cnnstudio.core.checkpoint import load_checkpoint
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.models.backbones import weights_dir, weights_file_name
    from cnnstudio.core.models.presets import get_preset
    from cnnstudio.core.model_context import load_dataset_for
    from cnnstudio.ui.sessions.train_session import TrainSession
    from cnnstudio.ui.compose import app_state

    rng = np.random.default_rng(0)
    folder = tmp_path / "pics"
    for k, name in enumerate(("red", "blue")):
        (folder / name).mkdir(parents=True)
        for i in range(10):
            picture = rng.integers(0, 60, (40, 40, 3)).astype(np.uint8)
            picture[..., 2 * k] += 150
            Image.fromarray(picture).save(folder / name / f"{i}.png")
    path = weights_dir() / weights_file_name("mobilenet_v3_small")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), path)
    state = app_state()
    state.set_dataset(load_dataset(folder), str(folder))
    assert state.dataset.input_shape == (3, 40, 40)
    spec = get_preset("mobilenet-v3-small-imagenet")
    spec["layers"][0]["resolution"] = 64
    state.set_spec(spec, True)
    session = TrainSession(state)
    cfg = session.build_config({"epochs": 1, "batch_size": 8, "device": "cpu", "val_split": 0.0}, None)
    with qtbot.waitSignal(session.ended, timeout=TIMEOUT) as ended:
        session.start(cfg, None)
    result, failure = ended.args
    assert failure is None and result.status == "finished", (result, failure)
    checkpoint = load_checkpoint(result.checkpoint)
    assert checkpoint["input_shape"] == [3, 64, 64]
    assert load_dataset_for(checkpoint).input_shape == (3, 64, 64)


def test_the_train_page_offers_the_three_ways_to_train_a_backbone(qtbot, shapes_state):
    """The Train page's "Backbone" choice appears with a backbone model, and edits the Model page's spec
    (the layer's "What learns"), which the Model page's stage table then shows."""
    from cnnstudio.ui.main_window import MainWindow

    window = MainWindow(shapes_state)
    qtbot.addWidget(window)
    window.show()
    model, train = window.page("model"), window.page("train")
    combo, form = train.form.backbone_combo, train.form.what_form
    model.select_preset("convnet-5x5")
    assert not form.isRowVisible(combo)
    with qtbot.waitSignal(model.backbone_panel.session.stagesReady, timeout=TIMEOUT):
        model.select_preset("resnet18-imagenet")
    assert form.isRowVisible(combo) and combo.currentData() == "features"
    assert [combo.itemData(i) for i in range(combo.count())] == ["features", "last", "all"]
    with qtbot.waitSignal(model.backbone_panel.session.stagesReady, timeout=TIMEOUT):
        combo.setCurrentIndex(combo.findData("last"))
    spec = shapes_state.spec
    assert spec["layers"][0]["train"] == "last" and spec["name"] == "custom (based on resnet18-imagenet)"
    panel = model.backbone_panel
    assert panel.stages.topLevelItem(4).text(3) == "learns" and panel.stages.topLevelItem(3).text(3) == "frozen"
    assert train.build_config().spec["layers"][0]["train"] == "last"
    # A preset chosen on the Model page shows its own mode on the Train page.
    model.select_preset("mobilenet-v3-small-imagenet")
    assert combo.currentData() == "features" and train.form.model_label.text() == "mobilenet-v3-small-imagenet"
    model.select_preset("convnet-5x5")
    assert not form.isRowVisible(combo)
    window.close()
