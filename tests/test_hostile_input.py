"""Damaged, crafted and diverged: every case ends in one clear line, loses nothing, and never runs code.

Each test looks from the user's side: what the CLI prints and returns, or what the core hands the app.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import os
import random
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnstudio.cli import main
from cnnstudio.core.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from cnnstudio.core.datasets import load_dataset
from cnnstudio.core.datasets.idx import read_idx
from cnnstudio.core.errors import CheckpointError, CNNStudioError, DatasetError
from cnnstudio.core.inference import Predictor
from cnnstudio.core.runs import list_runs, read_run, remove_orphaned_temp_files
from cnnstudio.core.training.config import Augmentation, TrainConfig
from cnnstudio.core.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_clear_line(err: str, fragment: str) -> None:
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines, "nothing was said"
    assert fragment in lines[-1], lines[-1]


@pytest.fixture(scope="module")
def shapes():
    return load_dataset("shapes")


@pytest.fixture(scope="module")
def trained(shapes, tmp_path_factory):
    """A real one-epoch run of tiny-bn-cnn: its best.pt is the valid checkpoint the fuzzing mutates."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    cfg = TrainConfig(dataset="shapes", model="tiny-bn-cnn", epochs=1, batch_size=64, limit_train=800,
                      device="cpu", precision="fp32", augment=Augmentation())
    result = Trainer(cfg, dataset=shapes, run_dir=run_dir).run()
    assert result.status == "finished"
    return run_dir


# -- 3. crafted or foreign checkpoints ------------------------------------------------------------------

def _mutations(valid: dict) -> list[tuple[str, dict]]:
    """Field-by-field damage to a valid checkpoint: wrong types, impossible sizes, missing keys."""
    out = []

    def variant(name, **changes):
        data = copy.deepcopy(valid)
        for key, value in changes.items():
            if value is _DROP:
                data.pop(key, None)
            else:
                data[key] = value
        out.append((name, data))

    spec = valid["model_spec"]
    huge = copy.deepcopy(spec)
    for layer in huge["layers"]:
        if layer.get("type") == "conv":
            layer["out"] = 100_000
    variant("input_shape as text", input_shape="28x28")
    variant("input_shape with 2 numbers", input_shape=[28, 28])
    variant("input_shape negative", input_shape=[1, -28, 28])
    variant("input_shape giant", input_shape=[1, 2**31, 2**31])
    variant("input_shape float", input_shape=[1.0, 28.0, 28.0])
    variant("classes as int", classes=8)
    variant("classes empty", classes=[])
    variant("classes not text", classes=list(range(8)))
    variant("mean empty", mean=[])
    variant("mean NaN", mean=[float("nan")])
    variant("std zero", std=[0.0])
    variant("std as text", std="0.3")
    variant("framing bad polarity", framing={**valid["framing"], "polarity": "upside-down"})
    variant("framing bad box", framing={**valid["framing"], "box": -3})
    variant("framing as list", framing=[1, 2])
    variant("framing wrong size", framing={**valid["framing"], "height": 999})
    variant("version as text", version="one")
    variant("version from the future", version=99)
    variant("config as text", config="shapes")
    variant("format missing", format=_DROP)
    variant("model_spec missing", model_spec=_DROP)
    variant("model_spec as text", model_spec="tiny-bn-cnn")
    variant("model_spec without layers", model_spec={"name": "x"})
    variant("model_spec 100000 channels", model_spec=huge)
    variant("model_state missing", model_state=_DROP)
    variant("model_state empty", model_state={})
    variant("model_state as list", model_state=[1, 2])
    variant("model_state wrong shapes", model_state={k: torch.zeros(3) for k in valid["model_state"]})
    variant("model_state NaN", model_state={k: (v * float("nan") if v.is_floating_point() else v)
                                            for k, v in valid["model_state"].items()})
    variant("epoch negative", epoch=-1)
    variant("best_metric text", best_metric="high")
    variant("meta as list", meta=[1])
    variant("history as text", history="none")
    variant("extra unknown key", surprise={"a": 1})  # harmless: loads
    variant("framing missing", framing=_DROP)  # old checkpoints: loads with a default framing
    variant("meta missing", meta=_DROP)  # loads
    variant("config missing", config=_DROP)  # a model for prediction only: loads (resume refuses it)
    variant("config without dataset", config={"epochs": 3})  # likewise
    return out


