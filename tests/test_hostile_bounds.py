"""Bounded work on any input: small hostile files are refused quickly, in one line, without a big allocation.

Shared-reference pickles (48 KB that print as 10^9 items), decoders whose headers promise gigabytes, hand
edited caches, JSON nested 50,000 deep, huge numeric options, damaged resume state and hostile pretrained
weights files. Each case is looked at from the user's side: the CLI's one line, or the CNNStudioError the
core hands the app.
"""

from __future__ import annotations

import copy
import gzip
import json
import math
import os
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnstudio.core.bounded import fits, loads_json, short_repr
from cnnstudio.core.checkpoint import load_checkpoint
from cnnstudio.core.errors import CheckpointError, CNNStudioError, DatasetError
from cnnstudio.core.training.config import Augmentation, TrainConfig
from cnnstudio.core.training.trainer import Trainer
from tests.test_hostile_input import one_clear_line, run_cli, shapes, trained

# pytest finds a fixture by its name in the test's module: the tests below take these two as arguments.
SHARED_FIXTURES = (shapes, trained)

ROOT = Path(__file__).resolve().parents[1]


def shared_bomb(depth: int = 9, width: int = 10) -> list:
    """A list that pickles to a few KB and prints as width**depth strings."""
    x: list = ["lol"]
    for _ in range(depth):
        x = [x] * width
    return x


def _with(valid: dict, path: Path, **changes) -> Path:
    data = dict(valid)
    data.update(changes)
    torch.save(data, path)  # as torch writes it: shared references stay shared
    return path


# -- 1. shared-reference checkpoints ------------------------------------------------------------------

def test_short_repr_is_bounded_whatever_the_value():
    start = time.perf_counter()
    assert len(short_repr(shared_bomb(12))) <= 60
    assert len(short_repr({"k": shared_bomb()}, 40)) <= 40
    assert "bit" in short_repr(10 ** 5000)  # repr would refuse (or take quadratic time)
    assert short_repr([1, "a"]) == "[1, 'a']"
    assert short_repr(torch.zeros(3, 4)).startswith("<Tensor [3, 4]")
    assert not fits(shared_bomb(), 200_000)
    assert fits({"a": [1, 2.5, None, "x"]}, 10)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("field", ["input_shape", "mean", "epoch", "framing.polarity", "config", "meta"])
def test_shared_reference_checkpoint_is_refused_quickly(trained, tmp_path, field):
    valid = load_checkpoint(trained / "best.pt")
    bomb = shared_bomb()
    if field == "framing.polarity":
        changes = {"framing": {**valid["framing"], "polarity": bomb}}
    elif field == "config":
        changes = {"config": {**valid["config"], "notes": bomb}}
    elif field == "meta":
        changes = {"meta": {**valid["meta"], "extra": bomb}}
    else:
        changes = {field: bomb}
    path = _with(valid, tmp_path / "bomb.pt", **changes)
    assert path.stat().st_size < 200_000
    start = time.perf_counter()
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert time.perf_counter() - start < 2.0
    message = str(info.value)
    assert "\n" not in message and len(message) < 400


def test_shared_reference_checkpoint_is_one_line_in_predict(capsys, trained, tmp_path):
    valid = load_checkpoint(trained / "best.pt")
    path = _with(valid, tmp_path / "bomb.pt", input_shape=shared_bomb())
    start = time.perf_counter()
    code, _, err = run_cli(capsys, "predict", "--checkpoint", str(path), str(path))
    assert time.perf_counter() - start < 5.0
    assert code == 2
    one_clear_line(err, "input_shape")


def _resumable(shapes, tmp_path) -> Path:
    cfg = TrainConfig(dataset="shapes", model="tiny-bn-cnn", epochs=2, batch_size=64, limit_train=256,
                      device="cpu", precision="fp32", augment=Augmentation())
    run_dir = tmp_path / "run"
    result = Trainer(cfg, dataset=shapes, run_dir=run_dir).run()
    assert result.status == "finished"
    return run_dir


def _resume_fails_in_one_line(capsys, run_dir: Path, fragment: str) -> None:
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.suffix == ".pt"}
    start = time.perf_counter()
    code, _, err = run_cli(capsys, "train", "--resume", str(run_dir / "last.pt"), "--epochs", "3")
    assert time.perf_counter() - start < 20.0
    assert code != 0
    one_clear_line(err, fragment)
    assert "unexpectedly" not in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.suffix == ".pt"} == before


