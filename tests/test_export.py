"""Export (ONNX, INT8, TorchScript, the torch-free bundle) and folder classification, end to end.

Every export is checked by running the written file; these tests check that check, and what a user
outside CNN Studio gets: the file's metadata, a TorchScript archive loaded where cnnstudio cannot be
imported, and a bundle that predicts a drawing where torch cannot be imported.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cnnstudio.core.datasets import load_dataset
from cnnstudio.core.errors import CNNStudioError
from cnnstudio.core.export import KEYS, ExportCancelled, ModelMetadata, export_model
from cnnstudio.core.inference import Predictor
from cnnstudio.core.models.presets import get_preset, preset_names
from cnnstudio.core.training.config import TrainConfig
from cnnstudio.core.training.trainer import Trainer

FASHION = Path("/usr/share/datasets/fashion-mnist")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes")


def train(dataset, run_dir: Path, **changes) -> str:
    cfg = TrainConfig(dataset=dataset.name if not changes.get("folder") else changes.pop("folder"),
                      model="tiny-bn-cnn", epochs=1, batch_size=64, limit_train=400, val_split=0.0,
                      device="cpu", precision="fp32", seed=0)
    from dataclasses import replace

    cfg = replace(cfg, **changes)
    from cnnstudio.core.models.backbones import input_size

    if input_size(get_preset(cfg.model) if cfg.model in preset_names() else None):
        # A pretrained backbone at 64 px rather than 224: the same graph to export, 12x less to compute.
        spec = get_preset(cfg.model)
        for layer in spec["layers"]:
            if layer["type"] == "backbone":
                layer["resolution"] = 64
        place_backbone_weights(spec)
        cfg = replace(cfg, spec=spec)
    result = Trainer(cfg, dataset=dataset, run_dir=run_dir).run()
    assert result.status == "finished", result
    return result.checkpoint


def place_backbone_weights(spec: dict) -> None:
    """An untrained torchvision network's weights where CNN Studio looks for the ImageNet ones (no download)."""
    import torch
    import torchvision

    from cnnstudio.core.models.backbones import weights_dir, weights_file_name

    for layer in spec["layers"]:
        if layer.get("type") == "backbone":
            path = weights_dir() / weights_file_name(layer["arch"])
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(torchvision.models.get_model(layer["arch"], weights=None).state_dict(), path)


@pytest.fixture(scope="module")
def shapes_checkpoint(shapes, tmp_path_factory):
    return train(shapes, tmp_path_factory.mktemp("export") / "run", model="cnn3-dropout")


def blocker(tmp_path: Path, *modules: str) -> dict[str, str]:
    """An environment in which importing each module raises ImportError (a package shadowing it)."""
    folder = tmp_path / "blocked"
    for name in modules:
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed here')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(folder)
    return env


def drawing(size: int = 320, seed: int = 0) -> Image.Image:
    """A dark-on-light drawing of a figure, as a user would draw it on the canvas."""
    rng = np.random.default_rng(seed)
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    cx, cy = (int(v) for v in rng.integers(110, 210, 2))
    r = int(rng.integers(50, 90))
    draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], outline=0, width=int(rng.integers(6, 16)))
    return image


# -- ONNX ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_exports_to_onnx_that_agrees_with_pytorch(preset, shapes, tmp_path):
    import onnxruntime as ort

    # Trained without a test split: the trainer's closing evaluation of the 2,000 test pictures is no part of
    # what is checked here, and was half of resnet18's time. The export's parity check below runs on them.
    untested = dataclasses.replace(shapes, test_images=shapes.test_images[:0], test_labels=shapes.test_labels[:0])
    checkpoint = train(untested, tmp_path / "run", model=preset, limit_train=256)
    # The agreement is what this test checks: the deployment report (timings, 2,000-image accuracies) is
    # measured and tested in tests/test_web_export.py, and would add seconds to each of the 15 presets.
    result = export_model(checkpoint, "onnx", tmp_path / "model.onnx", dataset=shapes, report=False)
    assert result.ok, result.message
    assert result.report is None and not list(tmp_path.glob("model.*.json"))
    assert result.parity.images == 300 and result.parity.agreement == 1.0
    assert result.parity.max_abs_diff < 1e-4
    assert "test images of" in result.parity.source

    # Independently of the exporter's own check: onnxruntime on test images normalised from the file's
    # metadata gives the probabilities the app's Predictor gives.
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    assert isinstance(session.get_inputs()[0].shape[0], str)  # a dynamic batch dimension
    meta = ModelMetadata.from_strings(session.get_modelmeta().custom_metadata_map)
    pixels = shapes.test_images[:257].numpy()  # an odd batch size
    x = (pixels.astype(np.float32) / 255 - np.array(meta.mean, np.float32)[:, None, None]) / np.array(
        meta.std, np.float32)[:, None, None]
    logits = session.run(["logits"], {"input": x.astype(np.float32)})[0]
    expected = Predictor(checkpoint).probabilities(pixels)
    e = np.exp(logits - logits.max(1, keepdims=True))
    assert np.abs(e / e.sum(1, keepdims=True) - expected).max() < 1e-4
    assert (logits.argmax(1) == expected.argmax(1)).all()