_DROP = object()


def test_fuzzed_checkpoints_are_refused_cleanly_or_load_correctly(trained, tmp_path):
    valid = load_checkpoint(trained / "best.pt")
    valid = {k: v for k, v in valid.items()}
    image = np.zeros((40, 40), np.uint8)
    image[10:30, 15:25] = 255
    loaded, refused = [], []
    for name, data in _mutations(valid):
        path = tmp_path / f"{len(loaded) + len(refused)}.pt"
        torch.save(data, path)  # written as torch would: our own save would add format/version back
        try:
            ckpt = load_checkpoint(path)
            # Weights that do not fit the spec are refused when the model is built (checked on the
            # meta device first: no allocation).
            model = model_from_checkpoint(ckpt)
        except CheckpointError as exc:
            message = str(exc)
            assert "\n" not in message and len(message) < 400, (name, message)
            assert "could run code" not in message, (name, message)
            refused.append(name)
            continue
        # Whatever loads must work all the way: build, predict, probabilities that sum to one.
        assert isinstance(model, torch.nn.Module)
        probs = Predictor(ckpt).predict_image(image)[1]
        assert np.isfinite(probs).all() and abs(float(probs.sum()) - 1) < 1e-4, name
        loaded.append(name)
    assert set(loaded) == {"extra unknown key", "framing missing", "meta missing", "config missing",
                           "config without dataset"}, loaded
    assert len(refused) == len(_mutations(valid)) - 5


def test_random_mutations_of_every_field_never_escape_as_tracebacks(trained, tmp_path):
    """Random types in random fields, many times: CheckpointError or a working model, nothing else."""
    valid = load_checkpoint(trained / "best.pt")
    rng = random.Random(0)
    junk = [None, True, -1, 0, 2**70, 1e308, float("nan"), "", "x" * 300, [], [1, "a"], {}, {"layers": []},
            [3, 28, 28], torch.zeros(2), torch.tensor(float("inf"))]
    keys = sorted(valid)
    for i in range(60):
        data = copy.deepcopy(valid)
        for key in rng.sample(keys, rng.randint(1, 3)):
            data[key] = rng.choice(junk)
        path = tmp_path / f"r{i}.pt"
        torch.save(data, path)
        try:
            predictor = Predictor(load_checkpoint(path))
        except CheckpointError:
            continue
        predictor.predict_image(np.zeros((28, 28), np.uint8))


def test_random_bytes_are_not_called_dangerous(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(os.urandom(5000))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "could run code" not in str(info.value) and "not a readable checkpoint" in str(info.value)


def test_bad_checkpoint_gives_one_line_in_evaluate_and_predict(capsys, trained, tmp_path):
    data = load_checkpoint(trained / "best.pt")
    data["input_shape"] = "28x28"
    bad = tmp_path / "bad.pt"
    torch.save(data, bad)
    for command in (["evaluate", "--checkpoint", str(bad)], ["predict", "--checkpoint", str(bad), str(bad)]):
        code, _, err = run_cli(capsys, *command)
        assert code == 2
        one_clear_line(err, "input_shape")


# -- 4. memory bombs ------------------------------------------------------------------------------------

def test_checkpoint_that_unpacks_to_gigabytes_is_refused_before_reading(trained, tmp_path):
    """A zip entry deflated from 4 GB of zeros: refused from the archive's directory, nothing unpacked."""
    bomb = tmp_path / "bomb.pt"
    source = zipfile.ZipFile(trained / "best.pt")
    with zipfile.ZipFile(bomb, "w") as out:
        for info in source.infolist():
            out.writestr(info, source.read(info.filename))
        zeros = b"\0" * 2**24
        entry_info = zipfile.ZipInfo("archive/data/999")
        entry_info.compress_type = zipfile.ZIP_DEFLATED
        with out.open(entry_info, "w", force_zip64=True) as entry:
            for _ in range(256):  # 4 GiB, deflated to a few MB
                entry.write(zeros)
    assert bomb.stat().st_size < 20 * 2**20
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="unpacks to"):
        load_checkpoint(bomb)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200