@pytest.fixture(scope="module")
def resumable(shapes, tmp_path_factory):
    return _resumable(shapes, tmp_path_factory.mktemp("resumable"))


def _damaged_copy(resumable: Path, tmp_path: Path, **changes) -> Path:
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(resumable, run_dir)
    data = torch.load(run_dir / "last.pt", weights_only=True)
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            data[outer] = {**data[outer], inner: value}
        else:
            data[key] = value
    torch.save(data, run_dir / "last.pt")
    return run_dir


def test_shared_reference_history_is_refused_on_resume(capsys, resumable, tmp_path):
    run_dir = _damaged_copy(resumable, tmp_path, **{"history.epoch": shared_bomb()})
    _resume_fails_in_one_line(capsys, run_dir, "history")


@pytest.mark.parametrize("change, fragment", [
    ({"history": {"epoch": "three"}}, "history"),
    ({"history.val_accuracy": [{"a": 1}]}, "history"),
    ({"history.steps": [1, 2]}, "history"),
    ({"rng.torch": torch.zeros(7, dtype=torch.uint8)}, "rng.torch"),
    ({"rng": "seed"}, "rng"),
    ({"rng.aug": [1, 2, 3]}, "rng.aug"),
    ({"optimizer_state": {"state": {}, "param_groups": "all"}}, "param_groups"),
    ({"optimizer_state": [1, 2]}, "optimizer_state"),
    ({"epoch_partial": {"loss_sum": "x", "correct": 0, "seen": 0}}, "epoch_partial"),
])
def test_damaged_resume_state_is_one_line_before_training(capsys, resumable, tmp_path, change, fragment):
    run_dir = _damaged_copy(resumable, tmp_path, **change)
    _resume_fails_in_one_line(capsys, run_dir, fragment)


def test_optimizer_state_of_another_shape_is_one_line(capsys, resumable, tmp_path):
    data = torch.load(resumable / "last.pt", weights_only=True)
    opt = copy.deepcopy(data["optimizer_state"])
    for entry in opt["state"].values():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor) and value.dim():
                entry[key] = torch.zeros(value.numel() + 1)
    run_dir = _damaged_copy(resumable, tmp_path, optimizer_state=opt)
    _resume_fails_in_one_line(capsys, run_dir, "optimizer state")


@pytest.mark.parametrize("kind", ["float8", "sparse", "complex"])
def test_unsupported_tensor_kinds_in_model_state_are_one_line(trained, tmp_path, kind):
    valid = load_checkpoint(trained / "best.pt")
    state = dict(valid["model_state"])
    name = next(k for k, v in state.items() if v.is_floating_point() and v.dim() == 4)
    if kind == "float8":
        state[name] = state[name].to(torch.float8_e4m3fn)
    elif kind == "sparse":
        state[name] = state[name].to_sparse()
    else:
        state[name] = state[name].to(torch.complex64)
    path = _with(valid, tmp_path / f"{kind}.pt", model_state=state)
    with pytest.raises(CheckpointError, match="tensor") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


# -- 1. decoders: the declared size is checked against a memory budget before allocating --------------

def _idx_header(magic: int, *dims: int) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims)


