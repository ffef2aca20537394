"""Issue 32: does the data doctor find the pictures moved into a wrong class folder?

Folders of real pictures with a share of them (8 % by default) moved into another class's folder at
random, then `diagnose()` as `cnnstudio doctor` runs it: among the top-K label issues (K = the number
moved), the share that were moved (precision) and the share of the moved that are among them (recall;
with K equal to the number moved, the two are the same number unless fewer than K are reported).

Folders:
- digits: the 1,797 handwritten digits scikit-learn ships (UCI optdigits, 8x8, 16 grey levels, from 43
  writers; not MNIST's files), saved as 32x32 PNGs;
- fashion: 3,000 Fashion-MNIST pictures (Debian's dataset-fashion-mnist) saved as PNGs;
- photos: the photo-like colour folder of benchmarks/own_data_defaults.py (shapes over colour gradients).

    python benchmarks/doctor_label_issues.py [--data digits,fashion,photos] [--seeds 0,1,2] [--noise 0.08]
        [--trained] [--json FILE]

`--trained` first trains the model recommended for the noisy folder with every default (as a user does
before Review > "Use the current model"), then judges with that checkpoint's features (a linear head
cross-validated on them) instead of the k-fold models.

Prints a table; the figures go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def write_digits(folder: Path, limit: int | None = None) -> None:
    """scikit-learn's handwritten digits as 32x32 grey PNGs, one subfolder per digit."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images, digits.target
    if limit:
        images, labels = images[:limit], labels[:limit]
    for i, (img, label) in enumerate(zip(images, labels)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        pixels = np.clip(img * 255.0 / 16.0, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).resize((32, 32), Image.Resampling.BICUBIC).save(folder / str(label) / f"d{i:04d}.png")


def write_fashion(folder: Path, n: int = 3000) -> None:
    from PIL import Image

    from cnnstudio.core.datasets.idx import read_idx_pair

    src = Path("/usr/share/datasets/fashion-mnist")
    images, labels = read_idx_pair(src / "t10k-images-idx3-ubyte.gz", src / "t10k-labels-idx1-ubyte.gz")
    names = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]
    for i in range(n):
        (folder / names[labels[i]]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i].reshape(images.shape[-2:])).save(folder / names[labels[i]] / f"f{i:05d}.png")


def move_some(folder: Path, share: float, seed: int) -> set[str]:
    """Move `share` of the pictures into another class folder chosen at random; their new relative paths."""
    rng = np.random.default_rng(seed)
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    files = sorted(p for c in classes for p in (folder / c).iterdir())
    picked = rng.choice(len(files), size=int(round(share * len(files))), replace=False)
    moved = set()
    for i in picked:
        path = files[i]
        others = [c for c in classes if c != path.parent.name]
        target = folder / others[int(rng.integers(len(others)))] / path.name
        shutil.move(path, target)
        moved.add(target.relative_to(folder).as_posix())
    return moved


def train_recommended(data, folder: Path, seed: int) -> tuple[str, float, float]:
    """The recommended model trained on the folder with every default: (checkpoint, test accuracy, seconds)."""
    from dataclasses import replace

    from cnnstudio.core.training.recommend import recommend
    from cnnstudio.core.training.trainer import Trainer

    start = time.perf_counter()
    cfg = replace(recommend(str(folder), data).config, seed=seed)
    result = Trainer(cfg, dataset=data, run_dir=folder.parent / f"{folder.name}-run").run()
    assert result.checkpoint, result.message
    return result.checkpoint, float(result.test_accuracy or 0.0), time.perf_counter() - start


def measure(kind: str, seed: int, noise: float, work: Path, trained: bool = False) -> dict:
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.doctor.diagnose import diagnose

    folder = work / f"{kind}-{seed}"
    if folder.exists():
        shutil.rmtree(folder)
    if kind == "digits":
        write_digits(folder)
    elif kind == "fashion":
        write_fashion(folder)
    else:
        from own_data_defaults import write_photo_folder

        write_photo_folder(folder, 2000, seed=0)
    moved = move_some(folder, noise, seed)
    data = load_dataset(folder)
    checkpoint, extra = None, {}
    if trained:
        checkpoint, accuracy, train_seconds = train_recommended(data, folder, seed)
        extra = {"model_test_accuracy": round(accuracy, 4), "train_seconds": round(train_seconds, 1)}
    start = time.perf_counter()
    report = diagnose(data, seed=seed, checkpoint=checkpoint)
    seconds = time.perf_counter() - start
    top = [i.picture.file for i in report.label_issues[:len(moved)]]
    hits = sum(1 for f in top if f in moved)
    return {"data": kind, "seed": seed, "pictures": report.pictures, "moved": len(moved),
            "reported": len(report.label_issues), "precision": hits / max(1, len(top)),
            "recall": hits / max(1, len(moved)), "seconds": round(seconds, 1), "method": report.method, **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits,fashion,photos")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--noise", type=float, default=0.08)
    parser.add_argument("--trained", action="store_true",
                        help="judge with the recommended model trained on the noisy folder (its features)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        for kind in args.data.split(","):
            for seed in (int(s) for s in args.seeds.split(",")):
                row = measure(kind, seed, args.noise, Path(temp), args.trained)
                rows.append(row)
                print(f"{row['data']:8} seed {seed}: {row['pictures']:5} pictures, {row['moved']:4} moved, "
                      f"{row['reported']:4} reported; top-{row['moved']}: precision {row['precision']:.1%}, "
                      f"recall {row['recall']:.1%}; {row['seconds']:.0f} s ({row['method']})"
                      + (f"; the model: {row['model_test_accuracy']:.1%} test, trained in {row['train_seconds']:.0f} s"
                         if "train_seconds" in row else ""), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