def _idx_header(magic: int, *dims: int) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims)


def test_idx_header_with_impossible_sizes_is_refused(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(_idx_header(0x803, 2**31, 2**31, 1) + b"\0" * 100)
    with pytest.raises(DatasetError, match="header describes"):
        read_idx(path)


def test_idx_gzip_bomb_is_refused_without_unpacking(tmp_path):
    """A ~1 MB .gz whose header promises (and whose stream holds) gigabytes."""
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(_idx_header(0x803, 60_000, 200, 200))  # 2.4 GB promised
        zeros = b"\0" * 2**22
        for _ in range(256):  # 1 GiB of zeros: ~1 MB compressed
            f.write(zeros)
    assert path.stat().st_size < 4 * 2**20
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(DatasetError, match=r"more than a .*gz file can hold"):
        read_idx(path)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 200


def test_idx_gzip_with_trailing_garbage_stops_reading(tmp_path):
    path = tmp_path / "labels.gz"
    with gzip.open(path, "wb") as f:
        f.write(_idx_header(0x801, 10) + bytes(range(10)) + b"\0" * 5_000_000)
    with pytest.raises(DatasetError, match="unexpected bytes"):
        read_idx(path)


# -- 5. diverged runs -----------------------------------------------------------------------------------

def test_exploding_loss_fails_the_run_and_keeps_no_best(shapes, tmp_path):
    cfg = TrainConfig(dataset="shapes", model="tiny-bn-cnn", epochs=2, batch_size=64, limit_train=600,
                      optimizer="sgd", lr=1e9, momentum=0.0, device="cpu", precision="fp32", log_every=1,
                      augment=Augmentation())
    result = Trainer(cfg, dataset=shapes, run_dir=tmp_path / "r").run()
    assert result.status == "failed"
    assert "diverged" in result.message and "lower learning rate" in result.message
    assert not (tmp_path / "r" / "best.pt").exists()
    saved = json.loads((tmp_path / "r" / "result.json").read_text())
    assert saved["status"] == "failed" and "diverged" in saved["message"]


def test_nan_validation_loss_is_never_kept_as_best(shapes, tmp_path, monkeypatch):
    from cnnstudio.core.training import trainer as trainer_module

    real = trainer_module.Trainer._evaluate

    def nan_evaluate(self, *args, **kwargs):
        ev = real(self, *args, **kwargs)
        ev.probabilities[:] = np.nan  # what a model whose logits overflow produces
        return ev

    monkeypatch.setattr(trainer_module.Trainer, "_evaluate", nan_evaluate)
    cfg = TrainConfig(dataset="shapes", model="tiny-bn-cnn", epochs=1, batch_size=64, limit_train=600,
                      device="cpu", precision="fp32", augment=Augmentation())
    result = Trainer(cfg, dataset=shapes, run_dir=tmp_path / "r").run()
    assert result.status == "failed" and "validation loss" in result.message
    assert not (tmp_path / "r" / "best.pt").exists()


@pytest.mark.parametrize("option, value, fragment", [
    ("--lr", "inf", "finite"), ("--lr", "nan", "finite"), ("--weight-decay", "nan", "finite"),
    ("--weight-decay", "-1", "negative"), ("--seed", str(2**70), "at most"), ("--label-smoothing", "nan", "finite"),
])
def test_non_finite_settings_are_refused_up_front(capsys, option, value, fragment):
    with pytest.raises(SystemExit) as info:
        main(["train", "--dataset", "shapes", "--model", "tiny-bn-cnn", option, value])
    assert info.value.code == 2
    err = capsys.readouterr().err
    one_clear_line(err, fragment)


def test_config_validation_catches_what_json_can_hold():
    for changes in ({"lr": float("inf")}, {"weight_decay": float("nan")}, {"seed": 2**64}, {"epochs": "3"},
                    {"momentum": float("nan")}, {"augment": "flip"}, {"dataset": 5}):
        cfg = TrainConfig(**changes)
        with pytest.raises(CNNStudioError):
            cfg.validate()


def test_predict_of_a_diverged_checkpoint_is_refused(capsys, trained, tmp_path):
    data = load_checkpoint(trained / "best.pt")
    name = next(k for k, v in data["model_state"].items() if v.is_floating_point())
    data["model_state"][name] = torch.full_like(data["model_state"][name], float("nan"))
    path = save_checkpoint({k: v for k, v in data.items() if k not in ("format", "version")}, tmp_path / "nan.pt")
    image = tmp_path / "x.png"
    Image.new("L", (28, 28)).save(image)
    code, out, err = run_cli(capsys, "predict", "--checkpoint", str(path), str(image))
    assert code == 2 and "nan%" not in out
    one_clear_line(err, "diverged")


# -- 6, 7. failed runs keep their reason; resume --------------------------------------------------------

def test_failed_run_writes_its_reason_and_the_runs_list_shows_it(shapes, tmp_path):
    cfg = TrainConfig(dataset="shapes", model="tiny-bn-cnn", epochs=1, limit_train=300, optimizer="sgd", lr=1e12,
                      momentum=0.0, device="cpu", precision="fp32", log_every=1, augment=Augmentation())
    Trainer(cfg, dataset=shapes, run_dir=tmp_path / "runs" / "r").run()
    (run,) = list_runs(tmp_path / "runs")
    assert run.status == "failed" and "diverged" in run.message


def test_resume_in_a_folder_without_best_pt_finishes(capsys, tmp_path):
    run = tmp_path / "run"
    code, _, _ = run_cli(capsys, "train", "--dataset", "shapes", "--model", "tiny-bn-cnn", "--epochs", "1",
                         "--limit-train", "600", "--out", str(run), "--json")
    assert code == 0
    moved = tmp_path / "moved"
    moved.mkdir()
    (run / "last.pt").rename(moved / "last.pt")
    orphan = moved / ".last.pt.abc123.tmp"
    orphan.write_bytes(b"\0" * 1000)  # what a save killed half-way leaves
    code, out, err = run_cli(capsys, "train", "--resume", str(moved / "last.pt"), "--epochs", "2", "--json")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["epochs"] == 2 and result["test_accuracy"] is not None
    assert Path(result["checkpoint"]).exists()
    assert not orphan.exists()


def test_resume_refuses_settings_it_would_ignore(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--resume", str(tmp_path / "last.pt"), "--model", "lenet5",
                           "--lr", "0.1")
    assert code == 2
    one_clear_line(err, "--model, --lr cannot be changed")


def test_resumed_epoch_reports_its_true_rate(shapes, tmp_path):
    from cnnstudio.core.training.control import RunControl

    cfg = TrainConfig(dataset="shapes", model="tiny-bn-cnn", epochs=1, batch_size=32, limit_train=1200,
                      device="cpu", precision="fp32", log_every=1, augment=Augmentation())
    control = RunControl()
    steps = []

    def on_event(event):
        if type(event).__name__ == "StepEvent":
            steps.append(event)
            if len(steps) == 30:
                control.stop()

    Trainer(cfg, dataset=shapes, run_dir=tmp_path / "r", on_event=on_event, control=control).run()
    before = load_checkpoint(tmp_path / "r" / "last.pt")["epoch_partial"]
    assert before["seen"] > 0 and before["seconds"] > 0
    result = Trainer(cfg, dataset=shapes, resume_from=tmp_path / "r" / "last.pt").run()
    history = result.history
    # The epoch's rate counts every image of the epoch over every second the epoch trained.
    assert history["samples_per_second"][0] == pytest.approx(
        1080 / history["seconds"][0], rel=0.02)
    assert history["seconds"][0] > before["seconds"]


def test_orphaned_temp_files_are_removed_by_age(tmp_path):
    old = tmp_path / ".last.pt.x1.tmp"
    new = tmp_path / ".best.pt.x2.tmp"
    keep = tmp_path / "last.pt"
    for p in (old, new, keep):
        p.write_bytes(b"1")
    os.utime(old, (1, 1))
    assert remove_orphaned_temp_files(tmp_path, min_age_s=60) == 1
    assert not old.exists() and new.exists() and keep.exists()


# -- 8. output stays valid ------------------------------------------------------------------------------

def test_evaluate_json_is_strict_json(capsys, trained, monkeypatch):
    from cnnstudio.core import metrics

    real = metrics.predict_probabilities

    def with_a_nan(*args, **kwargs):
        probs = real(*args, **kwargs).clone()
        probs[0] = float("nan")
        return probs

    monkeypatch.setattr(metrics, "predict_probabilities", with_a_nan)
    code, out, _ = run_cli(capsys, "evaluate", "--checkpoint", str(trained / "best.pt"), "--json")
    assert code == 0
    line = out.strip().splitlines()[-1]
    assert "NaN" not in line and "Infinity" not in line
    json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))