def _gzip_of_zeros(path: Path, header: bytes, zeros: int) -> None:
    """A .gz that really holds `header` then `zeros` zero bytes, as concatenated gzip members (a reader
    sees one stream): 1.6 GB of zeros costs a second to write, not the minutes of deflating it whole."""
    chunk = 1 << 24
    block = gzip.compress(b"\0" * chunk, compresslevel=6)
    with open(path, "wb") as f:
        f.write(gzip.compress(header))
        for _ in range(zeros // chunk):
            f.write(block)
        f.write(gzip.compress(b"\0" * (zeros % chunk)))


def _idx_bomb_folder(root: Path, side: int = 40_000) -> Path:
    """A folder of the four IDX files whose training images are one side x side picture of zeros (1.6 GB
    decoded from a ~1.5 MB .gz, within the ratio a .gz can hold) and whose test set is empty."""
    folder = root / "bomb"
    folder.mkdir()
    _gzip_of_zeros(folder / "train-images-idx3-ubyte.gz", _idx_header(0x803, 1, side, side), side * side)
    (folder / "train-labels-idx1-ubyte").write_bytes(_idx_header(0x801, 1) + b"\0")
    (folder / "t10k-images-idx3-ubyte").write_bytes(_idx_header(0x803, 0, side, side))
    (folder / "t10k-labels-idx1-ubyte").write_bytes(_idx_header(0x801, 0))
    return folder


_LOAD_AND_MEASURE = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # never let a regression take the machine
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.errors import CNNStudioError
    try:
        load_dataset(sys.argv[1])
        print("LOADED")
    except CNNStudioError as exc:
        print("REFUSED", exc)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            print("PEAK_KB", line.split()[1])
""")


def test_idx_picture_of_40000_pixels_a_side_is_refused_before_allocating(tmp_path):
    folder = _idx_bomb_folder(tmp_path)
    gz = folder / "train-images-idx3-ubyte.gz"
    assert gz.stat().st_size < 8 * 2**20 and 40_000 ** 2 <= 1032 * gz.stat().st_size  # passes the .gz ratio
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _LOAD_AND_MEASURE, str(folder)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    seconds = time.perf_counter() - start
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("REFUSED") and "40000x40000" in lines[0], proc.stdout
    peak_mb = int(lines[-1].split()[1]) / 1024
    print(f"IDX 1x40000x40000 .gz: refused in {seconds:.2f} s, peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 500


def test_idx_larger_than_the_memory_budget_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    _gzip_of_zeros(path, _idx_header(0x803, 100, 1000, 1000), 100 * 1000 * 1000)  # 100 MB of pixels
    monkeypatch.setenv("CNNSTUDIO_MEMORY_BUDGET_MB", "64")
    from cnnstudio.core.datasets.idx import read_idx

    with pytest.raises(DatasetError, match=r"more than the 67\.1 MB") as info:
        read_idx(path)
    assert "\n" not in str(info.value)
    monkeypatch.setenv("CNNSTUDIO_MEMORY_BUDGET_MB", "1024")
    assert read_idx(path).shape == (100, 1000, 1000)  # the same file loads where memory allows


def test_framing_of_large_pictures_reads_a_bounded_sample():
    """8 pictures of 4000x4000 (128 MB of uint8): the measurement's float work stays a few MB, and a
    digit-like blob is still measured at its true size."""
    from cnnstudio.core.framing import measure_framing

    images = np.zeros((8, 1, 4000, 4000), np.uint8)
    images[:, 0, 1000:3000, 1800:2200] = 255  # a bar 2000 tall, 400 wide, centred
    import tracemalloc

    tracemalloc.start()
    profile = measure_framing(images)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20, peak  # a float32 copy of one picture alone would be 64 MB
    assert profile.fit == "box" and profile.polarity == "light-on-dark"
    assert abs(profile.box - 2000) <= 2 * 16 and (profile.height, profile.width) == (4000, 4000)


def test_framing_of_small_pictures_is_unchanged():
    """28x28 sets are sampled as before (every n // 2000-th picture): the registered profiles stay."""
    from cnnstudio.core.framing import measure_framing

    rng = np.random.default_rng(0)
    images = np.zeros((5000, 1, 28, 28), np.uint8)
    for i in range(len(images)):
        y, x = rng.integers(4, 8, 2)
        images[i, 0, y:y + 20, x + 6:x + 12] = 255
    profile = measure_framing(images)
    assert profile.box == 20 and profile.fit == "box"


@pytest.mark.parametrize("payload, fragment", [
    ("shared", "flat list of integers"),
    ("data-list", "found a list"),
])
def test_cifar_batch_of_shared_lists_is_refused_quickly(tmp_path, payload, fragment):
    import pickle

    from cnnstudio.core.datasets.cifar import read_batch

    bomb = shared_bomb()
    if payload == "shared":
        batch = {"data": np.zeros((10, 3072), np.uint8), "labels": bomb}
    else:
        batch = {"data": bomb, "labels": [0] * 10}
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    assert path.stat().st_size < 100_000
    start = time.perf_counter()
    with pytest.raises(DatasetError, match=fragment):
        read_batch(path)
    assert time.perf_counter() - start < 2.0


# -- 4. the picture cache is input like any other ------------------------------------------------------

def _cache_entry_mutations() -> list[tuple[str, object]]:
    def labels(meta, value):
        return {**meta, "labels": [value] + meta["labels"][1:]}

    nested: object = 0
    for _ in range(50_000):
        nested = [nested]
    return [
        ("label out of range", lambda m: labels(m, 99)),
        ("negative label", lambda m: labels(m, -1)),
        ("label as text", lambda m: labels(m, "a")),
        ("label as bool", lambda m: labels(m, True)),
        ("negative size", lambda m: {**m, "size": -m["size"]}),
        ("giant size", lambda m: {**m, "size": 2**20}),
        ("size as float", lambda m: {**m, "size": float(m["size"])}),
        ("zero channels", lambda m: {**m, "channels": 0}),
        ("n_train beyond the rows", lambda m: {**m, "n_train": len(m["labels"]) + 5}),
        ("n_train as text", lambda m: {**m, "n_train": "3"}),
        ("NaN statistics", lambda m: {**m, "stats": [[float("nan")] * m["channels"], [0.2] * m["channels"]]}),
        ("zero deviation", lambda m: {**m, "stats": [[0.5] * m["channels"], [0.0] * m["channels"]]}),
        ("statistics of another shape", lambda m: {**m, "stats": [[0.5], [0.2, 0.3, 0.4, 0.5]]}),
        ("skipped damaged", lambda m: {**m, "skipped": [[5]]}),
        ("fewer labels than rows", lambda m: {**m, "labels": m["labels"][:-2]}),
        ("labels nested 50,000 deep", lambda m: {**m, "labels": nested}),
        ("not an object", lambda m: [1, 2]),
        ("another key", lambda m: {**m, "key": "0" * 24}),
    ]


@pytest.mark.parametrize("name, mutate", _cache_entry_mutations(), ids=[n for n, _ in _cache_entry_mutations()])
def test_hand_edited_picture_cache_entry_is_decoded_again(tmp_path, monkeypatch, name, mutate):
    from PIL import Image

    from cnnstudio.core.datasets import imagefolder, picture_cache
    from cnnstudio.core.datasets.imagefolder import load_image_folder

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (tmp_path / "pics" / label).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (30, 30), dtype=np.uint8)).save(tmp_path / "pics" / label / f"{i}.png")
    calls = []
    real = imagefolder._decode
    monkeypatch.setattr(imagefolder, "_decode", lambda *a: (calls.append(a[0]), real(*a))[1])
    first = load_image_folder(tmp_path / "pics")
    assert len(calls) == 10
    entry = next(picture_cache.cache_folder().glob("*.json"))
    meta = json.loads(entry.read_text())
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    try:
        text = json.dumps(mutate(meta))
    except RecursionError:  # json.dumps cannot write 50,000 levels either: write it by hand
        text = json.dumps({**meta, "labels": "@"}).replace('"@"', "[" * 50_000 + "0" + "]" * 50_000)
    entry.write_text(text)
    again = load_image_folder(tmp_path / "pics")
    assert len(calls) == 20, "the damaged entry was trusted"
    assert torch.equal(again.train_images, first.train_images) and torch.equal(again.train_labels, first.train_labels)
    assert again.mean == first.mean and all(math.isfinite(v) for v in again.std)
    # The entry written again is whole: the next load uses it.
    load_image_folder(tmp_path / "pics")
    assert len(calls) == 20


