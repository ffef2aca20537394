"""Render the Review page with real findings to docs/images/review.png, and its new pictures to
docs/images/review-new.png.

Writes a folder of real handwritten digits (scikit-learn's 1,797 digits, 8x8, saved at 24x24) split into
train/ and test/, moves 8 % of the training pictures into a wrong class folder, copies 5 test pictures
into train under other names and takes 60 training pictures out, unlabelled, into a folder of their own;
loads it in the real app (offscreen), runs the data doctor from the Review page and saves the window; then
trains a model on the folder, opens the unlabelled pictures with "Label new pictures…" and saves again.

    QT_QPA_PLATFORM=offscreen python scripts/review_screenshot.py [--out docs/images] [--epochs 6]
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import _drive


def digits_folder(root: Path, seed: int = 1) -> set[str]:
    """The digits as PNG files in class folders, 8 % of train moved to a wrong class; returns their paths
    (relative to the folder) after the move."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    test = set(rng.permutation(len(digits.target))[:300].tolist())
    for i, (img, y) in enumerate(zip(digits.images, digits.target)):
        folder = root / ("test" if i in test else "train") / str(y)
        folder.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray((img * 255 / 16).astype(np.uint8)).resize((24, 24), Image.Resampling.BILINEAR)
        picture.save(folder / f"{i:04d}.png")
    train = sorted((root / "train").rglob("*.png"))
    moved = set()
    for k in rng.choice(len(train), int(0.08 * len(train)), replace=False):
        p = train[k]
        wrong = str((int(p.parent.name) + int(rng.integers(1, 10))) % 10)
        shutil.move(p, root / "train" / wrong / p.name)
        moved.add(f"train/{wrong}/{p.name}")
    for p in sorted((root / "test").rglob("*.png"))[:5]:
        shutil.copy(p, root / "train" / p.parent.name / f"copy-{p.name}")
    unlabelled = root.parent / "unlabelled"
    unlabelled.mkdir()
    for k in rng.choice(len(train), 60, replace=False):
        if train[k].exists():  # not one of the moved ones
            shutil.move(train[k], unlabelled / f"new-{train[k].name}")
    return moved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--size", default="1280x820")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = tempfile.mkdtemp(prefix="cnnstudio-review-shot-")
    os.environ["CNNSTUDIO_HOME"] = home
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    folder = Path(home) / "handwritten-digits"
    moved = digits_folder(folder)
    print(f"{len(moved)} pictures moved into a wrong class")

    from PySide6.QtCore import QSettings

    from cnnstudio.ui.app import create_application
    from cnnstudio.ui.main_window import MainWindow

    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, home)
    app = create_application(sys.argv[:1])
    width, height = (int(v) for v in args.size.split("x"))
    window = MainWindow()
    window.resize(width, height)
    window.show()
    state = window.state
    _drive.wait_until(app, lambda: state.dataset is not None, 120, "the first dataset")
    window.open_dataset_folder(str(folder))
    _drive.wait_until(app, lambda: state.dataset_name == str(folder) and state.dataset is not None, 300,
                      "the digits folder")
    window.show_page("review")
    page = window.page("review")
    shown: list[object] = []
    page.session.shown.connect(shown.append)
    page.start(epochs=args.epochs)
    _drive.wait_until(app, lambda: bool(shown), 900, "the data doctor")
    page.select("label", 0)
    page.grids["label"].setFocus()
    _drive.pump(app, 0.5)
    path = out / "review.png"
    window.grab().save(str(path))
    print(f"wrote {path}: {page.summary_label.text()}")
    top = [c.suspect.picture.file for c in page.session.view.label[:len(moved)]]
    found = sum(f in moved for f in top)
    print(f"top {len(moved)} label issues: {found} moved pictures ({found / max(len(top), 1):.0%} of those listed, "
          f"{found / len(moved):.0%} of the moved found)")
    new_pictures(app, window, folder, out, args.epochs)
    if os.environ.get("REVIEW_SHOT_ALL"):  # the other tabs, to look at (not kept in docs/)
        for kind in ("duplicate", "outlier"):
            page.select(kind, 0)
            _drive.pump(app, 0.3)
            window.grab().save(str(Path(tempfile.gettempdir()) / f"review-{kind}.png"))
    window.close()
    return 0


def new_pictures(app, window, folder: Path, out: Path, epochs: int) -> None:
    """A model trained on the folder sorts the unlabelled pictures; the window saved with them."""
    from cnnstudio.core.doctor.crossval import doctor_config
    from cnnstudio.core.training.trainer import Trainer

    state, page = window.state, window.page("review")
    cfg = doctor_config(state.dataset_name, state.dataset, None, epochs, 0)
    result = Trainer(cfg, dataset=state.dataset, run_dir=folder.parent / "run").run()
    state.set_checkpoint(str(result.checkpoint))
    _drive.wait_until(app, lambda: state.model.context is not None, 120, "the model")
    listed: list[object] = []
    page.session.newShown.connect(listed.append)
    page.label_new(str(folder.parent / "unlabelled"))
    _drive.wait_until(app, lambda: bool(listed), 120, "the new pictures")
    page.select("new", 0)
    page.grids["new"].setFocus()
    _drive.pump(app, 0.5)
    path = out / "review-new.png"
    window.grab().save(str(path))
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
