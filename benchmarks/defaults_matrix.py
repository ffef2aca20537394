"""Issue 29: does every model train with its defaults? The matrix of presets x data x epochs.

Each cell is one `cnnstudio train --dataset D --model M --epochs E` with every other setting left to
the recommendation (the data's recipe adapted to the model, cnnstudio.core.training.recipes), run as
its own process; the table gives the test accuracy, whether the run recovered from a divergence (when
result.json has a `recoveries` field), whether it failed, and the time. The data: Fashion-MNIST (found
offline, e.g. Debian's dataset-fashion-mnist), the built-in shapes set, and a colour photo folder
generated here (benchmarks/own_data_defaults.py's coloured shapes over gradients). Two custom specs
join the presets: one without normalisation, one with BatchNorm.

`--baseline` trains the tutorial's recipe instead (Adam at 1e-3, batches of 100, constant rate, no
label smoothing or weight decay), the issue's yardstick.

    python benchmarks/defaults_matrix.py [--models convnet-5x5,sigmoid-cnn,...|small|all]
        [--data fashion-mnist,shapes,photos] [--epochs 1,2,5] [--limit-train N] [--baseline]
        [--threads N] [--out DIR] [--json FILE] [--extra "--batch-size 100 --seed 1"]

A cell whose run folder under --out already holds a result is read back, not trained again: an
interrupted matrix continues where it stopped.

The figures go to docs/benchmarks.md by hand. A full epoch of Fashion-MNIST takes from seconds
(tiny-bn-cnn) to minutes (convnet-5x5) per cell on a CPU; the large networks and the pretrained
backbones want --limit-train (the backbones also need their ImageNet weights).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SMALL = ("convnet-5x5", "sigmoid-cnn", "lenet5", "cnn3-dropout", "tiny-bn-cnn", "bn-cnn4", "gap-cnn", "fast-cnn")
CUSTOM = {
    # A network a user might build in the layer editor, without normalisation ...
    "custom-plain": [{"type": "conv", "out": 16, "kernel": 3, "padding": 1}, {"type": "relu"},
                     {"type": "maxpool", "kernel": 2}, {"type": "conv", "out": 32, "kernel": 3, "padding": 1},
                     {"type": "relu"}, {"type": "maxpool", "kernel": 2}, {"type": "flatten"},
                     {"type": "linear", "out": 128}, {"type": "relu"}, {"type": "linear", "out": "classes"}],
    # ... and the same with BatchNorm after each convolution.
    "custom-bn": [{"type": "conv", "out": 16, "kernel": 3, "padding": 1}, {"type": "batchnorm"}, {"type": "relu"},
                  {"type": "maxpool", "kernel": 2}, {"type": "conv", "out": 32, "kernel": 3, "padding": 1},
                  {"type": "batchnorm"}, {"type": "relu"}, {"type": "maxpool", "kernel": 2}, {"type": "flatten"},
                  {"type": "linear", "out": 128}, {"type": "relu"}, {"type": "linear", "out": "classes"}],
}
TUTORIAL = ["--optimizer", "adam", "--lr", "1e-3", "--batch-size", "100", "--schedule", "constant",
            "--label-smoothing", "0", "--weight-decay", "0", "--warmup", "0"]
CHANCE_MARGIN = 0.05  # within 5 points of 1/classes counts as "at chance"


@dataclass
class Cell:
    model: str
    data: str
    epochs: int
    status: str  # "ok", "failed", "chance"
    test_accuracy: float | None
    recovered: str  # "yes (N)", "no", or "-" when result.json has no such field
    seconds: float
    message: str = ""


def write_specs(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, layers in CUSTOM.items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps({"name": name, "layers": layers}, indent=1))
    return paths


def photo_folder(work: Path, n: int) -> Path:
    folder = work / "photos"
    if not folder.exists():
        from own_data_defaults import write_photo_folder

        write_photo_folder(folder, n)
    return folder


def run_cell(model: str, model_arg: str, data: str, data_arg: str, epochs: int, args, work: Path) -> Cell:
    tag = "-baseline" if args.baseline else ""
    if args.extra:
        tag += "-" + "".join(c if c.isalnum() or c in ".-" else "_" for c in args.extra.replace(" ", ""))
    out = work / "runs" / f"{data}-{model}-{epochs}{tag}"
    saved = out / "cell.json"
    if saved.exists():
        return Cell(**json.loads(saved.read_text()))
    cmd = [sys.executable, "-m", "cnnstudio", "train", "--dataset", data_arg, "--model", model_arg,
           "--epochs", str(epochs), "--out", str(out), "--json", *args.extra.split()]
    if args.limit_train:
        cmd += ["--limit-train", str(args.limit_train)]
    if args.baseline:
        cmd += TUTORIAL
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads)) if args.threads else None
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    try:
        result = json.loads((out / "result.json").read_text())
    except (OSError, ValueError):
        result = {}
    acc = result.get("test_accuracy")
    recoveries = result.get("recoveries")
    recovered = "-" if recoveries is None else (
        f"yes ({len(recoveries) if isinstance(recoveries, list) else recoveries})" if recoveries else "no")
    from cnnstudio.core.datasets.shapes import CLASSES

    classes = len(CLASSES) if data in ("shapes", "photos") else 10  # the photo folder holds the shapes' classes
    if proc.returncode != 0 or result.get("status") not in ("finished", "early-stopped"):
        lines = (proc.stderr or "").strip().splitlines()
        status, message = "failed", result.get("message") or (lines[-1] if lines else f"exit {proc.returncode}")
    elif acc is not None and acc < 1 / classes + CHANCE_MARGIN:
        status, message = "chance", ""
    else:
        status, message = "ok", ""
    cell = Cell(model, data, epochs, status, acc, recovered, seconds, str(message)[:120])
    if out.is_dir():
        saved.write_text(json.dumps(vars(cell)))
    return cell


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="small", help="comma-separated presets or custom-plain/custom-bn; "
                        "'small' (the small presets and both custom specs) or 'all'")
    parser.add_argument("--data", default="fashion-mnist,shapes,photos")
    parser.add_argument("--epochs", default="1,2,5")
    parser.add_argument("--limit-train", type=int, default=0, help="train on the first N images only")
    parser.add_argument("--photos", type=int, default=2000, help="pictures in the generated colour folder")
    parser.add_argument("--baseline", action="store_true", help="the tutorial's recipe instead of the defaults")
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for each run (0: as is)")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the cells as JSON here")
    parser.add_argument("--extra", default="", help="more `cnnstudio train` options for every cell, e.g. a seed")
    args = parser.parse_args()

    from cnnstudio.core.models.presets import PRESETS

    if args.models == "small":
        models = [*SMALL, *CUSTOM]
    elif args.models == "all":
        models = [*PRESETS, *CUSTOM]
    else:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in PRESETS and m not in CUSTOM]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}")
    work = args.out or Path(tempfile.mkdtemp(prefix="defaults-matrix-"))
    specs = write_specs(work / "specs")
    cells: list[Cell] = []
    print(f"{'data':<14} {'model':<28} {'epochs':>6} {'test acc':>8} {'status':<7} {'recovered':<9} {'time':>7}")
    for data in [d.strip() for d in args.data.split(",") if d.strip()]:
        data_arg = str(photo_folder(work, args.photos)) if data == "photos" else data
        for epochs in [int(e) for e in args.epochs.split(",")]:
            for model in models:
                cell = run_cell(model, str(specs.get(model, model)), data, data_arg, epochs, args, work)
                cells.append(cell)
                acc = f"{100 * cell.test_accuracy:.1f} %" if cell.test_accuracy is not None else "-"
                print(f"{data:<14} {model:<28} {epochs:>6} {acc:>8} {cell.status:<7} {cell.recovered:<9} "
                      f"{cell.seconds:>6.0f}s {cell.message}", flush=True)
    if args.json:
        args.json.write_text(json.dumps([vars(c) for c in cells], indent=1))
    return 0 if all(c.status == "ok" for c in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
