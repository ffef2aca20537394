"""Pictures of the web page export and of the Export dialog's deployment report, into docs/images/.

Trains fast-cnn on shapes and gap-cnn on a folder of photo-like pictures (written here), exports each
as a web page, opens it in headless Chromium served from 127.0.0.1 and takes a screenshot of a drawing
(shapes) and of an opened picture (photos); then exports the shapes model from the app's Export dialog,
offscreen, and grabs the dialog with its report.

    python scripts/web_screenshots.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def train(dataset, folder: Path, model: str, name: str, epochs: int, limit: int | None = None) -> str:
    from dataclasses import replace

    from cnnstudio.core.training.recommend import default_config
    from cnnstudio.core.training.trainer import Trainer

    cfg = replace(default_config(name, model, data=dataset if name != "shapes" else None), epochs=epochs, seed=0,
                  device="cpu")
    if limit:
        cfg = replace(cfg, limit_train=limit)
    result = Trainer(cfg, dataset=dataset, run_dir=folder).run()
    assert result.status == "finished", result
    return result.checkpoint


def photo_folder(root: Path, per_class: int = 60) -> None:
    """Photo-like pictures: a coloured figure (sun, leaf, wave) on a sky, grass or sea gradient."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(("sunset", "forest", "sea")):
        (root / name).mkdir(parents=True)
        for i in range(per_class + 1):
            w, h = (int(v) for v in rng.integers(120, 220, 2))
            sky = np.array([(250, 150, 60), (60, 140, 60), (40, 90, 190)][k], float)
            ramp = np.linspace(0.55, 1.1, h)[:, None, None]
            pixels = ramp * sky + rng.normal(0, 14, (h, w, 3))
            y, x = rng.integers(h // 5, 3 * h // 5), rng.integers(w // 5, 3 * w // 5)
            r = int(rng.integers(min(w, h) // 8, min(w, h) // 4))
            yy, xx = np.ogrid[:h, :w]
            mask = (yy - y) ** 2 + (xx - x) ** 2 < r * r
            pixels[mask] = [(255, 230, 90), (30, 90, 20), (230, 240, 250)][k]
            image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
            image.save(root.parent / f"{name}-photo.png" if i == per_class else root / name / f"{i}.png")


def star(cx: float, cy: float, r: float) -> list[list[float]]:
    points = []
    for i in range(11):
        a = -math.pi / 2 + i * math.pi / 5
        radius = r if i % 2 == 0 else r * 0.42
        points.append([cx + radius * math.cos(a), cy + radius * math.sin(a)])
    return points


def shoot(site: Path, out: Path, script: str) -> None:
    from headless_chromium import Browser, serve

    with serve(site) as (url, _), Browser(width=1100, height=560) as browser:
        page = browser.open(url)
        page.evaluate("new Promise(r => { const t = () => window.cnnstudioDraw ? r() : setTimeout(t, 100); t(); })",
                      timeout=120)
        page.evaluate(script, timeout=60)
        page.evaluate("new Promise(r => setTimeout(r, 500))")
        page.screenshot(out)
        print(out, [u for u in page.requests if not u.startswith(url)] or "no request elsewhere")


def dialog_shot(checkpoint: str, out: Path, tmp: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer

    from cnnstudio.core.checkpoint import CheckpointSummary, load_checkpoint
    from cnnstudio.ui.app import create_application
    from cnnstudio.ui.compose import app_state
    from cnnstudio.ui.sessions.export_session import ExportSession
    from cnnstudio.ui.widgets.model_export_dialog import ModelExportDialog

    app = create_application(sys.argv[:1])
    state = app_state()
    dialog = ModelExportDialog(ExportSession(state), checkpoint,
                               ModelExportDialog.describe(CheckpointSummary.of(load_checkpoint(checkpoint))))
    dialog.resize(760, 0)
    dialog.show()
    dialog.web_radio.setChecked(True)
    dialog.out_edit.setText(str(tmp / "shapes-web"))
    loop = QEventLoop()
    dialog.session.finished.connect(lambda _r: QTimer.singleShot(300, loop.quit))
    dialog.session.failed.connect(lambda _m: loop.quit())
    dialog.start()
    loop.exec()
    app.processEvents()
    dialog.grab().save(str(out))
    print(out, dialog.export_result.ok if dialog.export_result else "failed")
    dialog.accept()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--only", choices=["drawing", "photo", "dialog"], help="take this picture only")
    args = parser.parse_args()
    out = Path(args.out)
    home = tempfile.mkdtemp(prefix="cnnstudio-webshots-")
    os.environ["CNNSTUDIO_HOME"] = home
    try:
        from cnnstudio.core.datasets import load_dataset
        from cnnstudio.core.export import export_model

        tmp = Path(home)
        if args.only in (None, "drawing", "dialog"):
            shapes = train(load_dataset("shapes"), tmp / "shapes-run", "fast-cnn", "shapes", epochs=2, limit=6000)
        if args.only in (None, "drawing"):
            export_model(shapes, "web", tmp / "shapes-site")
            shoot(tmp / "shapes-site", out / "web-page-drawing.png",
                  f"window.cnnstudioDraw([{json.dumps(star(280, 290, 170))}])")
        if args.only in (None, "photo"):
            folder = tmp / "photos" / "landscapes"
            photo_folder(folder)
            checkpoint = train(load_dataset(folder), tmp / "photo-run", "gap-cnn", str(folder), epochs=6)
            export_model(checkpoint, "web", tmp / "photo-site")
            shutil.copyfile(folder.parent / "forest-photo.png", tmp / "photo-site" / "forest-photo.png")
            shoot(tmp / "photo-site", out / "web-page-photo.png", "window.cnnstudioOpen('forest-photo.png')")
        if args.only in (None, "dialog"):
            dialog_shot(shapes, out / "export-dialog-report.png", tmp)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
