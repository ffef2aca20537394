"""Issue 16: do the defaults for a user's own data help, and does a drawing reach the model framed right?

On a folder of digits that are not MNIST's (benchmarks/font_digits.py: 5,000 training and 1,000 test
digits rendered from this computer's fonts, filling less of the frame than MNIST's), convnet-5x5 is
trained with the settings recommended for the data, with no augmentation, and with the old folder
recipe (crops and horizontal flips). Then the same 1,000 test digits are drawn as a user would (dark
ink on a white 320x320 canvas, any size, place and pen width) and classified through the user-image
path (Predictor.prepare, as Draw, Inspect and `cnnstudio predict` do): with the framing measured from
the training images, and with MNIST's fixed rule for comparison.

A photo-like folder (coloured shapes over colour gradients, 40x40 PNGs) is trained with the
recommended photo settings, with none, with crops and zoom, and with flips added; the messy folder
of benchmarks/messy_folder.py with every default (cropped around the subject, and centre-cropped as
before) and with the previous folder defaults.

    python benchmarks/own_data_defaults.py [--train 5000] [--test 1000] [--epochs N] [--photos 2000]
        [--messy-folders 0,1,2] [--messy-seeds 0,1,2]

Prints a table; the figures go to docs/benchmarks.md by hand. Runs on the CPU, a few minutes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import font_digits
from messy_folder import write_messy_folder


def drawn_accuracy(predictor, styles, labels, seed: int, framing=None) -> float:
    """Accuracy on the test digits drawn dark-on-light on a 320x320 canvas, through Predictor.prepare."""
    from cnnstudio.core.inference import prepare_image

    rng = np.random.default_rng(seed)
    framing = framing or predictor.framing
    batch = np.stack([prepare_image(font_digits.drawn_image(s, rng), framing).pixels for s in styles])
    probs = predictor.probabilities(batch)
    return float((probs.argmax(axis=1) == labels).mean())


def write_photo_folder(folder: Path, n: int, seed: int = 0) -> None:
    """Photo-like colour pictures, one subfolder per class: the shapes (any size, place and turn) in a
    random colour over a random colour gradient with noise, 40x40 PNGs."""
    from PIL import Image

    from cnnstudio.core.datasets.shapes import CLASSES, generate

    rng = np.random.default_rng(seed)
    masks, labels = generate(seed, n_train=n, n_test=1)[:2]
    yy, xx = np.mgrid[0:28, 0:28] / 27.0
    for i, (mask, label) in enumerate(zip(masks[:, 0].astype(np.float32) / 255.0, labels)):
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        t = (xx if rng.random() < 0.5 else yy)[..., None]
        background = a * (1 - t) + b * t + rng.normal(0, 12, (28, 28, 3))
        colour = rng.uniform(0, 255, 3)
        picture = background * (1 - mask[..., None]) + colour * mask[..., None]
        out = folder / CLASSES[int(label)]
        out.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8), "RGB").resize((40, 40))
        image.save(out / f"{i}.png")


def photo_rows(work: Path, n: int) -> list[tuple[str, float, int]]:
    """Test accuracy of the recommended photo settings, of none, and of the recommended plus flips."""
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.training.config import Augmentation
    from cnnstudio.core.training.recommend import recommend
    from cnnstudio.core.training.trainer import Trainer

    folder = work / "photos"
    write_photo_folder(folder, n)
    ds = load_dataset(folder)
    rec = recommend(str(folder), ds)
    print(f"{len(ds.train_labels):,} training / {len(ds.test_labels):,} test photo-like pictures; recommended: "
          + " ".join(rec.reasons))
    base = replace(rec.config, device="cpu", seed=0)
    rows = []
    for name, aug in (("recommended (shifts of 2 px)", base.augment), ("none", Augmentation()),
                      ("crops of 4 px and ±10 % zoom", Augmentation(crop_padding=4, scale=0.1)),
                      ("recommended + horizontal flips", replace(base.augment, hflip=True))):
        result = Trainer(replace(base, augment=aug), dataset=ds, run_dir=work / f"photo-{len(rows)}").run()
        rows.append((name, result.test_accuracy, result.epochs))
        print(f"  {name}: test {100 * result.test_accuracy:.1f} % ({result.epochs} epochs)")
    return rows


def messy_rows(work: Path, folders: list[int], seeds: list[int]) -> list[tuple[str, int, list[float], list[int], str]]:
    """The messy folder (one per generator seed in `folders`) trained with every default on each training
    seed, with the crop around the subject (the default) and with the centre crop it replaced; and the
    previous defaults for a folder, once."""
    from contextlib import contextmanager

    from cnnstudio.core import cover
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.training.recommend import default_config
    from cnnstudio.core.training.recommend import recommend
    from cnnstudio.core.training.trainer import Trainer

    @contextmanager
    def centre_crop():
        """The cover crop as it was before: always the middle of the longer side."""
        follow = cover.subject_window
        cover.subject_window = lambda pixels, length, axis: (pixels.shape[axis] - length) // 2
        try:
            yield
        finally:
            cover.subject_window = follow

    def train(name: str, cfg, ds, folder_seed: int, run_seeds: list[int]):
        accs, epochs = [], []
        start = time.perf_counter()
        for seed in run_seeds:
            run_dir = work / f"messy-{len(rows)}-{seed}"
            result = Trainer(replace(cfg, device="cpu", seed=seed), dataset=ds, run_dir=run_dir).run()
            accs.append(result.test_accuracy)
            epochs.append(result.epochs)
        rows.append((name, folder_seed, accs, epochs, f"{time.perf_counter() - start:.0f} s"))
        print(f"  folder {folder_seed}, {name}: test " + " / ".join(f"{100 * a:.1f}" for a in accs) + " %", flush=True)

    rows: list[tuple[str, int, list[float], list[int], str]] = []
    for folder_seed in folders:
        for name, crop in (("every default (crop around the subject)", None),
                           ("every default, centre crop", centre_crop)):
            # A folder of its own for each crop: the picture cache is keyed by the folder's path.
            folder = work / f"messy-{folder_seed}-{'centre' if crop else 'subject'}"
            write_messy_folder(folder, seed=folder_seed)
            if crop:
                with crop():
                    ds = load_dataset(folder)
            else:
                ds = load_dataset(folder)
            if not rows:
                print(f"messy folder: {ds.report.summary()}")
            rec = recommend(str(folder), ds)
            if not rows:
                print("recommended: " + " ".join(rec.reasons))
            train(name, rec.config, ds, folder_seed, seeds)
            if folder_seed == folders[0] and crop is None:
                old = replace(default_config("folder"), dataset=str(folder))  # vgg-bn, 15 epochs, batch 64
                train("the previous folder defaults (vgg-bn, batch 64, 15 epochs)", old, ds, folder_seed, seeds[:1])
    return rows


def digit_rows(work: Path, args: argparse.Namespace) -> None:
    """The font digits: three augmentations, the test set and the same digits drawn on the canvas."""
    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.framing import mnist_profile
    from cnnstudio.core.inference import Predictor
    from cnnstudio.core.training.config import Augmentation
    from cnnstudio.core.training.recommend import recommend
    from cnnstudio.core.training.trainer import Trainer

    folder = work / "digits"
    styles = font_digits.write_idx_folder(folder, args.train, args.test)
    ds = load_dataset(folder)
    labels = ds.test_labels.numpy()
    print(f"{len(ds.train_labels):,} training / {len(labels):,} test font digits ({len(font_digits.fonts())} fonts)")
    print(f"measured framing: {ds.framing.description}")
    rec = recommend(str(folder), ds)
    base = replace(rec.config, device="cpu", seed=0)
    if args.epochs:
        base = replace(base, epochs=args.epochs, early_stopping_patience=0)
    print("recommended: " + " ".join(rec.reasons))
    rows = []
    for name, aug in (("recommended (shifts of 2 px)", base.augment), ("none", Augmentation()),
                      ("old folder recipe (crop 4 + flips)", Augmentation(crop_padding=4, hflip=True))):
        cfg = replace(base, augment=aug)
        start = time.perf_counter()
        result = Trainer(cfg, dataset=ds, run_dir=work / f"run-{len(rows)}").run()
        seconds = time.perf_counter() - start
        predictor = Predictor(result.checkpoint)
        drawn = drawn_accuracy(predictor, styles, labels, seed=1)
        mnist_rule = drawn_accuracy(predictor, styles, labels, seed=1,
                                    framing=mnist_profile()) if len(rows) == 0 else float("nan")
        rows.append((name, result.test_accuracy, drawn, mnist_rule, result.epochs, seconds))
        print(f"  {name}: test {100 * result.test_accuracy:.1f} %, drawn {100 * drawn:.1f} % "
              f"({result.epochs} epochs, {seconds:.0f} s)")
    print()
    print("| augmentation | epochs | test accuracy | the test digits drawn on a 320x320 canvas | "
          "drawn, framed by MNIST's rule instead |")
    print("|---|---|---|---|---|")
    for name, test, drawn, mnist_rule, epochs, _ in rows:
        rule = "" if mnist_rule != mnist_rule else f"{100 * mnist_rule:.1f} %"
        print(f"| {name} | {epochs} | {100 * test:.1f} % | {100 * drawn:.1f} % | {rule} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=5000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=None, help="default: the recommended number")
    parser.add_argument("--photos", type=int, default=2000, help="photo-like pictures (0: skip that part)")
    parser.add_argument("--digits", action=argparse.BooleanOptionalAction, default=True,
                        help="the font digits part")
    parser.add_argument("--messy", action=argparse.BooleanOptionalAction, default=True,
                        help="train the messy folder of 100 pictures per class")
    parser.add_argument("--messy-folders", default="0", help="messy folders to write (generator seeds), e.g. 0,1,2")
    parser.add_argument("--messy-seeds", default="0", help="training seeds for each messy folder, e.g. 0,1,2")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="own-data-"))
    if args.digits:
        digit_rows(work, args)
    if args.photos:
        print()
        photos = photo_rows(work, args.photos)
        print()
        print("| augmentation (photo-like folder, the recommended model) | epochs | test accuracy |")
        print("|---|---|---|")
        for name, test, epochs in photos:
            print(f"| {name} | {epochs} | {100 * test:.1f} % |")
    if args.messy:
        print()
        messy = messy_rows(work, [int(v) for v in args.messy_folders.split(",")],
                           [int(v) for v in args.messy_seeds.split(",")])
        print()
        print("| messy folder, 300 pictures | folder | epochs | test accuracy, each training seed | time |")
        print("|---|---|---|---|---|")
        for name, folder_seed, accs, epochs, seconds in messy:
            print(f"| {name} | {folder_seed} | {' / '.join(map(str, epochs))} | "
                  f"{' / '.join(f'{100 * a:.1f}' for a in accs)} % | {seconds} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