def test_onnx_and_torchscript_metadata_round_trip(shapes_checkpoint, shapes, tmp_path):
    import onnx

    from cnnstudio.core.checkpoint import load_checkpoint
    from cnnstudio.core.export.torchscript_file import load_torchscript

    expected = ModelMetadata.of_checkpoint(load_checkpoint(shapes_checkpoint))
    assert expected.classes == shapes.classes and expected.input_shape == [1, 28, 28]
    assert expected.framing == shapes.framing and expected.model == "cnn3-dropout"
    export_model(shapes_checkpoint, "onnx", tmp_path / "m.onnx", dataset=shapes)
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert set(KEYS) <= set(props)
    assert json.loads(props["classes"]) == shapes.classes
    assert json.loads(props["input_shape"]) == [1, 28, 28]
    assert json.loads(props["mean"]) == pytest.approx(list(shapes.mean))
    assert json.loads(props["framing"])["box"] == 20
    assert ModelMetadata.from_strings(props) == expected

    result = export_model(shapes_checkpoint, "torchscript", tmp_path / "m.pt", dataset=shapes)
    assert result.ok and result.parity.max_abs_diff < 1e-5
    _, meta = load_torchscript(tmp_path / "m.pt")
    assert meta == expected


def test_torchscript_loads_where_cnnstudio_is_not_installed(shapes_checkpoint, shapes, tmp_path):
    export_model(shapes_checkpoint, "torchscript", tmp_path / "m.pt", dataset=shapes)
    predictor = Predictor(shapes_checkpoint)
    pixels = shapes.test_images[:64]
    np.save(tmp_path / "x.npy", predictor.normalise(pixels).contiguous().numpy())
    script = (
        "import json, sys, numpy as np, torch\n"
        "try:\n    import cnnstudio\n    sys.exit('cnnstudio was importable')\nexcept ImportError:\n    pass\n"
        f"extra = {{'classes': '', 'framing': ''}}\n"
        f"m = torch.jit.load({str(tmp_path / 'm.pt')!r}, _extra_files=extra)\n"
        f"x = torch.from_numpy(np.load({str(tmp_path / 'x.npy')!r}))\n"
        "with torch.no_grad():\n    p = torch.softmax(m(x), 1).numpy()\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, p)\n"
        "print(json.dumps({'classes': json.loads(extra['classes']), 'box': json.loads(extra['framing'])['box']}))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=blocker(tmp_path, "cnnstudio"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"classes": shapes.classes, "box": 20}
    assert np.abs(np.load(tmp_path / "p.npy") - predictor.probabilities(pixels.numpy())).max() < 1e-5


# -- the torch-free bundle -------------------------------------------------------------------------
def test_bundle_predicts_a_drawing_like_the_app_without_torch(shapes_checkpoint, shapes, tmp_path):
    result = export_model(shapes_checkpoint, "onnx", tmp_path / "m.onnx", bundle=tmp_path / "bundle", dataset=shapes)
    bundle = Path(result.bundle)
    expected = {"model.onnx", "labels.txt", "predict.py", "requirements.txt", "README.md"}
    assert expected <= {p.name for p in bundle.iterdir()}
    assert (bundle / "labels.txt").read_text().split("\n")[:-1] == shapes.classes
    # The preparation is the core's own code, byte for byte.
    for name in ("preparation.py", "framing.py", "image_modes.py", "cover.py", "orientation.py", "errors.py"):
        assert (bundle / "cnnstudio_prep" / name).read_bytes() == (ROOT / "cnnstudio" / "core" / name).read_bytes()

    predictor = Predictor(shapes_checkpoint)
    paths = []
    for seed in range(4):
        drawing(seed=seed).save(tmp_path / f"drawn{seed}.png")
        paths.append(str(tmp_path / f"drawn{seed}.png"))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    env = blocker(tmp_path, "torch", "cnnstudio", "torchvision")
    proc = subprocess.run([sys.executable, str(bundle / "predict.py"), "--json", "--top", "8", *paths,
                           str(tmp_path / "broken.png")], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr  # the broken file is reported, the others predicted
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" in rows[-1] and "not an image" in rows[-1]["error"]
    for path, row in zip(paths, rows):
        from cnnstudio.core.preparation import open_image

        _, probs = predictor.predict_image(open_image(path))
        assert row["label"] == shapes.classes[int(probs.argmax())]
        got = {t["label"]: t["probability"] for t in row["top"]}
        for i, name in enumerate(shapes.classes):
            assert got[name] == pytest.approx(float(probs[i]), abs=1e-4)
    # And on the command line without --json: the top classes, one image per line.
    proc = subprocess.run([sys.executable, str(bundle / "predict.py"), paths[0]], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith(paths[0] + ": ")


# -- failures are failures -------------------------------------------------------------------------
def test_a_disagreeing_export_is_reported_as_failed(shapes_checkpoint, shapes, tmp_path, monkeypatch, capsys):
    from cnnstudio import cli
    from cnnstudio.core.export import onnx_file

    real = onnx_file.run_onnx
    monkeypatch.setattr(onnx_file, "run_onnx", lambda session, x, batch=256: real(session, x, batch)[:, ::-1].copy())
    result = export_model(shapes_checkpoint, "onnx", tmp_path / "m.onnx", dataset=shapes)
    assert not result.ok and result.parity.agreement < 1.0
    assert "FAILED" in result.message
    code = cli.main(["export", "--checkpoint", shapes_checkpoint, "--out", str(tmp_path / "m2.onnx")])
    assert code == cli.EXIT_FAILED
    assert "FAILED the parity check" in capsys.readouterr().err


def test_export_refusals_are_one_clear_line(shapes_checkpoint, tmp_path, capsys):
    from cnnstudio import cli

    cases = [(["--format", "torchscript", "--int8"], "INT8 export is for ONNX only"),
             (["--format", "torchscript", "--bundle", str(tmp_path / "b")], "use --format onnx with --bundle")]
    for extra, words in cases:
        assert cli.main(["export", "--checkpoint", shapes_checkpoint, *extra]) == cli.EXIT_ERROR
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err
    assert cli.main(["export", "--checkpoint", str(tmp_path / "missing.pt")]) == cli.EXIT_ERROR
    assert "missing.pt" in capsys.readouterr().err


def test_without_its_dataset_parity_uses_random_images_and_int8_says_why(tmp_path):
    folder = tmp_path / "pics"
    for k, name in enumerate(("dark", "light")):
        (folder / name).mkdir(parents=True)
        for i in range(20):
            Image.fromarray(np.full((24, 24, 3), 40 + 170 * k + i, np.uint8)).save(folder / name / f"{i}.png")
    ds = load_dataset(folder)
    checkpoint = train(ds, tmp_path / "run", folder=str(folder))
    import shutil

    shutil.rmtree(folder)  # the user moved their pictures away
    result = export_model(checkpoint, "onnx", tmp_path / "m.onnx")
    assert result.ok and result.parity.source.startswith("random images")
    with pytest.raises(CNNStudioError, match="calibrates on the training images"):
        export_model(checkpoint, "onnx", tmp_path / "m8.onnx", int8=True)
    assert not (tmp_path / "m8.onnx").exists()


def test_cancelled_export_writes_nothing(shapes_checkpoint, shapes, tmp_path):
    seen = []

    def progress(fraction, text):
        seen.append(text)

    with pytest.raises(ExportCancelled):
        export_model(shapes_checkpoint, "onnx", tmp_path / "out" / "m.onnx", dataset=shapes, progress=progress,
                     cancelled=lambda: len(seen) >= 3)
    assert not (tmp_path / "out" / "m.onnx").exists()
    assert list((tmp_path / "out").iterdir()) == []  # no temporary folder left behind


# -- INT8 and the real Fashion-MNIST test set ------------------------------------------------------
@pytest.fixture(scope="module")
def fashion_checkpoint(tmp_path_factory):
    if not FASHION.is_dir():
        pytest.skip("the dataset-fashion-mnist package is not installed")
    ds = load_dataset("fashion-mnist")
    return train(ds, tmp_path_factory.mktemp("fashion") / "run", model="convnet-5x5", limit_train=6000,
                 batch_size=100, optimizer="adam", lr=1e-3), ds


def read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes())
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def test_int8_keeps_fashion_mnist_accuracy_within_one_point(fashion_checkpoint, tmp_path):
    checkpoint, ds = fashion_checkpoint
    result = export_model(checkpoint, "onnx", tmp_path / "m.int8.onnx", int8=True, dataset=ds)
    assert result.ok, result.message
    report = result.int8
    assert report.images == 10_000
    assert report.fp32_accuracy > 0.7  # a real model (one epoch on 6,000 images), not chance (0.1)
    assert abs(report.fp32_accuracy - report.int8_accuracy) <= 0.01, report
    assert report.int8_bytes < report.fp32_bytes / 3  # int8 weights: about a quarter of the size
    assert Path(result.path).stat().st_size == report.int8_bytes


def test_onnx_alone_scores_what_evaluate_scores_on_fashion_mnist(fashion_checkpoint, tmp_path, capsys):
    import onnxruntime as ort

    from cnnstudio import cli

    checkpoint, _ = fashion_checkpoint
    assert cli.main(["export", "--checkpoint", checkpoint, "--out", str(tmp_path / "f.onnx"), "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["evaluate", "--checkpoint", checkpoint, "--device", "cpu", "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["accuracy"]
    # onnxruntime and numpy only: the IDX files as stored, normalised from the model's own metadata.
    images = read_idx(FASHION / "t10k-images-idx3-ubyte.gz")[:, None]
    labels = read_idx(FASHION / "t10k-labels-idx1-ubyte.gz")
    session = ort.InferenceSession(str(tmp_path / "f.onnx"), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    mean, std = np.float32(json.loads(meta["mean"])[0]), np.float32(json.loads(meta["std"])[0])
    correct = 0
    for i in range(0, len(images), 1000):
        x = ((images[i:i + 1000].astype(np.float32) / 255 - mean) / std).astype(np.float32)
        correct += int((session.run(["logits"], {"input": x})[0].argmax(1) == labels[i:i + 1000]).sum())
    assert len(images) == 10_000
    assert abs(correct / len(images) - evaluated) <= 0.001


# -- classify a folder -----------------------------------------------------------------------------
def write_colour_folder(root: Path, per_class: int, seed: int) -> None:
    """Red, green and blue blobs at 32x32 (the size the loader keeps, so nothing is resampled)."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(("red", "green", "blue")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = rng.integers(0, 90, (32, 32, 3)).astype(np.uint8)
            y, x = rng.integers(4, 20, 2)
            image[y:y + 10, x:x + 10, k] = rng.integers(120, 256)
            Image.fromarray(image).save(root / name / f"{i}.png")


def test_classifying_a_folder_of_class_subfolders_scores_what_evaluate_scores(tmp_path, capsys):
    import torch

    from cnnstudio import cli
    from cnnstudio.core.classify import classify_folder
    from cnnstudio.core.metrics import evaluate

    folder = tmp_path / "colours"
    write_colour_folder(folder / "train", 40, seed=0)
    write_colour_folder(folder / "test", 30, seed=1)
    ds = load_dataset(folder)
    assert ds.input_shape == (3, 32, 32) and len(ds.test_images) == 90
    checkpoint = train(ds, tmp_path / "run", folder=str(folder), model="bn-cnn4", epochs=2, batch_size=16,
                       optimizer="adam", lr=3e-3)
    predictor = Predictor(checkpoint)
    expected = evaluate(predictor.model, ds.test_images, ds.test_labels, ds.classes, predictor.normalise,
                        torch.device("cpu"))
    assert 0.4 < expected.accuracy < 1.0 or expected.accuracy == 1.0
    (folder / "test" / "red" / "broken.png").write_bytes(b"\x89PNG broken")
    (folder / "test" / "notes.txt").write_text("not an image")
    result = classify_folder(predictor, folder / "test")
    assert len(result.results) == 90 and [name for name, _ in result.skipped] == ["red/broken.png"]
    assert result.ignored == {".txt": 1}
    assert result.accuracy == pytest.approx(expected.accuracy, abs=1e-12)
    assert np.array_equal(result.evaluation().confusion_matrix(), expected.confusion_matrix())

    # The command line: a row per image in the CSV, the skipped file reported; 90 images classified is a
    # good result (exit 0; --strict makes any skip a failure).
    code = cli.main(["predict", "--checkpoint", checkpoint, "--folder", str(folder / "test"), "--csv",
                     str(tmp_path / "out.csv"), "--json"])
    out = capsys.readouterr()
    assert code == 0 and "skipped red/broken.png" in out.err
    data = json.loads(out.out.strip().splitlines()[-1])
    assert data["images"] == 90 and data["accuracy"] == pytest.approx(expected.accuracy)
    import csv

    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert len(rows) == 91 and rows[-1]["correct"].startswith("skipped")
    assert {r["truth"] for r in rows[:-1]} == {"red", "green", "blue"}
    assert sum(r["correct"] == "yes" for r in rows) == round(expected.accuracy * 90)


def test_classifying_a_loose_folder_has_no_accuracy_and_names_what_it_could_not_read(shapes_checkpoint, tmp_path,
                                                                                     capsys):
    from cnnstudio import cli

    folder = tmp_path / "mine"
    (folder / "holiday").mkdir(parents=True)
    drawing(seed=1).save(folder / "a.png")
    drawing(seed=2).convert("RGB").save(folder / "holiday" / "b.jpg")
    (folder / "empty.png").write_bytes(b"")
    assert cli.main(["predict", "--checkpoint", shapes_checkpoint, "--folder", str(folder)]) == 0
    out = capsys.readouterr()
    assert "a.png: " in out.out and "holiday/b.jpg: " in out.out
    assert "2 images classified; 1 skipped" in out.out and "accuracy" not in out.out
    assert "skipped empty.png: empty file" in out.err
    nowhere = str(tmp_path / "nowhere")
    assert cli.main(["predict", "--checkpoint", shapes_checkpoint, "--folder", nowhere]) == cli.EXIT_ERROR
    assert "not found" in capsys.readouterr().err
    assert cli.main(["predict", "--checkpoint", shapes_checkpoint]) == cli.EXIT_ERROR
    assert "give image files, or --folder" in capsys.readouterr().err


def test_a_graph_the_new_exporter_refuses_falls_back_to_the_torchscript_exporter(shapes_checkpoint, shapes,
                                                                                tmp_path, monkeypatch):
    import torch

    real = torch.onnx.export
    calls = []

    def export(*args, dynamo=True, **kwargs):
        calls.append(dynamo)
        if dynamo:
            raise RuntimeError("torch.export could not capture this graph")
        return real(*args, dynamo=False, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", export)
    result = export_model(shapes_checkpoint, "onnx", tmp_path / "m.onnx", dataset=shapes)
    assert calls == [True, False]
    assert result.ok and result.parity.agreement == 1.0
    props = __import__("onnx").load(str(tmp_path / "m.onnx")).metadata_props
    assert ModelMetadata.from_strings({p.key: p.value for p in props}).classes == shapes.classes

    monkeypatch.setattr(torch.onnx, "export", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no way")))
    with pytest.raises(CNNStudioError, match="ONNX export failed: no way"):
        export_model(shapes_checkpoint, "onnx", tmp_path / "m2.onnx", dataset=shapes)
    # The first export and its deployment report (model card and JSON), nothing of the second.
    assert not (tmp_path / "m2.onnx").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.model-card.md", "m.onnx", "m.report.json"]
