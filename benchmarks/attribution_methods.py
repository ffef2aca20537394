"""Attribution methods: what each costs per picture, and whether Inspect answers while a slow one runs.

Part 1, timings: every method of core/inspection/methods.py (explain()) plus its deletion/insertion curves
(faithfulness()), on two presets with random weights (fast-cnn on 1x28x28, resnet20 on 3x32x32) and a
torchvision backbone with random weights (ResNet-18 at its 224 resolution, fed 3x96x96 pictures; no download),
median of --runs runs (the backbone: --backbone-runs) after one warm-up, with torch on --threads threads (2: the
cores of the machine).

Also, for each method, how many pictures it puts through the model and how many of them with a backward pass:
its cost in model passes, which the load of the machine does not change.

Part 2, responsiveness: the Inspect page's own path (ExplainSession on the shared task pool, one torch thread)
runs the slowest method on the backbone while a 10 ms QTimer ticks on the GUI thread; the timer's largest and
90th-percentile gap are printed next to the same figures with nothing running. The GUI is responsive when the
gaps stay near 10 ms (a frame is 16 ms).

    python benchmarks/attribution_methods.py [--runs 3] [--backbone-runs 1] [--threads 2] [--models 0,1,2] [--skip-gui]

Prints a table per model, the responsiveness lines, and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnnstudio.core.inspection.faithfulness import faithfulness
from cnnstudio.core.inspection.methods import METHODS, TITLES, explain
from cnnstudio.core.models.builder import build_model
from cnnstudio.core.models.presets import get_preset

BACKBONE = {"name": "resnet18-random", "layers": [
    {"type": "backbone", "arch": "resnet18", "weights": "none", "train": "all", "resolution": 224},
    {"type": "linear", "out": "classes"}]}
MODELS = (("fast-cnn", get_preset("fast-cnn"), (1, 28, 28)), ("resnet20", get_preset("resnet20"), (3, 32, 32)),
          ("ResNet-18 backbone (224)", BACKBONE, (3, 96, 96)))


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


@contextmanager
def counted(model: torch.nn.Module) -> Iterator[list[int]]:
    """[pictures put through the model, of which with autograd recording (a backward follows)]: the cost
    in model passes, which the machine's load does not change."""
    passes = [0, 0]

    def hook(_module: torch.nn.Module, args: tuple) -> None:
        passes[0] += int(args[0].shape[0])
        passes[1] += int(args[0].shape[0]) if torch.is_grad_enabled() else 0

    handle = model.register_forward_pre_hook(hook)
    try:
        yield passes
    finally:
        handle.remove()


def time_methods(runs: int, which: list[int], backbone_runs: int) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for i, (name, spec, shape) in enumerate(MODELS):
        if i not in which:
            continue
        n = backbone_runs if spec is BACKBONE else runs
        torch.manual_seed(0)
        model = build_model(spec, shape, 10).eval()
        x = torch.rand((1, *shape)) * 2 - 1
        rows = {}
        print(f"\n{name}, input {'x'.join(map(str, shape))}")
        print(f"  {'method':<22}{'explain ms':>12}{'curves ms':>11}{'vs Grad-CAM':>13}{'pictures':>10}"
              f"{'with grad':>11}")
        for method in ("gradcam", *[m for m in METHODS if m != "gradcam"]):  # Grad-CAM first: the others' ratio
            with counted(model) as passes:
                explain(model, x, method)  # warm-up; what it puts through the model
            times, curves = [], []
            for _ in range(n):
                start = time.perf_counter()
                a = explain(model, x, method)
                times.append(time.perf_counter() - start)
                start = time.perf_counter()
                faithfulness(model, x, a.heatmap, a.class_index)
                curves.append(time.perf_counter() - start)
            r = rows[method] = {"explain_ms": 1000 * float(np.median(times)),
                                "curves_ms": 1000 * float(np.median(curves)), "pictures": passes[0],
                                "with_grad": passes[1]}
            print(f"  {TITLES[method]:<22}{r['explain_ms']:>12.1f}{r['curves_ms']:>11.1f}"
                  f"{r['explain_ms'] / rows['gradcam']['explain_ms']:>12.1f}x{passes[0]:>10}{passes[1]:>11}",
                  flush=True)
        out[name] = rows
    return out


def gaps_while(app, busy, seconds_max: float) -> list[float]:
    """The GUI thread's timer gaps (ms) while busy() is true (or for seconds_max when it is a float)."""
    from PySide6.QtCore import QTimer

    stamps: list[float] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: stamps.append(time.perf_counter()))
    timer.start()
    end = time.perf_counter() + seconds_max
    while busy() and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    return list(np.diff(stamps) * 1000)


def responsiveness() -> dict[str, float]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from types import SimpleNamespace

    from PySide6.QtWidgets import QApplication

    from cnnstudio.core.inspection.methods import black_baseline  # noqa: F401 - the session's import, warmed
    from cnnstudio.ui import tasks
    from cnnstudio.ui.sessions.explain_session import ExplainSession
    from cnnstudio.ui.values import ExplainRequest

    app = QApplication.instance() or QApplication(sys.argv[:1])
    torch.manual_seed(0)
    shape = (3, 96, 96)
    model = build_model(BACKBONE, shape, 10).eval()
    predictor = SimpleNamespace(model=model, input_shape=shape, normalise=lambda u8: u8.float() / 127.5 - 1)
    session = ExplainSession()
    session.context = SimpleNamespace(predictor=predictor, classes=[str(i) for i in range(10)])
    pixels = (np.random.default_rng(0).random(shape) * 255).astype(np.uint8)
    idle = gaps_while(app, lambda: True, 3.0)
    done: list[object] = []
    session.compared.connect(lambda c: done.append(c) if c.done else None)
    session.failed.connect(lambda message: (print(f"failed: {message}"), done.append(None)))
    start = time.perf_counter()
    session.compare(ExplainRequest(pixels, None, None, ("scorecam", "occlusion"), "noise"))
    busy = gaps_while(app, lambda: not done, 600)
    seconds = time.perf_counter() - start
    tasks.shutdown()
    result = {"idle_max_ms": max(idle), "idle_p90_ms": float(np.percentile(idle, 90)),
              "busy_max_ms": max(busy), "busy_p90_ms": float(np.percentile(busy, 90)), "busy_seconds": seconds,
              "ticks": len(busy)}
    print(f"\nGUI timer (10 ms) idle: p90 {result['idle_p90_ms']:.1f} ms, max {result['idle_max_ms']:.1f} ms")
    print(f"GUI timer while Score-CAM + occlusion ran on the ResNet-18 backbone ({seconds:.1f} s, "
          f"{len(busy)} ticks): p90 {result['busy_p90_ms']:.1f} ms, max {result['busy_max_ms']:.1f} ms")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backbone-runs", type=int, default=1)
    parser.add_argument("--models", default="0,1,2", help="which of: 0 fast-cnn, 1 resnet20, 2 the backbone")
    parser.add_argument("--skip-gui", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    print(f"CPU: {cpu()}, torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load:.1f}")
    timings = time_methods(args.runs, [int(v) for v in args.models.split(",") if v], args.backbone_runs)
    gui = None if args.skip_gui else responsiveness()
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print(json.dumps({"cpu": cpu(), "threads": args.threads, "load_before": load, "load_after": os.getloadavg()[0],
                      "timings": timings, "gui": gui}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