@pytest.mark.parametrize("target", ["file", "read-only"])
def test_out_that_cannot_be_written_gives_one_line(capsys, tmp_path, target, monkeypatch):
    if target == "file":
        out = tmp_path / "taken"
        out.write_text("a file")
    else:
        parent = tmp_path / "ro"
        parent.mkdir()
        parent.chmod(0o500)
        out = parent / "run"
        if os.geteuid() == 0:  # root writes into read-only folders: make the folder refuse as it would anyone else
            real_mkdir = Path.mkdir

            def refuse(self, *args, **kwargs):
                if self == out:
                    raise PermissionError(13, "Permission denied", str(self))
                return real_mkdir(self, *args, **kwargs)

            monkeypatch.setattr(Path, "mkdir", refuse)
    code, _, err = run_cli(capsys, "train", "--dataset", "shapes", "--model", "tiny-bn-cnn", "--epochs", "1",
                           "--limit-train", "200", "--out", str(out))
    assert code == 2
    one_clear_line(err, str(out))
    assert err.count("error:") == 1


def test_full_disk_while_saving_says_so_and_keeps_the_previous_checkpoint(capsys, tmp_path, monkeypatch):
    run = tmp_path / "run"
    code, _, _ = run_cli(capsys, "train", "--dataset", "shapes", "--model", "tiny-bn-cnn", "--epochs", "1",
                         "--limit-train", "300", "--out", str(run))
    assert code == 0
    previous = (run / "last.pt").read_bytes()
    real_save = torch.save

    def disk_full(obj, f, *args, **kwargs):
        real_save({"partial": torch.zeros(10)}, io.BytesIO())
        f.write(b"PK\x03\x04")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file "
                           "data/3: file write failed")

    monkeypatch.setattr(torch, "save", disk_full)
    monkeypatch.setattr("shutil.disk_usage", lambda p: type("u", (), {"free": 1024})())
    code, _, err = run_cli(capsys, "train", "--resume", str(run / "last.pt"), "--epochs", "2")
    assert code == 1
    one_clear_line(err, "disk full while saving")
    assert "previous last.pt is intact" in err
    assert (run / "last.pt").read_bytes() == previous
    assert not list(run.glob(".*.tmp"))


