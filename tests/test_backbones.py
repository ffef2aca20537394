"""Pretrained backbones: weights files placed, imported or missing; the layer equals torchvision's network;
training modes; and the rest of CNN Studio (checkpoint, prediction, export) with a backbone model.

No test downloads: weights files are generated here from untrained torchvision models of the same
architecture (the loader cannot tell them from the published ones except by checksum), and the
"offline" test makes the network unreachable.
"""

from __future__ import annotations

import socket
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.models import backbones
from cnnstudio.core.models.backbones import BACKBONES, weights_dir, weights_file_name
from cnnstudio.core.models.builder import build_model
from cnnstudio.core.models.presets import get_preset
from cnnstudio.core.models.spec import infer_shapes


def place_weights(arch: str, seed: int = 0) -> Path:
    """An untrained torchvision network's weights, saved where CNN Studio looks for the ImageNet ones."""
    torch.manual_seed(seed)
    model = torchvision.models.get_model(arch, weights=None)
    path = weights_dir() / weights_file_name(arch)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


def spec_for(arch: str, train: str = "features", resolution: int = 64) -> dict:
    return {"name": f"{arch}-test", "layers": [
        {"type": "backbone", "arch": arch, "weights": "imagenet", "train": train, "resolution": resolution},
        {"type": "linear", "out": "classes"}]}


