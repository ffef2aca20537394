"""`cnnstudio --self-test`: prove an installation works end to end, then exit 0 (non-zero on any failure).

Opens the main window, trains one short shapes epoch on a background thread, saves and reloads the
checkpoint, draws a figure and predicts it through the same path the Draw page uses, inspects it, and
exports the model (INT8 ONNX plus a predictor bundle), runs a two-trial sweep and the data doctor, and
checks the multimedia backend (the camera and video files) loads. Used by the packaging
checks on frozen bundles and installed .debs, where no Python or test suite is around.
"""

from __future__ import annotations

import sys
import tempfile
import time
import traceback
from pathlib import Path


def say(text: str) -> None:
    print(f"self-test: {text}", flush=True)


def draw_circle(size: int = 280):
    """A circle drawn as a dark stroke on white paper, the way a user draws one."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (size, size), 255)
    ImageDraw.Draw(img).ellipse((60, 50, 220, 210), outline=0, width=18)
    return img


def check_data_folder() -> None:
    """Datasets and runs go to the user's data folder, never into the installed program's folder."""
    from cnnstudio.core import paths

    data = paths.user_data_dir().resolve()
    program = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[1])).resolve()
    if data == program or program in data.parents:
        raise RuntimeError(f"the data folder {data} lies inside the program folder {program}")
    say(f"data folder: {data} (datasets download to {paths.datasets_dir()})")


def check_export(checkpoint: str, folder: Path) -> None:
    """INT8 ONNX export and a predictor bundle: the paths a frozen app is most likely to lack (modules
    imported by path, source files copied into the bundle, onnx/onnxruntime's compiled parts)."""
    from cnnstudio.core.export import export_model

    t0 = time.monotonic()
    result = export_model(checkpoint, "onnx", folder / "export" / "model.int8.onnx", int8=True,
                          bundle=folder / "predictor")
    if not result.ok:
        raise RuntimeError(f"export failed its check: {result.message}")
    if not result.bundle:
        raise RuntimeError("export wrote no predictor bundle")
    copied = sorted(p.relative_to(result.bundle).as_posix() for p in Path(result.bundle).rglob("*.py"))
    if "predict.py" not in copied or len(copied) < 3:
        raise RuntimeError(f"the predictor bundle lacks its scripts: {copied}")
    say(f"exported: {Path(result.path).name} ({result.bytes / 1e6:.1f} MB, INT8) and a predictor bundle of "
        f"{len(copied)} Python files in {time.monotonic() - t0:.1f} s")
    # The web page export copies data files a frozen app carries only through the spec's datas: the page
    # and onnxruntime-web's WebAssembly (checked against their pinned checksums).
    from cnnstudio.core.export.web import FILES, PAGE_FILES, check_runtime, runtime_manifest

    check_runtime()
    missing = [name for name in PAGE_FILES if not (FILES / name).is_file()]
    if missing:
        raise RuntimeError(f"the web page export lacks its files: {missing}")
    say(f"web page export: its page and onnxruntime-web {runtime_manifest().get('version')} are present")


def check_sweep(folder: Path) -> None:
    """A two-trial sweep: Optuna, its SQLite study and the alembic migrations it reads by path are the
    parts of a frozen app most likely to be missing (packaging/cnnstudio.spec)."""
    from cnnstudio.core.sweep.runner import SweepRunner
    from cnnstudio.core.sweep.study import make_spec

    spec = make_spec("shapes", ["lr=0.003,0.001"], "grid", epochs=1,
                     fixed={"limit_train": 200, "seed": 0})
    outcome = SweepRunner(folder / "sweep", spec, device="cpu").run()
    if not outcome.complete or outcome.best is None:
        raise RuntimeError(f"the sweep did not complete: {[(t.status, t.message) for t in outcome.trials]}")
    say(f"swept 2 learning rates: best {outcome.best.settings} (study in {Path(outcome.sweep_dir).name}/study.db)")


def check_doctor(checkpoint: str) -> None:
    """The data doctor on 600 shapes with the trained model's features (cleanlab, scikit-learn's linear
    head, scipy's DCT for the perceptual hash) and a t-SNE map of them (openTSNE): compiled libraries a
    frozen app is likely to lack, each imported lazily."""
    from dataclasses import replace

    import numpy as np
    from openTSNE import TSNE

    from cnnstudio.core.datasets import load_dataset
    from cnnstudio.core.doctor.diagnose import diagnose

    t0 = time.monotonic()
    full = load_dataset("shapes")
    data = replace(full, train_images=full.train_images[:500], train_labels=full.train_labels[:500],
                   test_images=full.test_images[:100], test_labels=full.test_labels[:100])
    # Ten labels swapped: the doctor must notice most of them.
    labels = data.train_labels.clone()
    labels[:10] = (labels[:10] + 1) % len(data.classes)
    data = replace(data, train_labels=labels)
    report = diagnose(data, checkpoint=checkpoint)
    found = sum(1 for issue in report.label_issues if issue.picture.split == "train" and issue.picture.index < 10)
    if found < 5:
        raise RuntimeError(f"the data doctor found {found} of 10 swapped labels: {report.summary()}")
    from cnnstudio.core.doctor.crossval import predict_with_features
    from cnnstudio.core.inference import Predictor

    _, features = predict_with_features(Predictor(checkpoint), data.train_images[:300], want_features=True)
    xy = np.asarray(TSNE(n_jobs=1, random_state=0, perplexity=20, n_iter=250).fit(features))
    if xy.shape != (300, 2) or not np.isfinite(xy).all():
        raise RuntimeError(f"the t-SNE map came back as {xy.shape}")
    say(f"data doctor: {found} of 10 swapped labels found ({report.summary()}); t-SNE map of 300 pictures; "
        f"{time.monotonic() - t0:.1f} s")


def check_multimedia() -> None:
    """QtMultimedia's backend (the FFmpeg plugin, from PySide6-Addons) loads and decodes video: the camera
    and video files need it, and a frozen app without its plugin folder says "No QtMultimedia backends
    found" only when the Camera page opens."""
    from cnnstudio.media.video import backend_formats, cameras

    formats = backend_formats()
    if "MPEG-4" not in formats:
        raise RuntimeError(f"the multimedia backend did not load (video formats it decodes: {formats or 'none'})")
    found = cameras()
    say(f"multimedia backend: decodes {', '.join(formats)}; {len(found)} camera(s) found")


def run_self_test(timeout_s: float = 300.0) -> int:
    started = time.monotonic()
    try:
        from PySide6.QtCore import QEventLoop, QTimer

        from cnnstudio.ui.app import create_application
        from cnnstudio.ui.main_window import MainWindow
        from cnnstudio.ui.tasks import run_in_background

        app = create_application(sys.argv[:1])
        window = MainWindow()
        window.show()
        app.processEvents()
        say(f"window shown: {window.windowTitle()!r}")
        check_multimedia()

        outcome: dict = {}
        loop = QEventLoop()
        with tempfile.TemporaryDirectory(prefix="cnnstudio-selftest-") as tmp:
            run_dir = Path(tmp) / "run"

            def train():
                from cnnstudio.core.datasets import load_dataset
                from cnnstudio.core.training.config import TrainConfig
                from cnnstudio.core.training.trainer import Trainer

                ds = load_dataset("shapes")
                cfg = TrainConfig(dataset="shapes", model="cnn3-dropout", epochs=1, batch_size=64, lr=2e-3,
                                  limit_train=4000, device="cpu", seed=0)
                return Trainer(cfg, dataset=ds, run_dir=run_dir).run()

            def done(result):
                outcome["result"] = result
                loop.quit()

            def failed(message, details):
                outcome["error"] = message + ("\n" + details if details else "")
                loop.quit()

            run_in_background(train, on_success=done, on_error=failed)
            QTimer.singleShot(int(timeout_s * 1000), loop.quit)
            loop.exec()
            if "error" in outcome:
                raise RuntimeError(f"training failed: {outcome['error']}")
            result = outcome.get("result")
            if result is None:
                raise RuntimeError(f"training did not finish within {timeout_s:.0f} s")
            if result.status != "finished":
                raise RuntimeError(f"training ended with status {result.status}: {result.message}")
            from cnnstudio.core.checkpoint import load_checkpoint
            from cnnstudio.core.inference import Predictor

            ckpt = load_checkpoint(result.checkpoint)
            chance = 1.0 / len(ckpt["classes"])
            if result.test_accuracy < 2 * chance:
                raise RuntimeError(f"training did not learn: test accuracy {result.test_accuracy:.1%}, "
                                   f"chance is {chance:.1%}")
            say(f"trained 1 short epoch (4,000 images) on shapes: test accuracy {result.test_accuracy:.1%} "
                f"(chance: {chance:.1%})")
            say(f"checkpoint saved and reloaded: {Path(result.checkpoint).name}, {len(ckpt['classes'])} classes")
            predictor = Predictor(ckpt)
            prepared, probs = predictor.predict_image(draw_circle())
            top = predictor.top_k(probs, 1)[0]
            if prepared.empty:
                raise RuntimeError("the drawn figure was taken for an empty canvas")
            say(f"drawn circle predicted as {top['label']!r} ({top['probability']:.0%})")

            import torch

            from cnnstudio.core.inspection import all_filters, inspect_image

            x = predictor.normalise(torch.from_numpy(prepared.pixels)[None])
            seen = inspect_image(predictor.model, x)
            grids = all_filters(predictor.model)
            if seen.cam is None or not seen.feature_maps or not grids:
                raise RuntimeError(f"inspection came back empty: {seen.cam_error}")
            say(f"inspected: {len(grids)} filter grids, {len(seen.feature_maps)} feature maps, Grad-CAM "
                f"{seen.cam.cam.shape[1]}x{seen.cam.cam.shape[0]}")
            check_export(result.checkpoint, Path(tmp))
            check_sweep(Path(tmp))
            check_doctor(result.checkpoint)
        check_data_folder()
        window.close()
        app.processEvents()
        say(f"passed in {time.monotonic() - started:.1f} s")
        return 0
    except Exception:  # noqa: BLE001 - the self-test's verdict: any failure is reported with its traceback
        say("FAILED")
        traceback.print_exc()
        return 1