def test_huge_seed_in_a_config_is_one_line(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["train", "--dataset", "shapes", "--model", "tiny-bn-cnn", "--seed", "99999999999999999999999"])
    one_clear_line(capsys.readouterr().err, "at most")


# -- 9. smaller ones -------------------------------------------------------------------------------------

def _folder(root: Path, classes=("a", "b"), per_class=4) -> Path:
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.full((16, 16), 40 + 150 * k, np.uint8) + rng.integers(0, 20, (16, 16), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{name}{i}.png")
    return root


def test_symlink_into_another_class_does_not_relabel_its_files(tmp_path):
    root = _folder(tmp_path / "ds", per_class=5)
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)  # a loop through the whole set
    (root / "a" / "b-link").symlink_to(root / "b", target_is_directory=True)
    ds = load_dataset(root)
    labels = np.concatenate([ds.train_labels.numpy(), ds.test_labels.numpy()])
    assert np.bincount(labels).tolist() == [5, 5]  # every file once, under its real class


def test_unreadable_class_folder_says_permission_denied(tmp_path, monkeypatch):
    root = _folder(tmp_path / "ds")
    (root / "b").chmod(0)
    if os.geteuid() == 0:  # root reads folders whatever their mode: refuse as the kernel would anyone else
        real_iterdir = Path.iterdir

        def refuse(self):
            if self == root / "b":
                raise PermissionError(13, "Permission denied", str(self))
            return real_iterdir(self)

        monkeypatch.setattr(Path, "iterdir", refuse)
    try:
        with pytest.raises(DatasetError, match="permission denied"):
            load_dataset(root)
    finally:
        (root / "b").chmod(0o755)


