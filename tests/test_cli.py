"""The command line: listings, train / evaluate / predict, and clear one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnstudio.cli import main

FASHION = Path("/usr/share/datasets/fashion-mnist")


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out: str):
    return json.loads(out.strip().splitlines()[-1])


def test_datasets_json_lists_the_registry(capsys):
    code, out, _ = run_cli(capsys, "datasets", "--json")
    assert code == 0
    items = {d["name"]: d for d in last_json(out)}
    assert {"mnist", "fashion-mnist", "cifar10", "shapes"} <= set(items)
    assert items["shapes"]["available"] is True
    for d in items.values():
        assert {"name", "title", "classes", "input_shape", "available", "location"} <= set(d)
    if (FASHION / "train-images-idx3-ubyte.gz").exists():
        assert items["fashion-mnist"]["available"] is True
        assert items["fashion-mnist"]["location"] == str(FASHION)


def test_models_json_lists_every_preset(capsys):
    code, out, _ = run_cli(capsys, "models", "--json")
    assert code == 0
    names = [m["name"] for m in last_json(out)]
    for preset in ("cnn3-dropout", "tiny-bn-cnn", "convnet-5x5", "bn-cnn4", "sigmoid-cnn", "lenet5", "vgg-bn",
                   "resnet20", "resnet18"):
        assert preset in names
    assert all(m["params"] > 0 for m in last_json(out))


def test_models_show_prints_the_shape_table(capsys):
    code, out, _ = run_cli(capsys, "models", "--show", "convnet-5x5", "--dataset", "shapes")
    assert code == 0
    assert "(28 - 5 + 2*2)/1 + 1 = 28" in out
    assert "64x7x7" in out and "3,137,000" in out
    code, out, _ = run_cli(capsys, "models", "--show", "convnet-5x5", "--json")
    table = last_json(out)
    assert table["layers"][0]["out_shape"] == [32, 28, 28]


@pytest.fixture(scope="module")
def shapes_run(cli_shapes_run):
    """One short CLI training on shapes (a real `cnnstudio train --json` process), shared by the evaluate /
    predict tests: tests/conftest.py runs it once for the session."""
    return cli_shapes_run


def test_train_json_has_the_promised_fields(shapes_run):
    for key in ("test_accuracy", "best_val_accuracy", "epochs", "train_samples_per_second", "device", "precision",
                "run_dir", "checkpoint", "skipped_files"):
        assert key in shapes_run, key
    assert 0 <= shapes_run["test_accuracy"] <= 1
    assert shapes_run["epochs"] == 2
    assert Path(shapes_run["checkpoint"]).name == "best.pt" and Path(shapes_run["checkpoint"]).exists()
    assert shapes_run["test_accuracy"] > 0.8


def test_evaluate_matches_the_training_report(capsys, shapes_run):
    code, out, _ = run_cli(capsys, "evaluate", "--checkpoint", shapes_run["checkpoint"], "--json")
    assert code == 0
    result = last_json(out)
    assert result["accuracy"] == pytest.approx(shapes_run["test_accuracy"], abs=0.005)
    assert len(result["confusion_matrix"]) == 8 and len(result["per_class"]) == 8
    assert sum(map(sum, result["confusion_matrix"])) == 2000


def test_predict_reports_bad_images_and_predicts_the_rest(capsys, shapes_run, tmp_path):
    from cnnstudio.core.datasets import load_dataset

    ds = load_dataset("shapes")
    good = tmp_path / "figure.png"
    Image.fromarray(255 - ds.test_images[0, 0].numpy()).resize((200, 200)).save(good)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    code, out, _ = run_cli(capsys, "predict", "--checkpoint", shapes_run["checkpoint"], str(good), str(broken),
                           str(tmp_path / "missing.png"), "--top-k", "3", "--json")
    results = last_json(out)
    assert [r["image"] for r in results] == [str(good), str(broken), str(tmp_path / "missing.png")]
    assert results[0]["label"] in ds.classes and results[0]["index"] == ds.classes.index(results[0]["label"])
    assert len(results[0]["top_k"]) == 3
    assert "error" in results[1] and "error" in results[2] and "not found" in results[2]["error"]
    assert code != 0  # some images failed: scripts can tell


@pytest.mark.parametrize("args, fragment", [
    (["train", "--dataset", "nosuchdata", "--model", "tiny-bn-cnn"], "nosuchdata"),
    (["train", "--dataset", "shapes", "--model", "nosuchmodel"], "nosuchmodel"),
    (["train", "--dataset", "shapes", "--model", "tiny-bn-cnn", "--epochs", "0"], "at least 1"),
    (["train", "--dataset", "shapes", "--model", "tiny-bn-cnn", "--batch-size", "-5"], "at least 1"),
    (["evaluate", "--checkpoint", "/nonexistent/best.pt"], "not found"),
])
def test_bad_arguments_give_one_clear_line(args, fragment, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "cnnstudio", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert fragment in lines[-1]


def test_checkpoint_that_does_not_fit_the_data_is_refused(capsys, shapes_run, tmp_path):
    folder = tmp_path / "colours"
    rng = np.random.default_rng(0)
    for cls in ("red", "blue", "green"):
        (folder / cls).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(folder / cls / f"{i}.png")
    code, _, err = run_cli(capsys, "evaluate", "--checkpoint", shapes_run["checkpoint"], "--dataset", str(folder))
    assert code != 0
    assert "expects 8 classes" in err and "Traceback" not in err


def test_resume_continues_the_run(capsys, tmp_path):
    run = tmp_path / "run"
    code, out, _ = run_cli(capsys, "train", "--dataset", "shapes", "--model", "tiny-bn-cnn", "--epochs", "1",
                           "--limit-train", "600", "--out", str(run), "--json")
    assert code == 0
    code, out, _ = run_cli(capsys, "train", "--resume", str(run / "last.pt"), "--epochs", "2", "--json")
    assert code == 0
    result = last_json(out)
    assert result["epochs"] == 2 and result["run_dir"] == str(run)
    history = json.loads((run / "metrics.json").read_text())
    assert history["epoch"] == [1, 2]


def test_exported_command_line_reproduces_the_config(tmp_path):
    import shlex

    from cnnstudio.cli import build_parser, config_from_args
    from cnnstudio.core.launch import command_line, launcher_script, torchrun_command
    from dataclasses import replace

    from cnnstudio.core.training.config import AUGMENT_PRESETS, Augmentation, TrainConfig

    cfg = TrainConfig(dataset="fashion-mnist", model="bn-cnn4", epochs=7, batch_size=64, optimizer="sgd", lr=0.05,
                      schedule="cosine", weight_decay=5e-4, label_smoothing=0.1, seed=4, val_split=0.2,
                      early_stopping_patience=3, augment=Augmentation(crop_padding=4, hflip=True), warmup_epochs=0.5)
    argv = shlex.split(command_line(cfg))[1:]
    parsed = config_from_args(build_parser().parse_args(argv))
    for field in ("dataset", "model", "epochs", "batch_size", "optimizer", "lr", "schedule", "weight_decay",
                  "label_smoothing", "seed", "val_split", "early_stopping_patience", "augment", "warmup_epochs"):
        assert getattr(parsed, field) == getattr(cfg, field), field
    multi = torchrun_command(cfg, nproc_per_node=4, nnodes=2)
    assert multi.startswith("torchrun --nproc-per-node 4 --nnodes 2") and "-m cnnstudio train" in multi
    # Every named augmentation goes out and comes back as itself (a colour folder's default among them).
    for aug in AUGMENT_PRESETS.values():
        argv = shlex.split(command_line(replace(cfg, augment=aug)))[1:]
        assert config_from_args(build_parser().parse_args(argv)).augment == aug, argv
    script = tmp_path / "launch.sh"
    script.write_text(launcher_script(cfg, nproc_per_node=2))
    check = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


@pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").exists(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_with_every_default_reaches_91_percent(capsys):
    """Issue 19: `cnnstudio train --dataset fashion-mnist --json` and nothing else picks the recipe designed
    for time to accuracy (fast-cnn, two epochs) and reaches 91 % test accuracy. (Its time, against the
    tutorial recipe, is measured by benchmarks/time_to_accuracy.py, never asserted here.)"""
    code, out, err = run_cli(capsys, "train", "--dataset", "fashion-mnist", "--json")
    assert code == 0, err
    result = last_json(out)
    assert "no --model given: training fast-cnn" in err
    assert result["epochs"] == 2 and result["status"] == "finished"
    assert result["test_accuracy"] >= 0.91, result["test_accuracy"]