def test_picture_cache_raw_file_of_another_size_is_decoded_again(tmp_path, monkeypatch):
    from PIL import Image

    from cnnstudio.core.datasets import imagefolder, picture_cache
    from cnnstudio.core.datasets.imagefolder import load_image_folder

    for label in ("a", "b"):
        (tmp_path / "pics" / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((20, 20), 40 * i, np.uint8)).save(tmp_path / "pics" / label / f"{i}.png")
    calls = []
    real = imagefolder._decode
    monkeypatch.setattr(imagefolder, "_decode", lambda *a: (calls.append(a[0]), real(*a))[1])
    load_image_folder(tmp_path / "pics")
    raw = next(picture_cache.cache_folder().glob("*.u8"))
    with open(raw, "ab") as f:
        f.write(b"\0" * 7)
    load_image_folder(tmp_path / "pics")
    assert len(calls) == 12


# -- 5. one line, never a traceback: JSON depth, huge options, the pickle refusal ------------------------

def test_spec_file_nested_50000_deep_is_one_line(capsys, tmp_path):
    from cnnstudio.core.errors import SpecError
    from cnnstudio.core.models.spec import load_spec

    path = tmp_path / "deep.json"
    path.write_text('{"layers": ' + "[" * 50_000 + "]" * 50_000 + "}")
    with pytest.raises(SpecError, match="nested more than") as info:
        load_spec(path)
    assert "\n" not in str(info.value)
    code, _, err = run_cli(capsys, "models", "--show", str(path))
    assert code != 0
    one_clear_line(err, "nested")