@pytest.mark.parametrize("arch", list(BACKBONES))
def test_the_backbone_layer_computes_what_torchvision_computes_from_the_same_file(arch):
    path = place_weights(arch)
    model = build_model(spec_for(arch, resolution=96), (3, 96, 96), 5).eval()
    notes = backbones.prepare_backbones(model, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), load_weights=True)
    assert str(path) in notes[0]
    reference = torchvision.models.get_model(arch, weights=None)
    reference.load_state_dict(torch.load(path, weights_only=True))
    if hasattr(reference, "fc"):
        reference.fc = torch.nn.Identity()
    else:
        reference.classifier = torch.nn.Identity()
    reference.eval()
    x = torch.rand(3, 3, 96, 96)  # pixels in 0..1, as the dataset normalisation (0, 1) leaves them
    mean = torch.tensor(backbones.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(backbones.IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        ours = model[0](x)
        theirs = reference((x - mean) / std)
    assert ours.shape == (3, BACKBONES[arch].features)
    assert torch.equal(ours, theirs)  # the same weights really loaded: bit for bit
    # The spec's parameter count is the module's.
    report = infer_shapes(spec_for(arch, resolution=96), (3, 96, 96), 5)
    assert report.layers[0].params == sum(p.numel() for p in model[0].parameters())


def test_grey_input_is_repeated_to_rgb_and_resized_after_undoing_the_data_normalisation():
    place_weights("mobilenet_v3_small")
    model = build_model(spec_for("mobilenet_v3_small", resolution=64), (1, 28, 28), 3).eval()
    backbones.prepare_backbones(model, (0.3,), (0.2,), load_weights=True)
    pixels = torch.rand(2, 1, 28, 28)
    rgb = torch.nn.functional.interpolate(pixels.expand(-1, 3, -1, -1), size=(64, 64), mode="bilinear",
                                          align_corners=False)
    direct = build_model(spec_for("mobilenet_v3_small", resolution=64), (3, 64, 64), 3).eval()
    direct.load_state_dict({k: v for k, v in model.state_dict().items() if "input_" not in k}, strict=False)
    with torch.no_grad():
        a = model[0]((pixels - 0.3) / 0.2)
        b = direct[0](rgb)  # its input normalisation is the identity (mean 0, std 1)
    assert torch.allclose(a, b, atol=1e-5)


def test_training_modes_freeze_what_they_say():
    place_weights("resnet18")
    counts = {}
    for mode in backbones.TRAIN_MODES:
        model = build_model(spec_for("resnet18", mode), (3, 64, 64), 4)
        body = model[0]
        counts[mode] = sum(p.numel() for p in body.parameters() if p.requires_grad)
        model.train()
        assert body.net.bn1.training == (mode == "all")  # frozen BatchNorms keep ImageNet's statistics
        assert body.net.layer4[0].bn1.training == (mode != "features")
    assert counts["features"] == 0
    layer4 = build_model(spec_for("resnet18"), (3, 64, 64), 4)[0].net.layer4
    assert counts["last"] == sum(p.numel() for p in layer4.parameters())
    assert counts["all"] == BACKBONES["resnet18"].params
    # MobileNet's last stage: the blocks after its last downsampling.
    m = build_model(spec_for("mobilenet_v3_small", "last"), (3, 64, 64), 4)[0]
    learning = [name for name, modules in m.stages()
                if any(p.requires_grad for mod in modules for p in mod.parameters())]
    assert learning and learning[-1] == "features.12" and len(learning) < len(m.stages())


def test_fine_tuning_all_gives_the_backbone_a_tenth_of_the_rate():
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.core.training.trainer import make_optimizer

    model = build_model(spec_for("mobilenet_v3_small", "all"), (3, 64, 64), 4)
    opt = make_optimizer(TrainConfig(lr=1e-3), model, torch.device("cpu"))
    head = {id(p) for p in model[1].parameters()}
    for g in opt.param_groups:
        is_head = all(id(p) in head for p in g["params"])
        assert g["lr"] == pytest.approx(1e-3 if is_head else 1e-4)


# -- weights files ---------------------------------------------------------------------------------
def offline(monkeypatch):
    """The download path itself, with the network unreachable."""
    from cnnstudio.core.datasets import download

    monkeypatch.delenv("CNNSTUDIO_OFFLINE", raising=False)

    def no_network(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(download.urllib.request, "urlopen", no_network)


def test_without_weights_and_network_the_message_names_file_url_and_folder(monkeypatch):
    offline(monkeypatch)
    with pytest.raises(CNNStudioError) as info:
        backbones.ensure_weights("resnet18")
    text = str(info.value)
    assert "resnet18-f37072fd.pth" in text and "https://download.pytorch.org/models/resnet18-f37072fd.pth" in text
    assert str(weights_dir()) in text and "no network" in text and "--weights" in text
    assert not any(weights_dir().glob("*"))  # no partial file left


def test_importing_a_weights_file_checks_it_fits_then_uses_it(tmp_path, monkeypatch):
    offline(monkeypatch)
    torch.manual_seed(3)
    fetched = tmp_path / "downloads" / "my-resnet.pth"
    fetched.parent.mkdir()
    torch.save(torchvision.models.resnet18().state_dict(), fetched)
    where, note = backbones.import_weights("resnet18", fetched)
    assert where == weights_dir() / "resnet18-f37072fd.pth" and "checksum differs" in note
    assert backbones.find_weights("resnet18") == where
    wrong = tmp_path / "wrong.pth"
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), wrong)
    with pytest.raises(CNNStudioError, match="does not fit ResNet-18"):
        backbones.import_weights("mobilenet_v3_small".replace("mobilenet_v3_small", "resnet18"), wrong)
    (tmp_path / "junk.pth").write_bytes(b"not torch")
    with pytest.raises(CNNStudioError, match="not a PyTorch weights file"):
        backbones.import_weights("resnet18", tmp_path / "junk.pth")


# -- training and everything after it --------------------------------------------------------------
def write_photo_folder(root: Path, per_class: int = 40, seed: int = 0) -> None:
    """Photo-like pictures (noisy gradients) of three classes told apart by a shape's colour and form."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(("sunset", "forest", "sea")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            base = np.linspace(0, 1, 48)[None, :, None] * rng.uniform(40, 120, 3)
            picture = base + rng.normal(0, 18, (48, 48, 3))
            y, x = rng.integers(6, 30, 2)
            picture[y:y + 14, x:x + 14, k] += 120
            Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8)).save(root / name / f"{i}.png")


def test_features_only_training_converges_and_the_model_works_everywhere(tmp_path, capsys):
    from cnnstudio import cli
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.export import export_model
    from cnnstudio.core.inference import Predictor
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.core.training.trainer import Trainer

    # ResNet-18: untrained, its features still tell pictures apart (random convolutions and ReLUs), where
    # an untrained MobileNet's or EfficientNet's vanish (their small initial weights).
    place_weights("resnet18")
    folder = tmp_path / "photos"
    write_photo_folder(folder)
    ds = load_dataset(folder)
    spec = get_preset("resnet18-imagenet")
    spec["layers"][0]["resolution"] = 64
    cfg = TrainConfig(dataset=str(folder), model="resnet18-imagenet", spec=spec, epochs=6, batch_size=16,
                      optimizer="adam", lr=3e-3, val_split=0.0, device="cpu", precision="fp32", seed=0)
    logs = []
    result = Trainer(cfg, dataset=ds, run_dir=tmp_path / "run", on_event=lambda e: logs.append(e)).run()
    assert result.status == "finished", result
    assert result.test_accuracy >= 0.9, result.test_accuracy
    assert any("ImageNet weights from" in getattr(e, "message", "") for e in logs)
    messages = [getattr(e, "message", "") for e in logs]
    assert any("features only: 96 pictures" in m and "(0 from the cache)" in m for m in messages), messages
    # A second run computes no picture's features again, and learns exactly the same head from them.
    again = []
    second = Trainer(cfg, dataset=ds, run_dir=tmp_path / "run2", on_event=lambda e: again.append(e)).run()
    assert any("(96 from the cache)" in getattr(e, "message", "") for e in again)
    assert second.test_accuracy == result.test_accuracy
    assert second.history["train_loss"] == result.history["train_loss"]
    # The frozen backbone really stayed as loaded.
    checkpoint = torch.load(result.checkpoint, weights_only=False)
    loaded = torch.load(weights_dir() / weights_file_name("resnet18"), weights_only=True)
    key = "layer1.0.conv1.weight"
    assert torch.equal(checkpoint["model_state"]["0.net." + key], loaded[key])
    # Prediction from the checkpoint alone (no weights file needed), and an export that agrees.
    (weights_dir() / weights_file_name("resnet18")).unlink()
    predictor = Predictor(result.checkpoint)
    probs = predictor.probabilities(ds.test_images.numpy())
    assert (probs.argmax(1) == ds.test_labels.numpy()).mean() == pytest.approx(result.test_accuracy, abs=0.02)
    exported = export_model(result.checkpoint, "onnx", tmp_path / "m.onnx", dataset=ds)
    assert exported.ok and exported.parity.max_abs_diff < 1e-4, exported.message
    assert cli.main(["predict", "--checkpoint", result.checkpoint, "--folder", str(folder)]) == 0
    assert "accuracy" in capsys.readouterr().out


def test_cli_weights_option_imports_the_file_and_trains(tmp_path, monkeypatch, capsys):
    from cnnstudio import cli

    offline(monkeypatch)
    folder = tmp_path / "photos"
    write_photo_folder(folder, per_class=12)
    torch.manual_seed(1)
    fetched = tmp_path / "mobilenet_v3_small.pth"
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), fetched)
    args = ["train", "--dataset", str(folder), "--model", "mobilenet-v3-small-imagenet", "--epochs", "1",
            "--device", "cpu", "--out", str(tmp_path / "run"), "--json"]
    assert cli.main(args) == cli.EXIT_ERROR  # no weights, no network: the clear message
    err = capsys.readouterr().err
    assert "mobilenet_v3_small-047dcff4.pth" in err and "Traceback" not in err
    assert cli.main(args[:-3] + ["--out", str(tmp_path / "run2"), "--weights", str(fetched), "--json"]) == 0
    out = capsys.readouterr()
    assert "checksum differs" in out.err
    assert (weights_dir() / "mobilenet_v3_small-047dcff4.pth").is_file()


def test_a_folder_for_a_backbone_is_decoded_at_its_resolution(tmp_path, monkeypatch, capsys):
    from cnnstudio import cli
    from cnnstudio.core.datasets import load_dataset

    folder = tmp_path / "photos"
    write_photo_folder(folder, per_class=6)
    assert load_dataset(folder).input_shape == (3, 48, 48)  # a scratch net: the pictures' own size
    assert load_dataset(folder, image_size=96).input_shape == (3, 96, 96)
    assert backbones.input_size(get_preset("resnet18-imagenet")) == 224
    assert backbones.input_size(get_preset("convnet-5x5")) is None
    place_weights("mobilenet_v3_small")
    spec = get_preset("mobilenet-v3-small-imagenet")
    spec["layers"][0]["resolution"] = 80
    import json

    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert cli.main(["train", "--dataset", str(folder), "--model", str(tmp_path / "spec.json"), "--epochs", "1",
                     "--device", "cpu", "--out", str(tmp_path / "run"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    checkpoint = torch.load(result["checkpoint"], weights_only=False)
    assert checkpoint["input_shape"] == [3, 80, 80]


def test_offline_mode_never_reaches_the_network(monkeypatch):
    from cnnstudio.core.datasets import download

    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: pytest.fail("the network was used"))
    with pytest.raises(CNNStudioError, match="CNNSTUDIO_OFFLINE is set"):
        backbones.ensure_weights("efficientnet_b0")


def test_torchrun_trains_a_backbone_model(tmp_path):
    """Two CPU processes (gloo), features only: each rank computes the features, the head is trained in step."""
    import json
    import os
    import subprocess
    import sys

    place_weights("resnet18")
    spec = get_preset("resnet18-imagenet")
    spec["layers"][0]["resolution"] = 32
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "cnnstudio",
           "train", "--dataset", "shapes", "--model", str(tmp_path / "spec.json"), "--epochs", "2", "--limit-train",
           "400", "--batch-size", "32", "--device", "cpu", "--precision", "fp32", "--out", str(tmp_path / "run"),
           "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["status"] == "finished" and result["world_size"] == 2
    assert proc.stderr.count("features only: 400 pictures") == 1  # rank 0 alone reports
    checkpoint = torch.load(result["checkpoint"], weights_only=False)
    loaded = torch.load(weights_dir() / weights_file_name("resnet18"), weights_only=True)
    assert torch.equal(checkpoint["model_state"]["0.net.layer4.1.conv2.weight"], loaded["layer4.1.conv2.weight"])


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v3_small"])
def test_inspection_shows_the_feature_maps_of_every_stage_before_the_backbones_vector(arch):
    from types import SimpleNamespace

    from cnnstudio.core.inspection import inspect_image
    from cnnstudio.core.inspection.mosaic import inspect_sections

    model = build_model({**spec_for(arch, resolution=64), "layers": [
        {"type": "backbone", "arch": arch, "weights": "none", "train": "all", "resolution": 64},
        {"type": "linear", "out": "classes"}]}, (3, 48, 48), 4).eval()
    x = torch.rand(3, 48, 48)
    stages = model[0].stages()
    inspection = inspect_image(model, x)
    maps = inspection.stage_maps
    assert [m.label for m in maps] == [
        f"{BACKBONES[arch].title} " + (name if not name.startswith("features.") else f"stage {name[9:]}")
        for name, _ in stages]
    assert all(m.is_spatial and m.index == 0 for m in maps)
    # Each stage's maps are what that stage computes (the resolution halves or stays, never grows).
    sides = [m.shape[1] for m in maps]
    assert sides[0] <= 32 and all(b <= a for a, b in zip(sides, sides[1:]))
    assert maps[-1].shape[0] == (512 if arch == "resnet18" else 576)
    # The Inspect page's sections: the stages, then the backbone's vector, then the class scores.
    predictor = SimpleNamespace(model=model, normalise=lambda u8: u8.float() / 255)
    sections = inspect_sections(predictor, (np.random.default_rng(0).random((3, 48, 48)) * 255).astype(np.uint8),
                                None, None, False, "map").sections
    assert [s.label for s in sections[:len(stages)]] == [m.label for m in maps]
    assert [s.kind for s in sections] == ["maps"] * len(stages) + ["vector", "vector"]
    assert [s.key for s in sections[len(stages):]] == ["0", "1"]
