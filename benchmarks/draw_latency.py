"""Draw page latency: from the mouse event that changes the drawing to the prediction that reflects it.

For each tutorial preset (random weights: latency does not depend on what the model learned), the Draw
page is shown offscreen and ~100 strokes are drawn with synthetic mouse events paced like a real mouse
(one move every --interval ms, driven by the event loop so predictions run concurrently). Every
drawing-changing event (press, moves, release) is timestamped; a prediction is matched to the newest
event included in the canvas snapshot it was computed on, and each event's latency is the time until
the first prediction that includes it arrives (predictionUpdated). Two settings:

- direct: prediction_delay_ms = 0 and the canvas's 30 Hz report throttle off: what the machinery costs
  (snapshot, background task, core prepare_image + inference, publishing), without any debounce;
- debounced: the page's defaults (canvas reports at most every 16 ms, page timer as shipped (10 ms), stroke end at
  once): what a user sees while drawing.

Also reported: "end" = release -> final prediction, "compute" = prepare + inference inside the worker,
"gui" = GUI-thread time spent handling one mouse event (drawing the segment, snapshot, starting work).

    python benchmarks/draw_latency.py [--strokes 100] [--moves 15] [--interval 8] [--presets ...]

Prints a table and, last, one JSON line. Target: direct p50 < 20 ms.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["CNNSTUDIO_HOME"] = tempfile.mkdtemp(prefix="cnnstudio-bench-")

PRESETS = ["cnn3-dropout", "tiny-bn-cnn", "convnet-5x5", "bn-cnn4", "sigmoid-cnn"]


from _stats import percentile


def make_checkpoint(preset: str, folder: Path) -> str:
    """A shapes-like checkpoint (1x28x28, 8 classes, MNIST-style framing) with random weights."""
    import torch

    from cnnstudio.core.checkpoint import save_checkpoint
    from cnnstudio.core.datasets.shapes import CLASSES, framing_profile
    from cnnstudio.core.models.builder import build_model
    from cnnstudio.core.models.presets import get_preset

    spec = get_preset(preset)
    torch.manual_seed(0)
    model = build_model(spec, (1, 28, 28), len(CLASSES)).eval()
    return str(save_checkpoint({"model_spec": spec, "classes": list(CLASSES), "input_shape": [1, 28, 28],
                                "mean": [0.1], "std": [0.25], "framing": framing_profile().to_dict(),
                                "model_state": model.state_dict()}, folder / f"{preset}.pt"))


def stroke_points(rng, n_moves: int) -> list[tuple[float, float]]:
    """A random closed figure (circle or polygon) somewhere on the 560x560 drawing."""
    r = rng.uniform(50, 220)
    cx, cy = rng.uniform(r + 10, 550 - r), rng.uniform(r + 10, 550 - r)
    sides = int(rng.choice([0, 3, 4, 5]))
    pts = []
    for i in range(n_moves + 1):
        t = i / n_moves
        if sides == 0:
            a = 2 * math.pi * t
            pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
        else:
            k = t * sides
            j = min(int(k), sides - 1)
            f = k - j
            a0, a1 = 2 * math.pi * j / sides - math.pi / 2, 2 * math.pi * (j + 1) / sides - math.pi / 2
            x0, y0 = cx + r * math.cos(a0), cy + r * math.sin(a0)
            x1, y1 = cx + r * math.cos(a1), cy + r * math.sin(a1)
            pts.append((x0 + (x1 - x0) * f, y0 + (y1 - y0) * f))
    return pts


def run_setting(page, qtbot_wait, strokes: int, moves: int, interval_ms: int, seed: int, direct: bool) -> dict:
    import numpy as np
    from PySide6.QtCore import QEventLoop, QPoint, QPointF, Qt, QTimer
    from PySide6.QtTest import QTest

    canvas = page.canvas
    if direct:
        page.prediction_delay_ms = 0  # otherwise the page's own default
    if direct:
        canvas.emit_interval_ms = 0
    rng = np.random.default_rng(seed)

    state = {"version": 0}
    events: list[tuple[int, float]] = []  # (version, time) of every drawing-changing mouse event
    resolved = [0]  # events[:resolved] have their latency
    latencies: list[float] = []
    snapshots: deque[int] = deque()  # the version each prediction in flight was computed on
    computes: list[float] = []
    gui_costs: list[float] = []
    ends: list[float] = []
    release_version = {"v": None, "t": 0.0}

    original = canvas.to_numpy

    def to_numpy(*args, **kwargs):
        snapshots.append(state["version"])
        return original(*args, **kwargs)

    canvas.to_numpy = to_numpy  # instance attribute: the page's calls come through here

    def on_prediction(prediction: dict) -> None:
        now = time.perf_counter()
        if prediction["empty"] or not snapshots:
            return
        version = snapshots.popleft()
        computes.append(prediction["ms"])
        while resolved[0] < len(events) and events[resolved[0]][0] <= version:
            latencies.append((now - events[resolved[0]][1]) * 1000)
            resolved[0] += 1
        if release_version["v"] is not None and version >= release_version["v"]:
            ends.append((now - release_version["t"]) * 1000)
            release_version["v"] = None

    page.predictionUpdated.connect(on_prediction)

    def widget_point(x: float, y: float) -> QPoint:
        p = canvas.map_from_image(QPointF(x, y))
        return QPoint(round(p.x()), round(p.y()))

    def send(kind: str, pt: QPoint) -> None:
        state["version"] += 1
        t = time.perf_counter()
        events.append((state["version"], t))
        if kind == "press":
            QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pt)
        elif kind == "move":
            QTest.mouseMove(canvas, pt)
        else:
            release_version.update(v=state["version"], t=t)
            QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pt)
        gui_costs.append((time.perf_counter() - t) * 1000)

    for s in range(strokes):
        if s % 4 == 0:
            qtbot_wait(lambda: not page.busy())
            page.clear()
        canvas.set_brush_size(float(rng.uniform(12, 36)))
        pts = [widget_point(x, y) for x, y in stroke_points(rng, moves)]
        script = [("press", pts[0])] + [("move", p) for p in pts[1:]] + [("release", pts[-1])]
        loop = QEventLoop()
        step = {"i": 0}

        def next_event() -> None:
            kind, pt = script[step["i"]]
            send(kind, pt)
            step["i"] += 1
            if step["i"] < len(script):
                QTimer.singleShot(interval_ms, next_event)
            else:
                loop.quit()

        QTimer.singleShot(interval_ms, next_event)
        loop.exec()
        qtbot_wait(lambda: not page.busy() and release_version["v"] is None)

    page.predictionUpdated.disconnect(on_prediction)
    del canvas.to_numpy
    return {
        "events": len(events), "predictions": len(computes),
        "latency_p50_ms": percentile(latencies, 0.5), "latency_p90_ms": percentile(latencies, 0.9),
        "end_p50_ms": percentile(ends, 0.5), "end_p90_ms": percentile(ends, 0.9),
        "compute_p50_ms": percentile(computes, 0.5), "compute_p90_ms": percentile(computes, 0.9),
        "gui_p50_ms": percentile(gui_costs, 0.5), "gui_p90_ms": percentile(gui_costs, 0.9),
        "gui_max_ms": max(gui_costs) if gui_costs else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strokes", type=int, default=100)
    parser.add_argument("--moves", type=int, default=15, help="mouse moves per stroke")
    parser.add_argument("--interval", type=int, default=8, help="ms between mouse events (125 Hz mouse)")
    parser.add_argument("--presets", nargs="*", default=PRESETS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from cnnstudio.ui.app import create_application

    app = create_application(["draw-latency"])
    from PySide6.QtCore import QEventLoop, QTimer

    from cnnstudio.ui.pages.draw_page import DrawPage
    from cnnstudio.ui.compose import app_state
    from cnnstudio.ui.tasks import wait_for_all

    def wait(condition, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the page did not settle")
            loop = QEventLoop()
            QTimer.singleShot(1, loop.quit)
            loop.exec()

    folder = Path(tempfile.mkdtemp(prefix="draw-latency-"))
    results = []
    print(f"Draw page latency, {args.strokes} strokes x {args.moves} moves every {args.interval} ms, "
          f"{platform.processor() or platform.machine()}, load average {os.getloadavg()[0]:.1f}")
    header = (f"{'preset':<14}{'setting':<11}{'p50':>7}{'p90':>7}{'end p50':>9}{'end p90':>9}"
              f"{'compute':>9}{'gui p50':>9}{'gui max':>9}{'preds':>7}")
    print(header)
    print("-" * len(header))
    for preset in args.presets:
        page = DrawPage(app_state())
        page.resize(1100, 720)
        page.show()
        loaded = []
        page.modelLoaded.connect(loaded.append)
        page.set_checkpoint(make_checkpoint(preset, folder))
        wait(lambda: bool(loaded))
        for direct in (True, False):
            r = run_setting(page, wait, args.strokes, args.moves, args.interval, args.seed, direct)
            r.update(preset=preset, setting="direct" if direct else "debounced")
            results.append(r)
            print(f"{preset:<14}{r['setting']:<11}{r['latency_p50_ms']:>7.1f}{r['latency_p90_ms']:>7.1f}"
                  f"{r['end_p50_ms']:>9.1f}{r['end_p90_ms']:>9.1f}{r['compute_p50_ms']:>9.1f}"
                  f"{r['gui_p50_ms']:>9.2f}{r['gui_max_ms']:>9.1f}{r['predictions']:>7}")
        page.shutdown()
        wait_for_all()
        page.close()
        page.deleteLater()
        del page
    print("(ms; p50/p90: mouse event -> prediction including it; end: release -> final prediction; "
          "compute: prepare + inference in the worker; gui: GUI-thread time per mouse event)")
    direct = [r["latency_p50_ms"] for r in results if r["setting"] == "direct"]
    summary = {"benchmark": "draw_latency", "strokes": args.strokes, "moves": args.moves,
               "interval_ms": args.interval, "load_average": os.getloadavg()[0],
               "target_direct_p50_ms": 20, "meets_target": all(v < 20 for v in direct), "results": results}
    print(json.dumps(summary))
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