def test_json_readers_bound_depth_without_recursion_errors(tmp_path):
    from cnnstudio.core.runs import read_run

    deep = "[" * 50_000 + "]" * 50_000
    with pytest.raises(ValueError, match="nested"):
        loads_json(deep)
    with pytest.raises(ValueError, match="nested"):
        loads_json("[" * 100 + "]" * 100)  # within Python's recursion limit, beyond any file of ours
    run = tmp_path / "run"
    run.mkdir()
    (run / "result.json").write_text('{"status": "finished", "message": ' + "[" * 200 + "]" * 200 + "}")
    summary = read_run(run)
    assert summary.status == "damaged" and "nested too deeply" in summary.problem


def test_shared_reference_model_spec_parameter_is_refused_quickly(trained, tmp_path):
    valid = load_checkpoint(trained / "best.pt")
    spec = copy.deepcopy(valid["model_spec"])
    conv = next(layer for layer in spec["layers"] if layer.get("type") == "conv")
    conv["out"] = shared_bomb()
    path = _with(valid, tmp_path / "spec.pt", model_spec=spec)
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="model spec"):
        load_checkpoint(path)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("option, value, fragment", [
    ("--warmup", "1e308", "at most"), ("--warmup", "1e12", "at most"), ("--lr", "1e300", "at most"),
    ("--epochs", "9" * 30, "at most"), ("--batch-size", str(10**9), "at most"),
    ("--limit-train", "9" * 5000, "whole number"),
])
def test_huge_numeric_options_are_refused_up_front(capsys, option, value, fragment):
    from cnnstudio.cli import main

    start = time.perf_counter()
    try:
        code = main(["train", "--dataset", "shapes", "--model", "tiny-bn-cnn", "--epochs", "1", option, value])
    except SystemExit as exc:  # argparse's own refusal
        code = exc.code
    assert time.perf_counter() - start < 10.0
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Overflow" not in err
    assert fragment in err.strip().splitlines()[-1]
    assert len(err.strip().splitlines()[-1]) < 300


@pytest.mark.parametrize("field, value", [
    ("warmup_epochs", 1e308), ("lr", 1e300), ("momentum", 5.0), ("batch_size", 10**12), ("eval_batch_size", 0),
    ("log_every", 10**30), ("limit_train", 10**30), ("step_size", 10**30), ("weight_decay", 1e308),
    ("early_stopping_patience", 10**20), ("nesterov", "yes"), ("data_dir", ["x"]), ("epochs", shared_bomb()),
])
def test_every_numeric_setting_has_a_range(field, value):
    from cnnstudio.core.training.config import build_config

    start = time.perf_counter()
    with pytest.raises(CNNStudioError) as info:
        build_config(TrainConfig(), {field: value})
    assert time.perf_counter() - start < 1.0
    assert "\n" not in str(info.value) and len(str(info.value)) < 200


@pytest.mark.parametrize("field, value", [("augment.rotation", 1e308), ("augment.scale", 7.0),
                                          ("augment.crop_padding", 10**9), ("augment.translate", 1e30)])
def test_augmentation_amounts_have_ranges(field, value):
    from cnnstudio.core.training.config import build_config

    with pytest.raises(CNNStudioError, match="at most"):
        build_config(TrainConfig(), {"augment": {field.split(".")[1]: value}})


def test_resume_of_a_config_with_a_huge_warmup_is_one_line(capsys, resumable, tmp_path):
    data = torch.load(resumable / "last.pt", weights_only=True)
    run_dir = _damaged_copy(resumable, tmp_path, config={**data["config"], "warmup_epochs": 1e308})
    _resume_fails_in_one_line(capsys, run_dir, "warmup")


