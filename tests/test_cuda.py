"""The tests that need a CUDA GPU (skipped without one; benchmarks/gpu_check.sh runs them where there is one).

What only a GPU can show: training on the device with each precision, the checkpoint it writes used on a
CPU, inspection on the device agreeing with the CPU, and pictures read from disk reaching the device.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def shapes():
    from cnnstudio.core.datasets import load_dataset

    return load_dataset("shapes")


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_training_on_the_gpu_in_each_precision_gives_a_model_the_cpu_uses_alike(shapes, tmp_path, precision):
    from cnnstudio.core.inference import Predictor
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.core.training.trainer import Trainer

    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    cfg = TrainConfig(dataset="shapes", model="tiny-bn-cnn", epochs=2, batch_size=128, lr=3e-3, device="cuda",
                      precision=precision, seed=0)
    result = Trainer(cfg, dataset=shapes, run_dir=tmp_path / "run").run()
    assert result.status == "finished", result
    assert result.device.startswith("cuda") and result.precision == precision
    assert result.test_accuracy > 0.5
    pixels = shapes.test_images[:256].numpy()
    on_cpu = Predictor(result.checkpoint, device="cpu").probabilities(pixels)
    on_gpu = Predictor(result.checkpoint, device="cuda").probabilities(pixels)
    assert (on_cpu.argmax(1) == on_gpu.argmax(1)).mean() >= 0.99
    np.testing.assert_allclose(on_cpu, on_gpu, atol=1e-3)


def test_grad_cam_on_the_gpu_matches_the_cpu(shapes, tmp_path):
    from cnnstudio.core.inference import Predictor
    from cnnstudio.core.inspection import inspect_image
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.core.training.trainer import Trainer

    cfg = TrainConfig(dataset="shapes", model="cnn3-dropout", epochs=1, device="cuda", precision="fp32")
    checkpoint = Trainer(cfg, dataset=shapes, run_dir=tmp_path / "run").run().checkpoint
    maps = {}
    for device in ("cpu", "cuda"):
        predictor = Predictor(checkpoint, device=device)
        x = predictor.normalise(shapes.test_images[:1])[0]
        inspection = inspect_image(predictor.model, x)
        maps[device] = (inspection.cam.cam, inspection.predicted)
    assert maps["cpu"][1] == maps["cuda"][1]
    np.testing.assert_allclose(maps["cpu"][0], maps["cuda"][0], atol=1e-3)


def test_pictures_on_disk_train_on_the_gpu(tmp_path, monkeypatch):
    from PIL import Image

    from cnnstudio.core.datasets.disk_images import MEMORY_BUDGET_ENV, DiskImages
    from cnnstudio.core.datasets.imagefolder import load_image_folder
    from cnnstudio.core.training.config import TrainConfig
    from cnnstudio.core.training.trainer import Trainer

    rng = np.random.default_rng(0)
    for k, name in enumerate(("dark", "light")):
        (tmp_path / "pics" / name).mkdir(parents=True)
        for i in range(40):
            level = 40 if k == 0 else 200
            Image.fromarray((rng.normal(level, 20, (48, 48, 3))).clip(0, 255).astype(np.uint8)).save(
                tmp_path / "pics" / name / f"{i}.png")
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "0")
    ds = load_image_folder(tmp_path / "pics")
    assert isinstance(ds.train_images, DiskImages)
    cfg = TrainConfig(dataset=str(tmp_path / "pics"), model="bn-cnn4", epochs=3, batch_size=16, device="cuda")
    result = Trainer(cfg, dataset=ds, run_dir=Path(tmp_path) / "run").run()
    assert result.status == "finished" and result.test_accuracy >= 0.9, result
