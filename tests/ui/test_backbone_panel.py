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