def test_one_image_per_class_warns_about_the_missing_test_set(capsys, tmp_path):
    root = _folder(tmp_path / "ds", per_class=1)
    code, _, err = run_cli(capsys, "train", "--dataset", str(root), "--model", "tiny-bn-cnn", "--epochs", "1",
                           "--val-split", "0", "--out", str(tmp_path / "run"))
    assert code == 0
    assert "no test images" in err and "test accuracy cannot be measured" in err


def test_loose_files_note_reaches_the_cli(capsys, tmp_path):
    root = _folder(tmp_path / "ds")
    Image.new("L", (16, 16)).save(root / "loose.png")
    code, _, err = run_cli(capsys, "train", "--dataset", str(root), "--model", "tiny-bn-cnn", "--epochs", "1",
                           "--out", str(tmp_path / "run"))
    assert code == 0
    assert "directly in" in err and "ignored" in err


def test_huge_image_is_refused_without_a_warning_on_stderr(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("1", (12_000, 9_000)).save(path)  # 108 M pixels, a tiny file
    proc = subprocess.run([sys.executable, "-c", (f"from cnnstudio.core.inference import open_image\n"
                           f"try:\n    open_image({str(path)!r})\nexcept Exception as e:\n    print(e)")],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "too large" in proc.stdout
    assert "DecompressionBombWarning" not in proc.stderr and proc.stderr.strip() == ""


def test_same_refusal_same_exit_code(capsys, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    codes = {}
    for name, args in (("evaluate", ["evaluate", "--checkpoint", str(bad)]),
                       ("train --resume", ["train", "--resume", str(bad)]),
                       ("predict", ["predict", "--checkpoint", str(bad), str(bad)])):
        code, _, err = run_cli(capsys, *args)
        one_clear_line(err, "not a readable checkpoint")
        codes[name] = code
    assert set(codes.values()) == {2}, codes


# -- 2. damaged run folders ------------------------------------------------------------------------------

def _run_folder(root: Path, name: str, result: str | None = None, config: str | None = None) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "config.json").write_text(config or json.dumps({"config": {"dataset": "shapes", "epochs": 2}}))
    if result is not None:
        (path / "result.json").write_text(result)
    return path


def test_damaged_run_folders_are_listed_with_reasons(tmp_path):
    root = tmp_path / "runs"
    _run_folder(root, "good", json.dumps({"status": "finished", "epochs": 2, "test_accuracy": 0.9}))
    _run_folder(root, "huge-epochs", '{"status": "finished", "epochs": 100000000000000000000000000}')
    _run_folder(root, "deep", "[" * 100_000 + "]" * 100_000)
    _run_folder(root, "nan-accuracy", '{"status": "finished", "epochs": 2, "test_accuracy": NaN}')
    _run_folder(root, "huge-number", '{"status": "finished", "epochs": 2, "test_accuracy": 1e999}')
    _run_folder(root, "long-int", '{"status": "finished", "epochs": ' + "9" * 5000 + "}")
    runs = {r.name: r for r in list_runs(root)}
    assert set(runs) == {"good", "huge-epochs", "deep", "nan-accuracy", "huge-number", "long-int"}
    assert runs["good"].status == "finished" and runs["good"].test_accuracy == 0.9
    assert runs["huge-epochs"].damaged and "epochs" in runs["huge-epochs"].problem
    assert runs["deep"].damaged and "nested too deeply" in runs["deep"].problem
    assert runs["nan-accuracy"].test_accuracy is None and runs["huge-number"].test_accuracy is None
    assert runs["long-int"].damaged
    for run in runs.values():
        assert run.epochs_done <= 10**9


def test_unreadable_run_folder_is_damaged_and_the_others_stay(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    _run_folder(root, "good", json.dumps({"status": "finished", "epochs": 2}))
    locked = _run_folder(root, "locked", json.dumps({"status": "finished"}))
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads folders whatever their mode: refuse as the kernel would anyone else
        real_stat = Path.stat

        def refuse(self, *args, **kwargs):
            if self.parent == locked:
                raise PermissionError(13, "Permission denied", str(self))
            return real_stat(self, *args, **kwargs)

        monkeypatch.setattr(Path, "stat", refuse)
    try:
        runs = {r.name: r for r in list_runs(root)}
    finally:
        locked.chmod(0o755)
    assert runs["good"].status == "finished"
    assert runs["locked"].damaged and "permission denied" in runs["locked"].problem


def test_read_run_survives_anything_the_file_system_raises(tmp_path, monkeypatch):
    path = _run_folder(tmp_path, "r", json.dumps({"status": "finished"}))

    def explode(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "is_file", explode)
    run = read_run(path)
    assert run.damaged and "permission denied" in run.problem


# -- leftovers from issue 15 that live in the engine ----------------------------------------------------

def test_eta_and_images_per_second_agree(shapes, tmp_path):
    from cnnstudio.core.training.events import StepEvent

    steps = []
    cfg = TrainConfig(dataset="shapes", model="tiny-bn-cnn", epochs=2, batch_size=50, limit_train=1000,
                      device="cpu", precision="fp32", log_every=3, augment=Augmentation())
    Trainer(cfg, dataset=shapes, run_dir=tmp_path / "r",
            on_event=lambda e: steps.append(e) if isinstance(e, StepEvent) else None).run()
    assert steps
    for s in steps:
        images_left = (s.total_steps - s.global_step) * 50
        assert s.eta_seconds * s.samples_per_second == pytest.approx(images_left, rel=0.35, abs=60)


def test_a_run_stopped_before_its_first_epoch_keeps_its_step_curve(shapes, tmp_path):
    from cnnstudio.core.runs import load_history
    from cnnstudio.core.training.control import RunControl

    control = RunControl()
    seen = []

    def on_event(event):
        if type(event).__name__ == "StepEvent":
            seen.append(event)
            if len(seen) == 4:
                control.stop()

    cfg = TrainConfig(dataset="shapes", model="tiny-bn-cnn", epochs=1, batch_size=20, limit_train=1500,
                      device="cpu", precision="fp32", log_every=1, augment=Augmentation())
    result = Trainer(cfg, dataset=shapes, run_dir=tmp_path / "r", on_event=on_event, control=control).run()
    assert result.status == "stopped"
    history = load_history(tmp_path / "r")
    assert history["epoch"] == [] and len(history["steps"]["step"]) >= 4
    # The message and the Train page's bar count the same steps.
    assert f"step {result.global_step:,} of {result.total_steps:,}" in result.message
