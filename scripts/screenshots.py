"""Render every page of the app, in a realistic state, to docs/images/*.png.

Runs the real app offscreen (or on whatever QT_QPA_PLATFORM says) in a fresh data folder: loads the
shapes dataset, trains cnn3-dropout (pictures taken during and after), trains a second model so the Runs
page can overlay two runs, queues ten more to compare a dozen, then shows Evaluate, Inspect (feature maps
and the second convolution's top patches) and Draw with the first model.

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--out docs/images] [--epochs 4]
"""

from __future__ import annotations

import argparse
import atexit
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import _drive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "images"))
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--size", default="1280x820")
    parser.add_argument("--only-sweep", action="store_true", help="only the sweep's pictures (Train, Runs)")
    parser.add_argument("--sweep-data", default="shapes", choices=["shapes", "fashion-mnist"],
                        help="the sweep's data: shapes (fast), or Fashion-MNIST with fast-cnn over the grid of "
                        "benchmarks/sweep_halving.py, 2 epochs (minutes)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = tempfile.mkdtemp(prefix="cnnstudio-shots-")
    os.environ["CNNSTUDIO_HOME"] = home
    # The runs trained for the pictures (~50 MB of checkpoints) go when the script ends, however it ends.
    atexit.register(shutil.rmtree, home, ignore_errors=True)

    from PySide6.QtCore import QSettings, QTimer

    from cnnstudio.ui.app import create_application
    from cnnstudio.ui.main_window import MainWindow

    # Settings of their own: the default window geometry and no remembered session, and the developer's
    # own settings are left alone.
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, home)
    app = create_application(sys.argv[:1])
    width, height = (int(v) for v in args.size.split("x"))
    window = MainWindow()
    window.setProperty("shots_out", str(out))
    window.resize(width, height)
    window.show()

    def pump(seconds: float) -> None:
        _drive.pump(app, seconds)

    def wait_until(condition, timeout: float, what: str) -> None:
        _drive.wait_until(app, condition, timeout, f"screenshots: {what}")

    def shot(name: str, page: str | None = None) -> None:
        if page:
            window.show_page(page)
        pump(0.4)
        path = out / f"{name}.png"
        window.grab().save(str(path))
        print(f"wrote {path}")

    state = window.state
    wait_until(lambda: state.dataset is not None, 120, "the shapes dataset")
    wait_until(lambda: getattr(window, "devices", None) is not None, 60, "the device probe")
    if args.only_sweep:
        sweep_shots(window, shot, pump, wait_until, args.epochs, args.sweep_data)
        window.close()
        QTimer.singleShot(0, app.quit)
        app.exec()
        return 0
    shot("data", "data")
    shot("model", "model")
    # A pretrained backbone on the Model page: its stages, and its weights not yet on this computer.
    model_page = window.page("model")
    recommended = model_page.recommended_preset()
    stages: list = []
    model_page.backbone_panel.session.weightsChanged.connect(lambda *a: stages.append(a))
    model_page.select_preset("mobilenet-v3-small-imagenet")
    wait_until(lambda: stages, 120, "the backbone's stages")
    shot("model-backbone", "model")
    # The Train page with it: the three ways to train a backbone (here: fine-tune the last stage).
    train_form = window.page("train").form
    train_form.backbone_combo.setCurrentIndex(train_form.backbone_combo.findData("last"))
    shot("train-backbone", "train")
    model_page.select_preset(recommended)

    train = window.page("train")
    finished: list = []
    epochs_seen: list = []
    train.runFinished.connect(finished.append)
    train.epochFinished.connect(epochs_seen.append)
    window.show_page("train")
    train.start_training({"epochs": args.epochs, "seed": 0})
    wait_until(lambda: len(epochs_seen) >= max(1, args.epochs // 2), 600, "half the training")
    pump(1.0)
    shot("train-running", "train")
    wait_until(lambda: finished, 600, "the end of the training")
    pump(0.5)
    shot("train", "train")
    first_result = finished[-1]

    # A second run, so the Runs page has two to compare.
    model_page.select_preset("bn-cnn4")
    finished.clear()
    train.start_training({"epochs": args.epochs, "seed": 0})
    wait_until(lambda: finished, 600, "the second training")
    runs = window.page("runs")
    window.show_page("runs")
    runs.refresh()
    runs.select_paths([first_result.run_dir, finished[-1].run_dir])
    shot("runs", "runs")
    two = [first_result.run_dir, finished[-1].run_dir]

    # Ten more runs through the training queue (models, learning rates and batch sizes varied), so the
    # comparison shows what a dozen runs look like; the Runs page shows the queue while it works.
    finished.clear()
    variants = [("tiny-bn-cnn", 3e-3, 64), ("convnet-5x5", 1e-3, 128), ("lenet5", 2e-3, 64), ("bn-cnn4", 3e-4, 128),
                ("cnn3-dropout", 3e-3, 256), ("tiny-bn-cnn", 1e-3, 32), ("convnet-5x5", 3e-3, 64),
                ("lenet5", 5e-4, 128), ("bn-cnn4", 1e-3, 64), ("sigmoid-cnn", 3e-3, 64)]
    for i, (preset, lr, batch) in enumerate(variants):
        model_page.select_preset(preset)
        train.queue_current({"epochs": args.epochs, "seed": i + 1, "lr": lr, "batch_size": batch,
                             "limit_train": 3000})
    window.show_page("train")
    train.start_queue()
    wait_until(lambda: len(finished) >= 2, 900, "two queued runs")
    pump(1.0)
    shot("runs-queue", "runs")
    wait_until(lambda: len(finished) >= len(variants), 1800, "the queued runs")
    runs.refresh()
    runs.select_paths(two + [r.run_dir for r in finished])
    charts = runs.charts
    pump(0.5)
    charts.hover[charts.acc_plot].show_at(max(1, args.epochs - 1) + 0.1, 50.0)  # a reading, as a mouse would show
    shot("runs-compare", "runs")
    charts.hover[charts.acc_plot].hide()

    sweep_shots(window, shot, pump, wait_until, args.epochs, args.sweep_data)

    # The judging and looking-inside views use the first (cnn3-dropout) model.
    state.set_checkpoint(first_result.checkpoint)
    evaluate = window.page("evaluate")
    if hasattr(evaluate, "evaluationReady"):
        ready: list = []
        evaluate.evaluationReady.connect(ready.append)
        window.show_page("evaluate")
        # Only the signal counts: `evaluation` may still hold the previous checkpoint's result while this
        # one runs (a stale run's result is dropped by the page, so it never emits for it).
        wait_until(lambda: ready, 120, "the evaluation")
        ev = evaluate.evaluation
        cm = ev.confusion_matrix().copy()
        for i in range(len(cm)):
            cm[i, i] = -1
        t, p = divmod(int(cm.argmax()), cm.shape[1])
        evaluate.select_cell(t, p)
        pump(1.0)
        shot("evaluate", "evaluate")
        dialog_shots(evaluate, Path(home), out, pump, wait_until)

    inspect = window.page("inspect")
    if hasattr(inspect, "inspectionReady"):
        done: list = []
        inspect.inspectionReady.connect(done.append)
        window.show_page("inspect")
        inspect.show_test_sample(3)
        wait_until(lambda: done, 120, "the inspection")
        pump(1.0)
        shot("inspect", "inspect")
        # The Filters tab on the second convolution: each channel's top test-image patches.
        filters: list = []
        inspect.filtersReady.connect(filters.append)
        inspect.tabs.setCurrentWidget(inspect.filters)
        inspect.select_layer(inspect.conv_layer_keys()[1])
        wait_until(lambda: filters and getattr(filters[-1], "per_channel", None), 300, "the top patches")
        pump(0.8)
        shot("inspect-filters", "inspect")
        inspect.tabs.setCurrentIndex(0)

    draw = window.page("draw")
    if hasattr(draw, "canvas"):
        predicted: list = []
        draw.predictionUpdated.connect(predicted.append)
        window.show_page("draw")
        pump(0.5)
        draw_star(draw.canvas, app)
        wait_until(lambda: predicted and not predicted[-1].empty, 60, "a prediction")
        pump(0.8)
        shot("draw", "draw")

    window.close()
    QTimer.singleShot(0, app.quit)
    app.exec()
    return 0


def sweep_shots(window, shot, pump, wait_until, epochs: int, data: str = "shapes") -> None:
    """A sweep from the Train page (learning rate x batch size, halving): on 3,000 shapes pictures, or the
    sweep of benchmarks/sweep_halving.py (Fashion-MNIST, fast-cnn, 2 epochs); the dialog, the Train page
    while a trial trains, then the trials on the Runs page by their settings."""
    train, runs, state = window.page("train"), window.page("runs"), window.state
    if data != "shapes":
        window.page("data").load(data)
        wait_until(lambda: state.dataset_name == data and state.dataset is not None, 300, f"the {data} dataset")
        pump(1.0)
    window.page("model").select_preset("tiny-bn-cnn" if data == "shapes" else "fast-cnn")
    window.show_page("train")
    train.form.epochs_spin.setValue(epochs if data == "shapes" else 2)
    train.form.limit_spin.setValue(3000 if data == "shapes" else 0)
    dialog = train.open_sweep_dialog()
    dialog.ticks["lr"].setChecked(True)
    dialog.values["lr"].setText("0.0003,0.001,0.003,0.01,0.03" if data == "shapes" else "0.02,0.05,0.1,0.2,0.5")
    dialog.ticks["batch_size"].setChecked(True)
    dialog.values["batch_size"].setText("32,128" if data == "shapes" else "128,256")
    dialog.strategy.setCurrentIndex(dialog.strategy.findData("halving"))
    wait_until(lambda: dialog.session.estimate is not None, 300, "the sweep's estimate")
    pump(0.3)
    dialog.grab().save(str(Path(window.property("shots_out") or ".") / "sweep-dialog.png"))
    ended: list = []
    started: list = []
    train.session.ended.connect(lambda *a: ended.append(a))
    train.session.started.connect(started.append)
    dialog.start.click()
    wait_until(lambda: len(started) >= 3, 900, "the sweep's third trial")
    pump(2.0)
    shot("train-sweep", "train")
    wait_until(lambda: ended, 3600, "the end of the sweep")
    sweep_dir = ended[-1][0].run_dir
    runs.refresh()
    pump(1.0)
    wait_until(lambda: any(r.sweep for r in runs.runs), 60, "the trials on the Runs page")
    runs.select_paths([r.path for r in runs.runs if r.path.startswith(sweep_dir)])
    pump(1.0)
    runs.views.setCurrentWidget(runs.settings_view)
    shot("runs-by-settings", "runs")
    runs.views.setCurrentIndex(0)


def dialog_shots(evaluate, home: Path, out: Path, pump, wait_until) -> None:
    """"Export model…" after an INT8 export with a predictor folder, and "Classify a folder…" after
    classifying a folder of the test pictures sorted into class subfolders (least sure first)."""
    import numpy as np
    from PIL import Image

    dialog = evaluate.export_model_dialog()
    dialog.int8_check.setChecked(True)
    dialog.bundle_check.setChecked(True)
    dialog.out_edit.setText(str(home / "exports" / "shapes.int8.onnx"))
    exported: list = []
    dialog.session.finished.connect(exported.append)
    dialog.start()
    wait_until(lambda: exported, 300, "the export")
    pump(0.5)
    dialog.grab().save(str(out / "export-dialog.png"))
    print(f"wrote {out / 'export-dialog.png'}")
    dialog.accept()

    ds = evaluate.context.dataset
    folder = home / "my-shapes"
    images, labels = ds.test_images.numpy(), ds.test_labels.numpy()
    for k, name in enumerate(ds.classes):
        (folder / name).mkdir(parents=True)
        for j, i in enumerate(np.flatnonzero(labels == k)[:15]):
            Image.fromarray(images[i, 0]).save(folder / name / f"{name}-{j}.png")
    (folder / "notes.png").write_text("not a picture")
    classify = evaluate.classify_folder_dialog()
    classified: list = []
    classify.session.finished.connect(classified.append)
    classify.start(str(folder))
    wait_until(lambda: classified, 300, "the folder's classification")
    from PySide6.QtCore import Qt

    classify.table.sortByColumn(3, Qt.SortOrder.AscendingOrder)
    pump(0.5)
    classify.grab().save(str(out / "classify-dialog.png"))
    print(f"wrote {out / 'classify-dialog.png'}")
    classify.reject()


def draw_star(canvas, app) -> None:
    """Draw a five-pointed star as one stroke with synthetic mouse events, like a user would."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    w, h = canvas.width(), canvas.height()
    cx, cy, r = w / 2, h / 2, min(w, h) * 0.33
    points = []
    for i in range(11):
        angle = -math.pi / 2 + i * 4 * math.pi / 5
        points.append(QPointF(cx + r * math.cos(angle), cy + r * math.sin(angle)))
    dense = []
    for a, b in zip(points, points[1:]):
        for k in range(8):
            t = k / 8
            dense.append(QPointF(a.x() + (b.x() - a.x()) * t, a.y() + (b.y() - a.y()) * t))
    dense.append(points[-1])

    def send(kind, pos, buttons):
        event = QMouseEvent(kind, pos, canvas.mapToGlobal(pos), Qt.MouseButton.LeftButton, buttons,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(canvas, event)
        app.processEvents()

    send(QMouseEvent.Type.MouseButtonPress, dense[0], Qt.MouseButton.LeftButton)
    for p in dense[1:]:
        send(QMouseEvent.Type.MouseMove, p, Qt.MouseButton.LeftButton)
    send(QMouseEvent.Type.MouseButtonRelease, dense[-1], Qt.MouseButton.NoButton)


if __name__ == "__main__":
    sys.exit(main())
