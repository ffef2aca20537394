"""docs/images/inspect-compare*.png: Inspect's Compare methods tab in the app's window, offscreen.

A shapes model (fast-cnn, two epochs, trained here unless --checkpoint is given), one test picture: every method
side by side (inspect-compare.png), their deletion and insertion curves (inspect-compare-curves.png), and the
sanity check of three methods (inspect-compare-sanity.png).

    QT_QPA_PLATFORM=offscreen python scripts/compare_screenshot.py [--checkpoint best.pt]
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

import _drive  # scripts/_drive.py


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint")
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--size", default="1280x860")
    parser.add_argument("--index", type=int, default=7, help="the test picture")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = tempfile.mkdtemp(prefix="cnnstudio-compare-shot-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ["CNNSTUDIO_HOME"] = home

    from PySide6.QtCore import QRect, QSettings

    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.ui.app import create_application
    from cnnstudio.ui.main_window import MainWindow

    data = load_dataset("shapes")
    checkpoint = args.checkpoint
    if checkpoint is None:
        from cnnstudio.core.training.config import TrainConfig
        from cnnstudio.core.training.trainer import Trainer

        cfg = TrainConfig(dataset="shapes", model="fast-cnn", epochs=2, batch_size=128, lr=0.01, schedule="onecycle",
                          device="cpu", precision="fp32", seed=0)
        result = Trainer(cfg, dataset=data, run_dir=Path(home) / "runs" / "shapes-fast-cnn").run()
        print(f"trained: test accuracy {result.test_accuracy:.3f}")
        checkpoint = result.checkpoint
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, home)
    app = create_application(sys.argv[:1])
    window = MainWindow()
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.show()
    state = window.state
    _drive.wait_until(app, lambda: state.dataset is not None, 120, "the first dataset")
    state.set_dataset(data, "shapes")
    inspect = window.page("inspect")
    done: list[object] = []
    inspect.inspectionReady.connect(done.append)
    state.set_checkpoint(str(Path(checkpoint).resolve()))
    window.show_page("inspect")
    _drive.wait_until(app, lambda: done, 120, "the model")
    done.clear()
    inspect.show_test_sample(args.index)
    _drive.wait_until(app, lambda: done, 60, "the inspection")
    panel = inspect.content.compare
    inspect.tabs.setCurrentWidget(panel)
    from cnnstudio.core.inspection.methods import METHODS

    panel.set_chosen(METHODS)
    panel.compare()
    _drive.wait_until(app, lambda: panel.comparison is not None and panel.comparison.done, 300, "the comparison")
    _drive.pump(app, 0.5)
    out = Path(args.out)
    window.grab().save(str(out / "inspect-compare.png"))
    body = panel.widget()
    plots = panel.deletion_plot.geometry().united(panel.insertion_plot.geometry())
    curves = QRect(0, plots.top() - 30, body.width(), plots.height() + 40)
    body.grab(curves).save(str(out / "inspect-compare-curves.png"))
    panel.set_chosen(["saliency", "gradcam", "integrated-gradients"])
    panel.randomise()
    _drive.wait_until(app, lambda: panel.sanity_shown is not None, 300, "the sanity check")
    _drive.pump(app, 0.5)
    top = panel.sanity_help.geometry().top() - 24
    bottom = panel.sanity_grid.geometry().bottom() + 8
    body.grab(QRect(0, top, body.width(), bottom - top)).save(str(out / "inspect-compare-sanity.png"))
    for name in ("inspect-compare.png", "inspect-compare-curves.png", "inspect-compare-sanity.png"):
        print(out / name)
    inspect.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