def test_a_pickle_that_would_run_code_is_refused_in_our_words(trained, tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    data = dict(load_checkpoint(trained / "best.pt"))
    data["meta"] = {"x": Evil()}
    torch.save(data, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "could run code" in message and "system" in message, message
    for torch_words in ("Weights only", "weights_only", "PyTorch 2.6", "GLOBAL", "Unsupported"):
        assert torch_words not in message, message
    assert not marker.exists()


# -- 10. pretrained-weights import ---------------------------------------------------------------------

def _mobilenet_state(seed: int = 0) -> dict:
    import torchvision

    torch.manual_seed(seed)
    return torchvision.models.mobilenet_v3_small().state_dict()


def _hostile_weights(tmp_path: Path) -> list[tuple[str, Path, str]]:
    import zipfile

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    cases = []

    def case(name: str, fragment: str, write) -> None:
        path = tmp_path / f"{name.replace(' ', '-')}.pth"
        write(path)
        cases.append((name, path, fragment))

    valid = _mobilenet_state()
    case("pickle that runs code", "could run code", lambda p: torch.save({**valid, "x": Evil()}, p))
    case("another architecture", "another network",
         lambda p: torch.save(torch.nn.Sequential(torch.nn.Linear(4, 2)).state_dict(), p))
    case("resnet in place of mobilenet", "another network", lambda p: torch.save(
        {f"layer{i}.weight": torch.zeros(2) for i in range(len(valid))}, p))
    wrong = dict(valid)
    key = next(k for k, v in valid.items() if v.dim() == 4)
    wrong[key] = torch.zeros(3, 3)
    case("wrong shapes", "has shape", lambda p: torch.save(wrong, p))
    missing = {k: v for i, (k, v) in enumerate(valid.items()) if i != 5}
    case("one tensor missing", "missing", lambda p: torch.save(missing, p))
    case("one tensor extra", "does not have", lambda p: torch.save({**valid, "extra.weight": torch.zeros(1)}, p))
    case("empty file", "empty", lambda p: p.write_bytes(b""))
    good = tmp_path / "good.bin"
    torch.save(valid, good)
    case("truncated file", "not a PyTorch weights file",
         lambda p: p.write_bytes(good.read_bytes()[: good.stat().st_size // 2]))
    case("text file", "not a PyTorch weights file", lambda p: p.write_text("resnet18 weights\n"))
    case("not a dict", "state dict", lambda p: torch.save([torch.zeros(1)], p))
    case("values not tensors", "state dict", lambda p: torch.save({k: 0 for k in valid}, p))
    case("shared lists", "state dict", lambda p: torch.save({**valid, "x": shared_bomb()}, p))
    nan = dict(valid)
    nan[key] = torch.full_like(valid[key], float("nan"))
    case("NaN weights", "NaN", lambda p: torch.save(nan, p))
    sparse = dict(valid)
    sparse[key] = valid[key].to_sparse()
    case("sparse tensor", "sparse", lambda p: torch.save(sparse, p))
    f8 = dict(valid)
    f8[key] = valid[key].to(torch.float8_e4m3fn)
    case("float8 tensor", "float8", lambda p: torch.save(f8, p))

    def bomb(p: Path) -> None:
        source = zipfile.ZipFile(good)
        with zipfile.ZipFile(p, "w") as out:
            for info in source.infolist():
                out.writestr(info, source.read(info.filename))
            entry = zipfile.ZipInfo("good/data/9999")
            entry.compress_type = zipfile.ZIP_DEFLATED
            with out.open(entry, "w", force_zip64=True) as f:
                for _ in range(64):  # 1 GiB of zeros: about 1 MB deflated
                    f.write(b"\0" * 2**24)

    case("huge claimed tensor", "unpacks to", bomb)
    folder = tmp_path / "a-folder.pth"
    folder.mkdir()
    cases.append(("a directory", folder, "folder"))
    return cases


def test_hostile_weights_files_are_one_line_and_nothing_is_kept(tmp_path):
    from cnnstudio.core.models import backbones

    cases = _hostile_weights(tmp_path)
    for name, path, fragment in cases:
        start = time.perf_counter()
        with pytest.raises(CNNStudioError) as info:
            backbones.import_weights("mobilenet_v3_small", path)
        message = str(info.value)
        assert fragment in message, (name, message)
        assert "\n" not in message and len(message) < 400, (name, message)
        assert time.perf_counter() - start < 5.0, name
        folder = backbones.weights_dir()
        assert not folder.exists() or not any(folder.iterdir()), (name, list(folder.iterdir()))
    assert not (tmp_path / "ran").exists()
    print(f"pretrained-weights import: {len(cases)} hostile files, each refused in one line")


def test_a_valid_weights_file_is_still_imported(tmp_path):
    from cnnstudio.core.models import backbones

    path = tmp_path / "mine.pth"
    torch.save(_mobilenet_state(), path)
    where, note = backbones.import_weights("mobilenet_v3_small", path)
    assert where.is_file() and "checksum differs" in note
    assert sorted(p.name for p in where.parent.iterdir()) == [where.name]  # no temporary file left


def test_cli_weights_option_with_a_hostile_file_is_one_line(capsys, tmp_path):
    path = tmp_path / "evil.pth"
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"x": Evil()}, path)
    code, _, err = run_cli(capsys, "train", "--dataset", "shapes", "--model", "mobilenet-v3-small-imagenet",
                           "--epochs", "1", "--device", "cpu", "--weights", str(path))
    assert code == 2
    one_clear_line(err, "could run code")
    assert not marker.exists()
