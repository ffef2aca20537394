"""Pretrained backbones on this CPU: features only and last-stage fine-tuning of 1,000 pictures at 224 px.

Writes a folder of photo-like pictures (benchmarks/own_data_defaults.py's generator at 256 px), then for a
backbone (default MobileNetV3-Small and ResNet-18):
- decodes the folder at 224 px (data preparation), loads it again from the picture cache (median of 3),
  and opens it as a folder over the memory budget (its pictures left on disk);
- features only, first run: every picture through the frozen backbone once (cached), then the head;
- features only, second run: the same pictures from the embedding cache;
- last stage learns: images/s of a training epoch, with the pictures in memory and on disk;
and prints times, images/s and the test accuracy. The ImageNet weights are used when they are on this
computer; otherwise (no network here) an untrained network of the same architecture stands in, which
times the same work but says nothing of the accuracy a real user gets.

    python benchmarks/backbones.py [--arch mobilenet_v3_small resnet18] [--images 1000] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def write_pictures(folder: Path, n: int, size: int = 256, classes: int = 5, seed: int = 0) -> None:
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    for k in range(classes):
        (folder / f"class{k}").mkdir(parents=True)
    for i in range(n):
        k = i % classes
        base = np.linspace(0, 1, size)[None, :, None] * rng.uniform(40, 200, 3) + rng.uniform(0, 50, 3)
        picture = np.clip(base + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
        image = Image.fromarray(picture)
        draw = ImageDraw.Draw(image)
        cx, cy = (int(v) for v in rng.integers(70, 186, 2))
        r = int(rng.integers(30, 70))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = [(cx - r, cy - r, cx + r, cy + r)]
        if k == 0:
            draw.ellipse(shape[0], fill=colour)
        elif k == 1:
            draw.rectangle(shape[0], fill=colour)
        elif k == 2:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
        elif k == 3:
            draw.line([(cx - r, cy - r), (cx + r, cy + r)], fill=colour, width=12)
            draw.line([(cx - r, cy + r), (cx + r, cy - r)], fill=colour, width=12)
        else:
            draw.ellipse(shape[0], outline=colour, width=10)
        image.save(folder / f"class{k}" / f"{i}.jpg", quality=90)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", nargs="*", default=["mobilenet_v3_small", "resnet18"],
                        help="backbones to time (none: only the folder's decoding)")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="backbones-"))
    os.environ["CNNSTUDIO_HOME"] = str(work / "home")
    import torch
    import torchvision

    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.datasets.disk_images import MEMORY_BUDGET_ENV, DiskImages
    from cnnstudio.core.models.backbones import BACKBONES, find_weights, weights_dir, weights_file_name
    from cnnstudio.core.models.presets import get_preset
    from cnnstudio.core.training.config import Augmentation, TrainConfig
    from cnnstudio.core.training.device import cpu_name
    from cnnstudio.core.training.trainer import Trainer

    print(f"CPU: {cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    folder = work / "pictures"
    write_pictures(folder, args.images)
    start = time.perf_counter()
    ds = load_dataset(folder, image_size=224)
    prep = time.perf_counter() - start
    print(f"decoding {args.images} pictures at 224 px: {prep:.1f} s ({len(ds.train_images)} train, "
          f"{len(ds.test_images)} test)")
    reloads = []
    for _ in range(3):
        start = time.perf_counter()
        again = load_dataset(folder, image_size=224)
        reloads.append(time.perf_counter() - start)
    assert torch.equal(again.train_images, ds.train_images)
    cached = statistics.median(reloads)
    print(f"the same folder again (the picture cache, into memory): median of 3 {cached:.2f} s "
          f"({', '.join(f'{t:.2f}' for t in reloads)}), {prep / cached:.0f}x faster")
    # The same folder over the memory budget: its pictures stay in the cache file, read a batch at a time.
    os.environ[MEMORY_BUDGET_ENV] = "0"
    start = time.perf_counter()
    on_disk = load_dataset(folder, image_size=224)
    disk_load = time.perf_counter() - start
    del os.environ[MEMORY_BUDGET_ENV]
    assert isinstance(on_disk.train_images, DiskImages)
    assert torch.equal(on_disk.train_images[torch.arange(0, len(ds.train_images), 7)],
                       ds.train_images[torch.arange(0, len(ds.train_images), 7)])
    print(f"the same folder left on disk (over the memory budget): {disk_load:.2f} s to open, "
          f"{prep / disk_load:.0f}x faster than decoding")
    rows = []
    for arch in args.arch:
        real = find_weights(arch) is not None
        if not real:
            path = weights_dir() / weights_file_name(arch)
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(torchvision.models.get_model(arch, weights=None).state_dict(), path)
        preset = {"mobilenet_v3_small": "mobilenet-v3-small-imagenet",
                  "mobilenet_v3_large": "mobilenet-v3-large-imagenet", "resnet18": "resnet18-imagenet",
                  "efficientnet_b0": "efficientnet-b0-imagenet"}[arch]
        for mode, label in (("features", "features only, first run"), ("features", "features only, cached"),
                            ("last", "last stage learns"), ("last", "last stage learns, pictures on disk")):
            data = on_disk if label.endswith("on disk") else ds
            spec = get_preset(preset)
            spec["layers"][0]["train"] = mode
            epochs = args.epochs if mode == "features" else 2
            cfg = TrainConfig(dataset=str(folder), model=preset, spec=spec, epochs=epochs, batch_size=32,
                              optimizer="adamw", lr=1e-3, val_split=0.0, device="cpu", augment=Augmentation(),
                              seed=0)
            logs = []
            start = time.perf_counter()
            result = Trainer(cfg, dataset=data, run_dir=work / f"{arch}-{mode}-{len(rows)}",
                             on_event=lambda e: logs.append(getattr(e, "message", ""))).run()
            seconds = time.perf_counter() - start
            feature_line = next((m for m in logs if m.startswith("features only")), "")
            rows.append((BACKBONES[arch].title, label, epochs, seconds, result.train_samples_per_second,
                         result.test_accuracy, real))
            print(f"{BACKBONES[arch].title}, {label}: {seconds:.1f} s for {epochs} epochs, "
                  f"{result.train_samples_per_second or 0:,.0f} images/s, test {result.test_accuracy:.1%}"
                  + (f" [{feature_line}]" if feature_line else ""))
    if args.markdown:
        print("\n| backbone | mode | epochs | wall time | images/s (training) | test accuracy | weights |")
        print("|---|---|---|---|---|---|---|")
        for title, label, epochs, seconds, ips, acc, real in rows:
            print(f"| {title} | {label} | {epochs} | {seconds:.1f} s | {ips or 0:,.0f} | {acc:.1%} | "
                  f"{'ImageNet' if real else 'untrained stand-in'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
