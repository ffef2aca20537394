"""Inspection speed: what the Inspect view costs per image, for every preset, on the CPU.

For each preset and input shape, times (over --runs runs, after warm-up) the median and 90th
percentile of:
  filters   filters() for every conv layer, cache cleared first (what a newly loaded model costs)
  filt-hit  the same with the cache warm (what every later image costs)
  fmaps     feature_maps(): all layers' outputs, one hooked forward pass
  cam       grad_cam() at the default layer for the predicted class
  inspect   inspect_image(): probabilities + all feature maps + Grad-CAM, one forward + one backward
  display   turning an inspection into pixels: every feature-map mosaic, every filter mosaic, the overlay
and "total" = filters + fmaps + cam medians (the brief's target: < 50 ms for the tutorial presets on
1x28x28). Tutorial presets are marked *. Inputs are 1x28x28 for every preset, plus 3x32x32 for the
ResNets and VGG. torch's thread count is left as it is. Prints a table and one JSON line.

    python benchmarks/inspection_speed.py [--runs 50] [--presets cnn3-dropout,resnet20] [--threads N] [--markdown]

Timings of a few milliseconds are sensitive to other processes: with more runnable threads than
cores, torch's OpenMP workers wait on each other and a 2 ms forward can take 50 ms. The load average
is printed before and after so such a run can be recognised.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cnnstudio.core import inspection as I
from cnnstudio.core.models.builder import build_model
from cnnstudio.core.models.presets import get_preset, preset_names
from cnnstudio.core.training.device import cpu_name

TUTORIAL = ("cnn3-dropout", "tiny-bn-cnn", "convnet-5x5", "bn-cnn4", "sigmoid-cnn")
COLOUR_TOO = ("vgg-bn", "resnet20", "resnet18")


def timed(fn, runs: int, warmup: int = 3) -> tuple[float, float]:
    """(median, p90) in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times)), float(np.percentile(times, 90))


def display(model, ins) -> None:
    for fm in ins.feature_maps:
        if fm.is_spatial:
            fm.mosaic("map")
    for grid in I.all_filters(model):
        grid.mosaic(max_inputs=64)
    I.overlay(np.zeros(ins.cam.cam.shape, np.uint8), ins.cam.cam, 0.5)


def bench(name: str, shape: tuple[int, int, int], runs: int) -> dict:
    torch.manual_seed(0)
    model = build_model(get_preset(name), shape, 10).eval()
    x = torch.randn(1, *shape)

    def cold_filters():
        I.clear_filter_cache()
        I.all_filters(model)

    row = {"preset": name, "tutorial": name in TUTORIAL, "input": "x".join(map(str, shape)),
           "convs": len(I.conv_layers(model)), "cam_layer": I.grad_cam(model, x).key}
    row["filters"] = timed(cold_filters, runs)
    row["filt-hit"] = timed(lambda: I.all_filters(model), runs)
    row["fmaps"] = timed(lambda: I.feature_maps(model, x), runs)
    row["cam"] = timed(lambda: I.grad_cam(model, x), runs)
    row["inspect"] = timed(lambda: I.inspect_image(model, x), runs)
    ins = I.inspect_image(model, x)
    row["display"] = timed(lambda: display(model, ins), runs)
    row["total"] = row["filters"][0] + row["fmaps"][0] + row["cam"][0]
    return row


COLUMNS = ("filters", "filt-hit", "fmaps", "cam", "inspect", "display")


def table(rows: list[dict], markdown: bool) -> str:
    head = ["preset", "input", "convs", "CAM layer", *(f"{c} med/p90" for c in COLUMNS), "total"]
    body = []
    for r in rows:
        body.append([r["preset"] + ("*" if r["tutorial"] else ""), r["input"], str(r["convs"]), r["cam_layer"],
                     *(f"{r[c][0]:.2f}/{r[c][1]:.2f}" for c in COLUMNS), f"{r['total']:.2f}"])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(lines)
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    fmt = "  ".join(f"{{:<{w}}}" if i < 4 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*line) for line in [head, *body])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--presets", default=",".join(preset_names()))
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch.set_num_threads before timing (default 0: leave torch's choice)")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    rows = []
    for name in args.presets.split(","):
        for shape in [(1, 28, 28)] + ([(3, 32, 32)] if name in COLOUR_TOO else []):
            rows.append(bench(name, shape, args.runs))
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None

    print(f"CPU: {cpu_name()} ({os.cpu_count()} logical CPUs), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, python {platform.python_version()}; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after" if load_before else "")
    print(f"milliseconds, median/p90 over {args.runs} runs; * = tutorial preset; "
          f"total = filters (cold) + fmaps + cam medians")
    print(table(rows, args.markdown))
    tutorial_28 = [r for r in rows if r["tutorial"] and r["input"] == "1x28x28"]
    worst = max(r["total"] for r in tutorial_28) if tutorial_28 else None
    if worst is not None:
        print(f"worst tutorial-preset total on 1x28x28: {worst:.2f} ms (target < 50 ms)")
    print(json.dumps({"benchmark": "inspection_speed", "runs": args.runs, "threads": torch.get_num_threads(),
                      "cpu": cpu_name(), "torch": torch.__version__,
                      "load_average": [load_before[0], load_after[0]] if load_before else None,
                      "worst_tutorial_total_ms": worst,
                      "results": [{k: (list(v) if isinstance(v, tuple) else v) for k, v in r.items()}
                                  for r in rows]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
