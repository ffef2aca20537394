"""docs/images/embedding-map.png: the Evaluate page's Map tab with a real map, in the app's window, offscreen.

Fashion-MNIST (offline, Debian's dataset-fashion-mnist) and a checkpoint trained on it (--checkpoint; see
benchmarks/embedding_map.py, which trains one): the map of its 10,000 test pictures coloured by label, the
mouse over a point (its picture and label beside the map), and a test picture handed to the map as the
Draw page's drawing (the star).

    QT_QPA_PLATFORM=offscreen python scripts/embedding_map_shot.py --checkpoint best.pt [--mode label]
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
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "embedding-map.png"))
    parser.add_argument("--size", default="1280x820")
    parser.add_argument("--mode", default="label", choices=["label", "prediction", "correct"])
    parser.add_argument("--home", help="CNNSTUDIO_HOME (its map cache is reused; default: a fresh folder)")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = args.home or tempfile.mkdtemp(prefix="cnnstudio-map-shot-")
    if not args.home:
        atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ["CNNSTUDIO_HOME"] = home

    from PySide6.QtCore import QPointF, QSettings, QTimer

    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.ui.app import create_application
    from cnnstudio.ui.main_window import MainWindow

    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, home)
    app = create_application(sys.argv[:1])
    window = MainWindow()
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.show()
    state = window.state
    _drive.wait_until(app, lambda: state.dataset is not None, 120, "the first dataset")
    data = load_dataset("fashion-mnist")
    state.set_dataset(data, "fashion-mnist")
    state.set_checkpoint(str(Path(args.checkpoint).resolve()))
    evaluate = window.page("evaluate")
    window.show_page("evaluate")
    _drive.wait_until(app, lambda: evaluate.evaluation is not None, 300, "the evaluation")
    evaluate.tabs.setCurrentIndex(1)
    session, view = evaluate.session.map, evaluate.map_view
    _drive.wait_until(app, lambda: session.shown is not None, 600, "the map")
    view.set_color_mode(args.mode)
    emap = session.shown.emap
    # The drawing: a test picture handed over as the Draw page would hand its prepared pixels.
    session.on_drawing(data.test_images[int(emap.indices[123])].numpy())
    _drive.wait_until(app, lambda: len(view.live.data) == 1, 60, "the live point")
    _drive.pump(app, 0.5)
    vb = view.plot.getViewBox()
    row = 4321
    view.on_mouse_moved(vb.mapViewToScene(QPointF(float(emap.xy[row, 0]), float(emap.xy[row, 1]))))
    _drive.pump(app, 0.5)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out))
    print(f"wrote {out} ({emap.sample}; {'from the cache' if emap.from_cache else f'{emap.timings.total:.0f} s'})")
    window.close()
    QTimer.singleShot(0, app.quit)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
