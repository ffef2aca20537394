"""Folders larger than memory: above the memory budget, the decoded pictures stay in the picture cache on
disk and are read a batch at a time, by the trainer and by everything else that reads a dataset."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnstudio.core.datasets.disk_images import MEMORY_BUDGET_ENV, DiskImages
from cnnstudio.core.datasets.imagefolder import load_image_folder
from cnnstudio.core.training.config import Augmentation, TrainConfig
from cnnstudio.core.training.trainer import Trainer

# A model that reads big pictures cheaply: one strided convolution, then a linear layer.
SMALL_SPEC = {"name": "strided", "description": "", "layers": [
    {"type": "conv", "out": 8, "kernel": 8, "stride": 8}, {"type": "relu"},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out": "classes"}]}


def photo_folder(root: Path, per_class: int, side: int, seed: int = 0) -> Path:
    """Two classes of smooth JPEG 'photos' (warm vs cool, with texture), each `side` px square."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side] / side
    noise = rng.normal(0, 12, (4, side, side, 3))  # drawn once: drawing it per picture was most of the time
    for k, name in enumerate(("cool", "warm")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            phase = rng.uniform(0, 6.3)
            wave = 0.5 + 0.5 * np.sin(8 * xx + 5 * yy + phase)
            base = np.array([0.2, 0.4, 0.8]) if k == 0 else np.array([0.8, 0.45, 0.2])
            pixels = (base[None, None] * (0.6 + 0.4 * wave[..., None]) * 255
                      + noise[i % 4]).clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:04d}.jpg", quality=90)
    return root


def test_pictures_over_the_memory_budget_stay_on_disk_and_read_like_pictures_in_memory(tmp_path, monkeypatch):
    folder = photo_folder(tmp_path / "photos", 24, 40)
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "1000")
    memory = load_image_folder(folder)
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "0")
    disk = load_image_folder(folder)  # the same cache entry, now left on disk
    assert not isinstance(memory.train_images, DiskImages)
    assert isinstance(disk.train_images, DiskImages) and isinstance(disk.test_images, DiskImages)
    assert any("stay on disk" in note for note in disk.report.notes)
    for a, b in ((disk.train_images, memory.train_images), (disk.test_images, memory.test_images)):
        assert a.shape == b.shape and len(a) == len(b) and a.ndim == 4 and a.dtype == torch.uint8
        assert torch.equal(a[:], b)
        assert torch.equal(a[3], b[3]) and torch.equal(a[-1], b[-1])
        assert torch.equal(a[2:7], b[2:7]) and torch.equal(a[1::3], b[1::3])
        assert np.array_equal(a.numpy(), b.numpy())
    index = torch.tensor([5, 0, 5, 17, 3, 16])  # unsorted, repeated, with a run
    assert torch.equal(disk.train_images[index], memory.train_images[index])
    assert torch.equal(disk.train_images[index.numpy()], memory.train_images[index])
    mask = torch.arange(len(memory.train_images)) % 4 == 1
    assert torch.equal(disk.train_images[mask], memory.train_images[mask])
    part = disk.train_images.subset(index)
    assert torch.equal(part[torch.tensor([1, 5])], memory.train_images[index[[1, 5]]])
    assert disk.mean == memory.mean and disk.std == memory.std
    assert torch.equal(disk.train_labels, memory.train_labels)


def test_a_run_on_pictures_on_disk_is_the_same_run_as_in_memory(tmp_path, monkeypatch):
    """Same batches, same augmentation draws, same weights: only where the pixels come from differs."""
    folder = photo_folder(tmp_path / "photos", 30, 32)
    results = {}
    for budget in ("1000", "0"):
        monkeypatch.setenv(MEMORY_BUDGET_ENV, budget)
        ds = load_image_folder(folder)
        cfg = TrainConfig(dataset=str(folder), spec=SMALL_SPEC, epochs=2, batch_size=8, lr=3e-3, val_split=0.2,
                          augment=Augmentation(crop_padding=2, hflip=True), device="cpu", precision="fp32")
        result = Trainer(cfg, dataset=ds, run_dir=tmp_path / f"run-{budget}").run()
        assert result.status == "finished", result
        results[budget] = result
    memory, disk = results["1000"], results["0"]
    assert disk.history["train_loss"] == memory.history["train_loss"]
    assert disk.history["val_accuracy"] == memory.history["val_accuracy"]
    assert disk.test_accuracy == memory.test_accuracy


RSS_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path

    import torch
    from cnnstudio.core.datasets.disk_images import DiskImages
    from cnnstudio.core.datasets.imagefolder import load_image_folder
    from cnnstudio.core.training.config import Augmentation, TrainConfig
    from cnnstudio.core.training.trainer import Trainer

    torch.set_num_threads(1)
    folder, spec, cap_mb = Path(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]

    def status(field):
        for line in open("/proc/self/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

    def growth(budget_mb, run, folder=folder):
        os.environ["CNNSTUDIO_MEMORY_BUDGET_MB"] = budget_mb
        Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from here
        base = status("VmRSS")
        ds = load_image_folder(folder, image_size=256)
        cfg = TrainConfig(dataset=str(folder), spec=spec, epochs=1, batch_size=16, val_split=0.1,
                          augment=Augmentation(), device="cpu", precision="fp32")
        result = Trainer(cfg, dataset=ds, run_dir=Path(run)).run()
        assert result.status == "finished", result
        return status("VmHWM") - base, isinstance(ds.train_images, DiskImages), ds.train_images.shape[0]

    growth("0", sys.argv[4] + "/warm-up", Path(sys.argv[5]))
    disk = growth(cap_mb, sys.argv[4] + "/disk")
    memory = growth("100000", sys.argv[4] + "/memory")
    print(json.dumps({"disk": disk, "memory": memory}))
""")


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's peak-RSS reset")
def test_a_folder_larger_than_the_memory_cap_trains_with_its_peak_memory_under_the_cap(tmp_path):
    """1,200 pictures at 256 px decode to 225 MB; with a 160 MB cap, loading them and a training epoch
    (validation and the final test included) raise the process's peak resident memory by less than the
    cap. The same folder in memory raises it by more than the folder's decoded size (so the check can
    tell the two apart). A warm-up run first pays the one-time costs (lazy imports, thread pools)."""
    folder = photo_folder(tmp_path / "photos", 600, 256)
    decoded_mb = 1200 * 3 * 256 * 256 / 2**20
    cap_mb = 160
    warm_up = photo_folder(tmp_path / "few", 10, 256, seed=1)
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(folder), json.dumps(SMALL_SPEC), str(cap_mb),
                          str(tmp_path), str(warm_up)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    disk_growth, on_disk, n = figures["disk"]
    memory_growth, in_memory_on_disk, _ = figures["memory"]
    assert on_disk and not in_memory_on_disk and n == 960  # 80 % of 1,200 for training
    print(f"peak growth: on disk {disk_growth / 2**20:.1f} MB, in memory {memory_growth / 2**20:.1f} MB")
    assert decoded_mb > cap_mb
    assert disk_growth < cap_mb * 2**20, (disk_growth / 2**20, memory_growth / 2**20)
    assert memory_growth > decoded_mb * 2**20, (disk_growth / 2**20, memory_growth / 2**20)
