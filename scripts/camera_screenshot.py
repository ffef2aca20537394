"""Render the Camera page recording a class and classifying live to docs/images/camera-record.png and
docs/images/camera-live.png. Video clips of shapes (benchmarks/shape_clips.py, ffmpeg, 640x480) stand in
for the camera: they play through the same QtMultimedia path a camera's frames take.

The real window (offscreen): "squares" recorded from one clip, "discs" being recorded from another (the
first screenshot, REC on the preview), the folder trained on (a small model, a few epochs), then a clip of
both shapes classified live with Grad-CAM (the second screenshot).

    QT_QPA_PLATFORM=offscreen python scripts/camera_screenshot.py [--out docs/images] [--size 1280x820]
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
sys.path.insert(0, str(ROOT / "benchmarks"))

import _drive
from shape_clips import make_clip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--size", default="1280x820")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = tempfile.mkdtemp(prefix="cnnstudio-camera-shot-")
    os.environ["CNNSTUDIO_HOME"] = home
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    clips = Path(home) / "clips"
    clips.mkdir()
    size = (640, 480)
    squares = make_clip(clips / "squares.mp4", ["squares"], 8.0, fps=15, seed=1, size=size)
    discs = make_clip(clips / "discs.mp4", ["discs"], 8.0, fps=15, seed=2, size=size)
    both = make_clip(clips / "squares-and-discs.mp4", ["squares", "discs"], 6.0, fps=15, seed=3, size=size)

    from PySide6.QtCore import QSettings

    from cnnstudio.ui.app import create_application
    from cnnstudio.ui.main_window import MainWindow

    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, home)
    app = create_application(sys.argv[:1])
    width, height = (int(v) for v in args.size.split("x"))
    window = MainWindow()
    window.resize(width, height)
    window.show()
    window.show_page("camera")
    page = window.page("camera")
    folder = Path(home) / "my shapes"
    record = page.record
    record.set_folder(folder)
    record.add_class("squares")
    record.add_class("discs")
    record.interval = 0.1
    page.open_video(str(squares))
    _drive.pump(app, 0.3)
    record.start("squares")
    _drive.pump(app, 5.0)
    record.stop()
    page.open_video(str(discs))
    _drive.pump(app, 0.3)
    record.start("discs")
    _drive.pump(app, 2.5)
    path = out / "camera-record.png"
    window.grab().save(str(path))
    print(f"wrote {path}: {[(r.name, r.count) for r in record.status.classes]}")
    _drive.pump(app, 2.5)
    record.stop()
    _drive.wait_until(app, lambda: not record.saving, 60, "the last frames saved")

    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.training.config import Augmentation, TrainConfig
    from cnnstudio.core.training.trainer import Trainer

    data = load_dataset(str(folder), image_size=48)
    config = TrainConfig(dataset=str(folder), model="tiny-bn-cnn", epochs=6, batch_size=8, optimizer="adam",
                         lr=3e-3, device="cpu", precision="fp32", seed=0, augment=Augmentation())
    result = Trainer(config, dataset=data, run_dir=Path(home) / "run").run()
    print(f"trained: {result.status}, test accuracy {result.test_accuracy:.0%}")
    window.state.set_checkpoint(str(result.checkpoint))
    _drive.wait_until(app, lambda: window.state.model.context is not None, 120, "the model")
    page.tabs.setCurrentIndex(1)
    page.cam_box.setChecked(True)
    page.live_button.setChecked(True)
    page.open_video(str(both))
    _drive.pump(app, 7.0)  # into the discs half
    path = out / "camera-live.png"
    window.grab().save(str(path))
    print(f"wrote {path}: {page.stats.text()}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
